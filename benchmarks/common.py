"""What every benchmark shares: the machine's name, a timer, the 1080p frame, the model's FLOPs."""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from espcn_lightning.core.network import ESPCN


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo where there is one, else the platform's word for it."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def timed(run: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median seconds of ``run`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lr_frame(scale: int) -> tuple[int, int]:
    """(height, width) of the LR frame that a model of ``scale`` enlarges to 1920x1080: 360x640
    at x3, 540x960 at x2, 270x480 at x4 (each divides 1080 and 1920 exactly)."""
    return 1080 // scale, 1920 // scale


def model_gflop(net: ESPCN, height: int, width: int) -> float:
    """Multiply-adds x 2 of one forward pass on an (height, width) LR frame, in GFLOP."""
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    macs = sum(c.in_channels * c.out_channels * c.kernel_size[0] * c.kernel_size[1] for c in convs)
    return 2 * macs * height * width / 1e9
