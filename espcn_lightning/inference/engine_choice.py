"""``auto``: the fastest exact engine for this machine, scale and input size, by measurement.

Which engine is fastest depends on the CPU (native bf16 or not), the thread count, the scale (x4's
last layer has 16 channels, x2's 4) and the frame size, so no fixed rule holds everywhere. On the
first input of a size, ``AutoUpscaler`` times each exact engine on an input of that size and keeps
the fastest; the choice is stored per machine (``cache_path``) so that later runs only read it.
Exact engines are those kept within 0.05 dB of fp32 on held-out images (tests/test_engines.py):
the fp32 ones, bf16 on the CPU and fp16 on CUDA; int8 is never chosen.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pooch
import torch

from espcn_lightning.core.degradations import Upscaler
from espcn_lightning.core.errors import EngineError
from espcn_lightning.core.files import atomic_output
from espcn_lightning.core.network import ESPCN

log = logging.getLogger(__name__)

#: The engines ``auto`` chooses from, per device type.
EXACT = {"cpu": ("eager", "channels_last", "bf16", "onnxruntime"), "cuda": ("eager", "half")}
CACHE_VAR = "ESPCN_ENGINE_CACHE"

#: Builds an engine's upscaler for a network (``engines.build`` with a concrete name).
Builder = Callable[[str, ESPCN], Upscaler]


def cache_path() -> Path:
    """Where the choices are kept: $ESPCN_ENGINE_CACHE, else the user's cache folder."""
    return Path(os.environ.get(CACHE_VAR) or pooch.os_cache("espcn-lightning") / "engines.json")


def machine(device: torch.device) -> str:
    """What the timing depends on besides the model and input: the processor, threads, torch."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return f"{name} | {torch.get_num_threads()} threads | torch {torch.__version__}"


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def size_class(height: int, width: int) -> int:
    """Inputs within a factor of sqrt(2) in pixels share a choice: the power of two nearest."""
    return 2 ** round(math.log2(max(1, height * width)))


def choice_key(net: ESPCN, device: torch.device, height: int, width: int) -> str:
    """The cache key of one choice: machine, network shape and scale, input size class."""
    config = net.config()
    shape = f"x{config['scale']} {config['widths']} {config['kernels']}"
    return f"{machine(device)} | {shape} | {size_class(height, width)} px"


def read_choices(path: Path) -> dict[str, dict]:
    """The stored choices; an unreadable file is ignored (and rewritten by the next choice)."""
    try:
        choices = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return choices if isinstance(choices, dict) else {}


def store_choice(path: Path, key: str, record: dict) -> None:
    """Add one choice to the file (whole or not at all); a cache that cannot be written only
    means measuring again next time."""
    choices = read_choices(path) | {key: record}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as scratch:
            scratch.write_text(json.dumps(choices, indent=1, sort_keys=True) + "\n")
    except OSError as error:
        log.warning("engine choice not cached (%s): %s", path, error)


def time_engine(upscale: Upscaler, lr: torch.Tensor, repeats: int = 3) -> float:
    """The best of ``repeats`` timed runs after one warm-up, in seconds."""
    upscale(lr)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        upscale(lr)
        best = min(best, time.perf_counter() - start)
    return best


def measure(build: Builder, net: ESPCN, device: torch.device, lr: torch.Tensor) -> dict:
    """Seconds for each exact engine on ``lr`` (engines that cannot run here are left out)."""
    seconds = {}
    for name in EXACT[device.type]:
        try:
            upscale = build(name, net)
        except EngineError:  # onnxruntime not installed, say
            continue
        seconds[name] = time_engine(upscale, lr)
    return seconds


def choose(build: Builder, net: ESPCN, lr: torch.Tensor) -> str:
    """The fastest exact engine for ``lr``'s size, from the cache or measured now and stored."""
    device = next(net.parameters()).device
    key = choice_key(net, device, *lr.shape[-2:])
    path = cache_path()
    record = read_choices(path).get(key)
    if isinstance(record, dict) and record.get("engine") in EXACT[device.type]:
        return str(record["engine"])
    probe = torch.rand(1, 1, *lr.shape[-2:], device=device)
    seconds = measure(build, net, device, probe)
    engine = min(seconds, key=seconds.__getitem__)
    log.info("auto engine for %s: %s (%s)", key, engine, seconds)
    store_choice(path, key, {"engine": engine, "seconds": seconds})
    return engine


class AutoUpscaler:
    """The ``auto`` engine: for each input size class, the engine ``choose`` picks, built once
    (under a lock: video frames arrive from several threads, and one measurement is enough)."""

    def __init__(self, build: Builder, net: ESPCN) -> None:
        self.build, self.net = build, net
        self.chosen: dict[int, tuple[str, Upscaler]] = {}
        self.lock = threading.Lock()

    def engine_for(self, lr: torch.Tensor) -> str:
        """The engine used for inputs of ``lr``'s size (choosing it if not done yet)."""
        size = size_class(*lr.shape[-2:])
        with self.lock:
            if size not in self.chosen:
                name = choose(self.build, self.net, lr)
                self.chosen[size] = (name, self.build(name, self.net))
        return self.chosen[size][0]

    def __call__(self, lr: torch.Tensor) -> torch.Tensor:
        self.engine_for(lr)
        return self.chosen[size_class(*lr.shape[-2:])][1](lr)
