"""Speed figures, side by side in one run: ``python -m espcn_lightning.bench [--only ...]``.

Inference engines on one 1080p output frame (640x360 in at x3, 960x540 at x2, 480x270 at x4),
the machine's FLOP limit for the model,
end-to-end video fps, peak memory against image size (tiled and whole); the training options'
samples/s and validation PSNR at equal epochs, and the Lightning loop against a plain PyTorch loop
(``training``); n jobs x 1 thread against 1 job x n threads (``parallel``); in-memory patches
against reading image files each step. Prints tables and writes bench.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import cv2
import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict
from torch.utils.data import DataLoader

from espcn_lightning import CONFIG_DIR
from espcn_lightning.core.colour import (
    enlarge_bicubic,
    luma,
    restore_colour,
    rgb8_to_ycbcr,
    ycbcr_to_rgb8,
)
from espcn_lightning.core.degradations import Bicubic, Upscaler
from espcn_lightning.core.errors import DataError
from espcn_lightning.core.hardware import cpu_cores, limit_threads
from espcn_lightning.core.images import read_image
from espcn_lightning.core.network import ESPCN
from espcn_lightning.core.tiling import DEFAULT_TILE, tile_margin, tiled_upscaler
from espcn_lightning.datasets.catalogue import calibration_images, dataset_files, default_data_dir
from espcn_lightning.datasets.datamodule import (
    EpochBatchSampler,
    PatchBatches,
    PatchDataset,
    build_patches,
    extract_patches,
)
from espcn_lightning.evaluation.protocol import evaluate
from espcn_lightning.inference.engines import (
    build,
    cpu_copy,
    keep_freed_memory,
    network_upscaler,
    resolve,
)
from espcn_lightning.inference.pretrained import DEFAULT_MODELS, load_model
from espcn_lightning.train import build as build_training
from espcn_lightning.training.callbacks import ChannelsLast
from espcn_lightning.training.module import ESPCNModule, training_loss
from espcn_lightning.upscale import upscale_video

CONF = CONFIG_DIR


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


#: (M, K, N) matmul shapes tried for the GEMM ceiling: square ones, and the model's convolutions
#: as oneDNN's im2col would see them (a slice of a 640x360 frame's pixels, K = in x 3 x 3 or 5 x 5).
GEMM_SHAPES = ((2048, 2048, 2048), (1024, 1024, 1024), (16384, 576, 64), (16384, 576, 32))


def matmul_gflops(dtype: torch.dtype, shape: tuple[int, int, int]) -> float:
    """Sustained matmul GFLOP/s in ``dtype`` for an (M, K) x (K, N) product."""
    m, k, n = shape
    a, b = torch.rand(m, k).to(dtype), torch.rand(k, n).to(dtype)
    return 2 * m * k * n / timed(lambda: a @ b, repeats=5) / 1e9


def conv_gflops(net: ESPCN, dtype: torch.dtype, channels_last: bool) -> list[float]:
    """GFLOP/s of ``F.conv2d`` (oneDNN) at each of the model's convolutions on its 1080p-output
    LR frame, in ``dtype`` and memory layout: the very kernels the engines run, layer by layer."""
    memory = torch.channels_last if channels_last else torch.contiguous_format
    height, width = lr_frame(net.scale)
    rates = []
    with torch.inference_mode():
        for conv in (m for m in net.modules() if isinstance(m, torch.nn.Conv2d)):
            weight = conv.weight.detach().to(dtype).contiguous(memory_format=memory)
            bias = None if conv.bias is None else conv.bias.detach().to(dtype)
            x = torch.rand(1, conv.in_channels, height, width).to(dtype)
            x = x.contiguous(memory_format=memory)
            pad = conv.padding

            def run(x: torch.Tensor = x, w: torch.Tensor = weight, b=bias, pad=pad) -> None:
                F.conv2d(x, w, b, padding=pad)

            rates.append(2 * weight.numel() * height * width / timed(run, repeats=5) / 1e9)
    return rates


def theoretical_gflops() -> dict[str, float] | None:
    """cores x GHz x 2 (multiply-add) x vector lanes x 2 FMA units, fp32 and bf16 (AVX-512 BF16's
    dot product does two bf16 pairs a lane), from /proc/cpuinfo; None where it does not say.
    The FMA unit count is not readable: two a core is assumed (Intel AVX-512 servers, Zen 5)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return None
    text = cpuinfo.read_text()
    mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    flags = next(
        (line.split(":")[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    if not mhz or "fma" not in flags:
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else len(mhz)
    fp32 = cores * max(mhz) / 1000 * 2 * lanes * 2
    return {
        "fp32": fp32,
        "bf16": 2 * fp32 if "avx512_bf16" in flags else fp32,
        "ghz": max(mhz) / 1000,
    }


def measured_ceiling(net: ESPCN) -> dict[str, dict[str, float]]:
    """Per dtype, the best GFLOP/s of each kind of kernel: the GEMM shapes, and the model's own
    convolutions contiguous and channels_last (their best layer)."""
    ceiling = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        ceiling[name] = {
            "gemm": max(matmul_gflops(dtype, shape) for shape in GEMM_SHAPES),
            "conv2d": max(conv_gflops(net, dtype, channels_last=False)),
            "conv2d channels_last": max(conv_gflops(net, dtype, channels_last=True)),
        }
    return ceiling


def engine_dtype(engine: str) -> str | None:
    """The ceiling an engine can reach: bf16 for bf16, none for int8, fp32 for the rest."""
    return "bf16" if engine.startswith("bf16") else None if engine.startswith("int8") else "fp32"


def with_ceilings(kernels: dict[str, dict[str, float]], rows: list[dict], gflop: float) -> dict:
    """Each dtype's ceiling, the max over its measured kernels and the engines of that dtype
    themselves (so no engine is above 100% by construction), and each engine's share of it."""
    ceilings = {}
    for dtype, rates in kernels.items():
        engines = {
            r["engine"]: gflop * r["fps"] for r in rows if engine_dtype(r["engine"]) == dtype
        }
        best = max({**rates, **engines}.items(), key=lambda item: item[1])
        ceilings[dtype] = {"gflops": best[1], "reached_by": best[0], "fps": best[1] / gflop}
    for r in rows:
        reach = engine_dtype(r["engine"])
        r["ceiling"] = reach
        r["of_ceiling"] = None if reach is None else gflop * r["fps"] / ceilings[reach]["gflops"]
    return ceilings


def bench_upscalers(net: ESPCN, data_dir: Path) -> dict[str, Upscaler]:
    """Every CPU engine the CLI offers, plus TorchScript and torch.compile (measured only)."""
    runs = {
        name: build(name, net, calibration_images(data_dir, net.scale) if name == "int8" else None)
        for name in ("eager", "channels_last", "onnxruntime", "bf16", "int8")
    }
    frozen = torch.jit.freeze(torch.jit.trace(cpu_copy(net), torch.rand(1, 1, 36, 64)))
    compiled = torch.compile(cpu_copy(net))
    cpu = torch.device("cpu")
    runs["torchscript (measured only)"] = network_upscaler(frozen, cpu)
    runs["torch.compile (measured only)"] = network_upscaler(compiled, cpu)
    return runs


def bench_engines(net: ESPCN, data_dir: Path, repeats: int) -> list[dict]:
    """ms and fps per engine on one frame enlarged to 1920x1080, and its Set5 PSNR change."""
    frame = torch.rand(1, 1, *lr_frame(net.scale))
    rows = []
    default_allocator = timed(lambda: network_upscaler(net)(frame), repeats)
    keep_freed_memory()
    rows.append(
        {
            "engine": "eager, glibc default allocator",
            "ms": 1000 * default_allocator,
            "fps": 1 / default_allocator,
            "set5_psnr": None,
            "set5_delta_db": None,
        }
    )
    reference = None
    for name, run in bench_upscalers(net, data_dir).items():
        seconds = timed(partial(run, frame), repeats)
        set5 = evaluate(run, Bicubic(net.scale), net.scale, data_dir, ["Set5"])
        psnr = set5["datasets"]["Set5"]["psnr"]
        reference = psnr if reference is None else reference
        rows.append(
            {
                "engine": name,
                "ms": 1000 * seconds,
                "fps": 1 / seconds,
                "set5_psnr": psnr,
                "set5_delta_db": psnr - reference,
            }
        )
    return rows


def bench_layers(net: ESPCN, repeats: int) -> list[dict]:
    """Eager fp32 time, GFLOP and achieved GFLOP/s of each stage on one 1080p-output frame."""
    x = torch.rand(1, 1, *lr_frame(net.scale)) - 0.5
    rows = []
    with torch.inference_mode():
        for stage in [*net.body, net.tail, net.shuffle]:
            seconds = timed(partial(stage, x), repeats)
            name, gflop = type(stage).__name__, 0.0
            if isinstance(stage, torch.nn.Conv2d):
                name = f"Conv2d {tuple(stage.weight.shape)}"
                gflop = 2 * stage.weight.numel() * x.shape[2] * x.shape[3] / 1e9
            rows.append(
                {"stage": name, "ms": 1000 * seconds, "gflop": gflop, "gflops": gflop / seconds}
            )
            x = stage(x)
    return rows


def panning_frames(data_dir: Path, scale: int, count: int) -> list[np.ndarray]:
    """BGR LR frames (1080p once enlarged) panning across a real photograph, BSD200's first image,
    so that the codecs see natural content rather than noise."""
    height, width = lr_frame(scale)
    photo = read_image(dataset_files(data_dir, "BSD200")[0])
    if photo.ndim == 2:
        photo = np.stack([photo] * 3, axis=-1)
    base = cv2.resize(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), (width, height))
    return [np.roll(base, 4 * i, axis=1) for i in range(count)]


def write_clip(path: Path, codec: str, frames: list[np.ndarray]) -> None:
    """Write BGR frames as a 30 fps video with the given fourcc: the benchmarks' input clips."""
    fourcc = cv2.VideoWriter_fourcc(*codec)  # type: ignore[attr-defined]
    writer = cv2.VideoWriter(str(path), fourcc, 30, (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(frame)
    writer.release()


def bench_video(net: ESPCN, data_dir: Path, frames: int, engine: str, suffix: str) -> dict:
    """End-to-end fps of the upscale command's video path (decode, colour, ESPCN, encode into a
    ``suffix`` file: .mp4 is mp4v, .avi MJPG), against the same engine's model-only fps on the
    same LR frame (1080p out) measured just before it, on ``panning_frames``."""
    keep_freed_memory()
    upscale = build(engine, net)
    model = timed(partial(upscale, torch.rand(1, 1, *lr_frame(net.scale))), repeats=10)
    with tempfile.TemporaryDirectory() as scratch:
        source, target = Path(scratch) / "in.avi", Path(scratch) / f"out{suffix}"
        write_clip(source, "MJPG", panning_frames(data_dir, net.scale, frames))
        start = time.perf_counter()
        enlarge = tiled_upscaler(upscale, net.scale, tile_margin(net))
        done = upscale_video(source, target, enlarge, net.scale, False, progress=False)
        seconds = time.perf_counter() - start
    return {
        "engine": engine,
        "output": suffix,
        "frames": done,
        "seconds": seconds,
        "fps": done / seconds,
        "model_fps": 1 / model,
        "of_model": model * done / seconds,
    }


def video_stages(net: ESPCN, data_dir: Path, engine: str, frames: int = 20) -> dict[str, float]:
    """CPU milliseconds a frame of each stage of the video path, each on one thread (as the video
    path runs them: torch and OpenCV on one thread a frame, ``time.thread_time``), the colour back
    end in one whole-frame pass beside the band-by-band one it uses: where a frame's time goes
    when decode, network, colour and encode share the cores."""
    bgr = panning_frames(data_dir, net.scale, frames + 1)
    upscale = build(engine, net)
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    cost: dict[str, float] = {}

    def stage(name: str, run: Callable[[int], Any]) -> list[Any]:
        run(0)
        start = time.thread_time()
        outputs = [run(i) for i in range(frames)]
        cost[name] = (time.thread_time() - start) / frames * 1000
        return outputs

    try:
        with tempfile.TemporaryDirectory() as scratch:
            source = Path(scratch) / "in.avi"
            write_clip(source, "MJPG", bgr)
            reader = cv2.VideoCapture(str(source))
            stage("decode (MJPG, LR)", lambda i: reader.read())
            reader.release()
            ycbcr = stage(
                "to YCbCr", lambda i: rgb8_to_ycbcr(cv2.cvtColor(bgr[i], cv2.COLOR_BGR2RGB))
            )
            y = stage(
                f"network ({engine})",
                lambda i: upscale(torch.from_numpy(ycbcr[i][..., 0] / 255.0)[None, None])[0, 0],
            )
            stage(
                "colour back end, whole frame",
                lambda i: ycbcr_to_rgb8(
                    y[i].numpy(), *enlarge_bicubic(ycbcr[i][..., 1:], net.scale)
                ),
            )
            rgb = stage(
                "colour back end, band by band",
                lambda i: restore_colour(y[i].numpy(), ycbcr[i][..., 1:], net.scale),
            )
            for codec in ("mp4v", "MJPG"):
                suffix = ".mp4" if codec == "mp4v" else ".avi"
                fourcc = cv2.VideoWriter_fourcc(*codec)  # type: ignore[attr-defined]
                size = (rgb[0].shape[1], rgb[0].shape[0])
                writer = cv2.VideoWriter(str(Path(scratch) / f"out{suffix}"), fourcc, 30, size)

                def encode(i: int, writer: cv2.VideoWriter = writer) -> None:
                    writer.write(cv2.cvtColor(rgb[i], cv2.COLOR_RGB2BGR))

                stage(f"encode ({codec}, 1080p)", encode)
                writer.release()
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv2_threads)
    return cost


#: Upscales one side x side colour image in a fresh interpreter, as the upscale command does
#: (freed memory kept), and prints its peak resident bytes before and after, so one size's peak
#: cannot hide the next's. The peak is /proc's VmHWM where there is one: ru_maxrss carries the
#: parent's resident size over fork and exec, which inside a large process (pytest) hides the
#: child's own.
PEAK_SCRIPT = """
import resource, sys
import numpy as np
from espcn_lightning import load_model
from espcn_lightning.inference.engines import build, keep_freed_memory
from espcn_lightning.core.tiling import tile_margin, tiled_upscaler

def peak_bytes():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return maxrss if sys.platform == "darwin" else maxrss * 1024

model, side, tile, engine = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
keep_freed_memory()
net = load_model(model)
enlarge = tiled_upscaler(build(engine, net), net.scale, tile_margin(net), tile)
image = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
enlarge(image[:64, :64])
before = peak_bytes()
enlarge(image)
print(before, peak_bytes())
"""


def peak_memory(model: str, side: int, tile: int, engine: str) -> dict:
    """Peak resident MB of upscaling a side x side colour image (``tile`` 0: whole) in a fresh
    process, what the upscale added to it, and the size of the output itself."""
    package_root = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, model, str(side), str(tile), engine],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    before, after = (int(v) / 1e6 for v in result.stdout.split()[-2:])
    scale = load_model(model).scale
    return {
        "side": side,
        "tile": tile,
        "engine": engine,
        "output_mb": (side * scale) ** 2 * 3 / 1e6,
        "peak_mb": after,
        "added_mb": after - before,
    }


def bench_memory(
    model: str, engine: str, sides=(500, 1000, 2000, 4000), whole_up_to: int = 2000
) -> list[dict]:
    """Peak memory against image size, tiled (the default tile) and, up to ``whole_up_to``
    pixels a side, as one whole image."""
    rows = [peak_memory(model, side, DEFAULT_TILE, engine) for side in sides]
    return rows + [peak_memory(model, side, 0, engine) for side in sides if side <= whole_up_to]


class StepClock(L.Callback):
    """Wall time of a fit's steps after the first ``warmup`` (steady state, no set-up)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.steps = warmup, 0.0, 0.0, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps = trainer.global_step

    def on_train_end(self, trainer, pl_module) -> None:
        self.end = time.perf_counter()


@dataclass(frozen=True)
class TrainingOption:
    """One way of running the training recipe, as the train config's switches name it."""

    name: str
    whole_batches: bool
    unshuffled_targets: bool
    channels_last: bool
    precision: Literal["32-true", "bf16-mixed"]

    def overrides(self) -> list[str]:
        """The train command's overrides that select this option."""
        return [
            f"data.whole_batches={str(self.whole_batches).lower()}",
            f"data.unshuffled_targets={str(self.unshuffled_targets).lower()}",
            f"trainer.precision={self.precision}",
            *([] if self.channels_last else ["~callbacks.channels_last"]),
        ]


TRAINING_OPTIONS = (
    TrainingOption("per-patch loader, fp32 (before)", False, False, False, "32-true"),
    TrainingOption("+ whole batches", True, False, False, "32-true"),
    TrainingOption("+ pre-shuffled loss", True, True, False, "32-true"),
    TrainingOption("+ channels_last", True, True, True, "32-true"),
    TrainingOption("+ bf16-mixed", True, True, True, "bf16-mixed"),
)


def option_loader(lr: torch.Tensor, hr: torch.Tensor, option: TrainingOption) -> DataLoader:
    """The training DataLoader the datamodule builds for ``option`` (batch 16, augmented)."""
    if not option.whole_batches:
        dataset = PatchDataset(lr, hr, augment=True)
        return DataLoader(dataset, batch_size=16, shuffle=True, drop_last=True)
    batches = PatchBatches(lr, hr, 3, option.unshuffled_targets)
    return DataLoader(batches, sampler=EpochBatchSampler(batches, 16, seed=0), batch_size=None)


def recipe_module() -> ESPCNModule:
    """The recipe's LightningModule (ReLU ESPCN, Adam 1e-3) with a fixed initialisation."""
    torch.manual_seed(0)
    return ESPCNModule(
        net=ESPCN(activation="relu").config() | {"_target_": "espcn_lightning.core.network.ESPCN"},
        optimizer={"_target_": "torch.optim.Adam", "lr": 1e-3},
        image_every_n_epochs=0,
    )


def plain_samples_per_s(loader: DataLoader, option: TrainingOption, steps: int, warmup: int):
    """A hand-written loop doing what the module does under ``option`` (same loss, Adam,
    autocast and memory format), without Lightning: samples/s after ``warmup`` steps."""
    net = recipe_module().net
    if option.channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    bf16 = option.precision == "bf16-mixed"
    done, start = 0, 0.0
    while done < steps:
        for x, y in loader:
            if done == warmup:
                start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = training_loss(net, x, y)
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
    return (steps - warmup) * 16 / (time.perf_counter() - start)


def lightning_samples_per_s(
    loader: DataLoader, option: TrainingOption, steps: int, warmup: int
) -> float:
    """The project's ESPCNModule under a Lightning Trainer: samples/s after ``warmup`` steps."""
    clock = StepClock(warmup)
    trainer = L.Trainer(
        max_steps=steps,
        precision=option.precision,
        logger=False,
        callbacks=[clock, *([ChannelsLast()] if option.channels_last else [])],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        accelerator="cpu",
    )
    trainer.fit(recipe_module(), train_dataloaders=loader)
    return (steps - warmup) * 16 / (clock.end - clock.start)


def recipe_val_psnr(data_dir: Path, option: TrainingOption, seed: int, epochs: int) -> float:
    """Best validation PSNR of the train command's recipe under ``option`` after ``epochs``
    epochs (cosine over them), composed from conf/ as ``python -m espcn_lightning.train`` would."""
    overrides = [
        f"paths.data_dir={data_dir}",
        f"trainer.max_epochs={epochs}",
        f"seed={seed}",
        "trainer.enable_progress_bar=false",
        "~callbacks.model_checkpoint",
        "~callbacks.last_checkpoint",
        "~callbacks.lr_monitor",
        "image_every_n_epochs=0",
        *option.overrides(),
    ]
    GlobalHydra.instance().clear()
    with tempfile.TemporaryDirectory() as scratch:
        with initialize_config_dir(str(CONF), version_base="1.3"):
            cfg = compose("train", overrides=overrides)
        with open_dict(cfg):
            cfg.paths.output_dir, cfg.logger = scratch, None
        L.seed_everything(seed, workers=True, verbose=False)
        datamodule, module, trainer = build_training(cfg)
        trainer.fit(module, datamodule=datamodule)
    GlobalHydra.instance().clear()
    return module.best_val_psnr


def bench_training(data_dir: Path, steps: int, epochs: int, seeds: list[int], rounds: int = 2):
    """The training table: samples/s of each option at batch 16 (the options alternated
    ``rounds`` times, each keeping its best, since the machine is shared) and its validation
    PSNR after ``epochs`` epochs per seed; then Lightning against a plain loop at the last
    option's settings."""
    images = [(p.stem, read_image(p)) for p in dataset_files(data_dir, "T91")]
    lr, hr = build_patches(images, Bicubic(3), 3, 17, 7)
    warmup = steps // 5
    speed = {o.name: 0.0 for o in TRAINING_OPTIONS}
    recipe = TRAINING_OPTIONS[-1]
    plain, lightning = 0.0, 0.0
    for _ in range(rounds):
        for option in TRAINING_OPTIONS:
            measured = lightning_samples_per_s(option_loader(lr, hr, option), option, steps, warmup)
            speed[option.name] = max(speed[option.name], measured)
        loader = option_loader(lr, hr, recipe)
        plain = max(plain, plain_samples_per_s(loader, recipe, steps, warmup))
        lightning = max(lightning, lightning_samples_per_s(loader, recipe, steps, warmup))
    rows: list[dict[str, Any]] = []
    for option in TRAINING_OPTIONS:
        psnr = [recipe_val_psnr(data_dir, option, seed, epochs) for seed in seeds]
        rows.append(
            {
                "option": option.name,
                "overrides": " ".join(option.overrides()),
                "samples_per_s": speed[option.name],
                "speedup": speed[option.name] / speed[TRAINING_OPTIONS[0].name],
                "val_psnr": psnr,
                "val_psnr_mean": statistics.mean(psnr),
            }
        )
    base = rows[0]["val_psnr"]
    for row in rows:
        row["val_delta_db"] = [a - b for a, b in zip(row["val_psnr"], base, strict=True)]
    return {
        "batch_size": 16,
        "epochs": epochs,
        "seeds": seeds,
        "options": rows,
        "loop": {
            "settings": recipe.name,
            "plain_samples_per_s": plain,
            "lightning_samples_per_s": lightning,
            "ratio": lightning / plain,
        },
    }


def parallel_worker(threads: int, steps: int, warmup: int, barrier, results) -> None:
    """One job of ``bench_parallel``: the recipe's plain step on ``threads`` threads, timed
    from a barrier that all jobs pass together (synthetic patches: speed only)."""
    limit_threads(threads)
    option = TRAINING_OPTIONS[-1]
    lr, hr = torch.rand(16 * 64, 1, 17, 17), torch.rand(16 * 64, 1, 51, 51)
    loader = option_loader(lr, hr, option)
    plain_samples_per_s(loader, option, warmup + 1, warmup)
    barrier.wait()
    start = time.perf_counter()
    plain_samples_per_s(loader, option, steps + 1, 1)
    results.put(time.perf_counter() - start)


def parallel_samples_per_s(jobs: int, threads: int, steps: int) -> float:
    """Total samples/s of ``jobs`` processes training at once on ``threads`` threads each."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(jobs), context.Queue()
    workers = [
        context.Process(target=parallel_worker, args=(threads, steps, 10, barrier, results))
        for _ in range(jobs)
    ]
    for worker in workers:
        worker.start()
    seconds = [results.get(timeout=3600) for _ in workers]
    for worker in workers:
        worker.join()
    return jobs * steps * 16 / max(seconds)


def bench_parallel(steps: int) -> dict:
    """n jobs x 1 thread against 1 job x n threads (n = this process's cores), and n jobs x n
    threads, the oversubscription a launcher that does not share the cores gives."""
    cores = cpu_cores()
    rows = []
    for jobs, threads in ((1, cores), (cores, 1), (cores, cores)):
        speed = parallel_samples_per_s(jobs, threads, steps)
        rows.append({"jobs": jobs, "threads": threads, "samples_per_s": speed})
    return {"cores": cores, "steps_per_job": steps, "runs": rows}


def bench_pipeline(data_dir: Path, batches: int) -> dict:
    """Batches/s drawing in-memory patches against decoding and degrading image files per step."""
    files = dataset_files(data_dir, "T91")
    images = [(p.stem, read_image(p)) for p in files]
    lr, hr = build_patches(images, Bicubic(3), 3, 17, 14)
    dataset = PatchDataset(lr, hr, augment=True)
    rng = np.random.default_rng(0)

    def memory_batch() -> torch.Tensor:
        picks = rng.integers(0, len(dataset), 16)
        return torch.stack([dataset[int(i)][0] for i in picks])

    def file_batch() -> list[torch.Tensor]:
        batch = []
        for i in rng.integers(0, len(files), 16):
            y = torch.from_numpy(luma(read_image(files[int(i)]))).double() / 255
            batch.append(extract_patches(y, Bicubic(3), 3, 17, 14)[0][0])
        return batch

    memory = batches / timed(lambda: [memory_batch() for _ in range(batches)], repeats=3, warmup=1)
    disk = batches / timed(lambda: [file_batch() for _ in range(batches)], repeats=3, warmup=1)
    return {"memory_batches_per_s": memory, "file_batches_per_s": disk, "ratio": memory / disk}


def bench_cuda_engines(net: ESPCN, data_dir: Path, repeats: int) -> list[dict]:
    """On a CUDA device: ms per 1080p-output frame for eager fp32, channels_last and fp16 (``half``,
    what ``auto`` picks on CUDA), host to host as ``upscale`` runs them and on the device alone
    (frame already there, synchronised), with each engine's Set5 PSNR. [] without CUDA."""
    if not torch.cuda.is_available():
        return []
    device = torch.device("cuda")
    gpu = cpu_copy(net).to(device)
    frame = torch.rand(1, 1, *lr_frame(net.scale))
    rows: list[dict] = []
    reference = None
    for name, dtype, memory in (
        ("eager", torch.float32, torch.contiguous_format),
        ("channels_last", torch.float32, torch.channels_last),
        ("half", torch.float16, torch.channels_last),
    ):
        run = build(name, gpu)
        host = timed(partial(run, frame), repeats, warmup=5)
        model = cpu_copy(net).to(device, dtype, memory_format=memory)  # type: ignore[call-overload]
        x = frame.to(device, dtype).contiguous(memory_format=memory)

        @torch.inference_mode()
        def on_device(model: ESPCN = model, x: torch.Tensor = x) -> None:
            model(x)
            torch.cuda.synchronize()

        device_only = timed(on_device, repeats * 10, warmup=5)
        psnr = evaluate(run, Bicubic(net.scale), net.scale, data_dir, ["Set5"])["datasets"]["Set5"]
        reference = psnr["psnr"] if reference is None else reference
        rows.append(
            {
                "engine": name,
                "host_to_host_ms": 1000 * host,
                "device_ms": 1000 * device_only,
                "device_fps": 1 / device_only,
                "set5_psnr": psnr["psnr"],
                "set5_delta_db": psnr["psnr"] - reference,
            }
        )
    return rows


def print_training(training: dict) -> None:
    """The training table: each option's samples/s, speed-up and val PSNR per seed."""
    seeds = training["seeds"]
    print(
        f"training at batch {training['batch_size']} (T91, LR stride 7); val PSNR after "
        f"{training['epochs']} epochs, seeds {', '.join(map(str, seeds))}:"
    )
    print(f"{'option':<34}{'samples/s':>10}{'x':>6}{'val dB (mean)':>15}{'vs before':>11}")
    for row in training["options"]:
        delta = statistics.mean(row["val_delta_db"])
        print(
            f"{row['option']:<34}{row['samples_per_s']:>10.0f}{row['speedup']:>6.2f}"
            f"{row['val_psnr_mean']:>15.3f}{delta:>+11.3f}"
        )
    loop = training["loop"]
    print(
        f"loop at the last row's settings: Lightning {loop['lightning_samples_per_s']:.0f} "
        f"samples/s, plain {loop['plain_samples_per_s']:.0f}, ratio {loop['ratio']:.1%}"
    )


PARTS = ("engines", "video", "memory", "training", "parallel", "pipeline")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks (all, or the ``--only`` parts), print the figures, write bench.json."""
    parser = argparse.ArgumentParser(prog="python -m espcn_lightning.bench", description=__doc__)
    parser.add_argument("--model", default=DEFAULT_MODELS[3])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--only", nargs="+", choices=PARTS, default=list(PARTS), help="run only these parts"
    )
    parser.add_argument("--train-steps", type=int, default=300, help="steps per speed round")
    parser.add_argument("--train-epochs", type=int, default=2, help="epochs per PSNR run")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--parallel-steps", type=int, default=300, help="timed steps per job")
    args = parser.parse_args(argv)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    data_dir = args.data_dir or default_data_dir()
    try:
        for name in ("T91", "Set5", "BSD200"):
            dataset_files(data_dir, name)
    except DataError as error:
        print(f"error: the benchmark needs T91, Set5 and BSD200: {error}", file=sys.stderr)
        return 1
    net, cpu = load_model(args.model), torch.device("cpu")
    height, width = lr_frame(net.scale)
    gflop = model_gflop(net, height, width)
    result: dict[str, Any] = {
        "machine": f"{cpu_name()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "frame": f"{width}x{height} -> {width * net.scale}x{height * net.scale} "
        f"(x{net.scale}), Y channel",
        "model_gflop_per_frame": gflop,
    }
    print(
        f"{result['machine']}, torch {result['torch']}; one frame {result['frame']}: "
        f"{gflop:.1f} GFLOP"
    )
    if "engines" in args.only:
        bench_engine_part(net, data_dir, args.repeats, gflop, result)
    if "video" in args.only:
        fast = resolve("auto", cpu)
        runs = [(fast, ".mp4"), (fast, ".avi"), ("eager", ".mp4")]
        result["video"] = [bench_video(net, data_dir, 90, e, suffix) for e, suffix in runs]
        for run in result["video"]:
            print(
                f"video end to end (decode, colour, ESPCN {run['engine']}, encode 1080p "
                f"{run['output']}): {run['fps']:.1f} fps, {run['of_model']:.0%} of the model "
                f"alone ({run['model_fps']:.1f} fps)"
            )
        stages = result["video_stages"] = video_stages(net, data_dir, fast)
        print("video path, CPU ms a frame on one thread (time.thread_time):")
        for name, ms in stages.items():
            print(f"  {name:<40}{ms:>8.1f}")
    if "memory" in args.only:
        result["memory"] = bench_memory(args.model, resolve("auto", cpu))
        for run in result["memory"]:
            how = f"in {run['tile']}-pixel tiles" if run["tile"] else "whole"
            print(
                f"memory, {run['side']}x{run['side']} colour image x{net.scale} {how} "
                f"({run['engine']}): peak {run['peak_mb']:.0f} MB, the upscale added "
                f"{run['added_mb']:.0f} MB (its output alone is {run['output_mb']:.0f} MB)"
            )
    if "training" in args.only:
        training = bench_training(data_dir, args.train_steps, args.train_epochs, args.train_seeds)
        result["training"] = training
        print_training(training)
    if "parallel" in args.only:
        parallel = result["parallel"] = bench_parallel(args.parallel_steps)
        print(f"parallel training on {parallel['cores']} cores (the default's step, batch 16):")
        for run in parallel["runs"]:
            print(
                f"  {run['jobs']} job(s) x {run['threads']} thread(s): "
                f"{run['samples_per_s']:.0f} samples/s in all"
            )
    if "pipeline" in args.only:
        pipeline = result["pipeline"] = bench_pipeline(data_dir, batches=20)
        print(
            f"patches: in memory {pipeline['memory_batches_per_s']:.0f} batches/s, from files "
            f"{pipeline['file_batches_per_s']:.1f} batches/s, ratio {pipeline['ratio']:.0f}x"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out / 'bench.json'}")
    return 0


def bench_engine_part(net: ESPCN, data_dir: Path, repeats: int, gflop: float, result: dict) -> None:
    """The engines against each dtype's measured ceiling, and the per-layer profiles; printed and
    added to ``result``."""
    rows = bench_engines(net, data_dir, repeats)  # first: it times glibc's default allocator
    kernels = measured_ceiling(net)
    ceilings = with_ceilings(kernels, rows, gflop)
    theory = theoretical_gflops()
    result |= {
        "kernel_gflops": kernels,
        "ceiling": ceilings,
        "theoretical_gflops": theory,
        "engines": rows,
        "layers": bench_layers(net, repeats),
        "conv_layers_gflops": {
            f"{dtype}{' channels_last' if last else ''}": conv_gflops(net, torch_dtype, last)
            for dtype, torch_dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
            for last in (False, True)
        },
    }
    for dtype, ceiling in ceilings.items():
        measured = ", ".join(f"{k} {v:.0f}" for k, v in kernels[dtype].items())
        print(
            f"{dtype} ceiling: {ceiling['gflops']:.0f} GFLOP/s ({ceiling['fps']:.1f} fps), "
            f"reached by {ceiling['reached_by']} (best measured: {measured})"
        )
    if theory:
        print(
            f"theoretical peak ({theory['ghz']:.2f} GHz, 2 FMA units a core assumed): "
            f"fp32 {theory['fp32']:.0f}, bf16 {theory['bf16']:.0f} GFLOP/s"
        )
    print(f"{'engine':<32}{'ms':>9}{'fps':>8}{'of its ceiling':>16}{'Set5 dB':>9}{'delta':>8}")
    for r in rows:
        quality = ""
        if r["set5_psnr"] is not None:
            quality = f"{r['set5_psnr']:>9.3f}{r['set5_delta_db']:>+8.3f}"
        share = "n/a" if r["of_ceiling"] is None else f"{r['of_ceiling']:.0%} {r['ceiling']}"
        print(f"{r['engine']:<32}{r['ms']:>9.1f}{r['fps']:>8.1f}{share:>16}{quality}")
    print("eager fp32 profile, per stage:")
    for r in result["layers"]:
        print(
            f"  {r['stage']:<34}{r['ms']:>8.1f} ms{r['gflop']:>7.2f} GFLOP"
            f"{r['gflops']:>7.0f} GFLOP/s"
        )
    print("F.conv2d GFLOP/s per layer (the LR frame above):")
    for layout, rates in result["conv_layers_gflops"].items():
        print(f"  {layout:<20}" + "".join(f"{rate:>8.0f}" for rate in rates))
    result["cuda_engines"] = bench_cuda_engines(net, data_dir, repeats)
    for r in result["cuda_engines"]:
        print(
            f"CUDA {r['engine']:<14}: {r['device_ms']:.3f} ms on the device ({r['device_fps']:.0f} "
            f"fps), {r['host_to_host_ms']:.2f} ms host to host, Set5 {r['set5_psnr']:.3f} dB"
        )


if __name__ == "__main__":
    raise SystemExit(main())
