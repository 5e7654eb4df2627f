"""Inference engines side by side on one 1080p output frame, against the machine's FLOP limit
for the model, layer by layer, and on CUDA where there is one."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.common import lr_frame, timed
from espcn_lightning.core.degradations import Bicubic, Upscaler
from espcn_lightning.core.network import ESPCN
from espcn_lightning.datasets.catalogue import calibration_images
from espcn_lightning.evaluation.protocol import evaluate
from espcn_lightning.inference.engines import (
    build,
    cpu_copy,
    keep_freed_memory,
    network_upscaler,
)

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
