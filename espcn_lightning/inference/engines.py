"""A network, run this way: the one home for inference (eager, bf16, fp16, ONNX Runtime, int8).

Each engine turns a network into an ``Upscaler`` (float LR Y / 255 in, SR out, on the CPU); the
MATLAB bicubic baseline is one too, and the ONNX export is the bytes the ONNX engines run.
``python -m benchmarks`` measures them side by side with their Set5 PSNR; ``auto`` picks, by
measurement on this machine for each scale and input size, the fastest of the exact ones (those
within 0.05 dB of fp32 on held-out images): ``engine_choice``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib
import io
import platform
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from espcn_lightning.core.degradations import Upscaler
from espcn_lightning.core.errors import EngineError
from espcn_lightning.core.files import atomic_output
from espcn_lightning.core.network import ESPCN, rebuild
from espcn_lightning.inference.engine_choice import AutoUpscaler


def network_upscaler(
    net: Callable[[torch.Tensor], torch.Tensor], device: torch.device | None = None
) -> Upscaler:
    """A float32 network (an ESPCN, or a traced/compiled one) as an upscaler for any input dtype:
    no autograd, run on ``device`` (default: where its parameters are), output on the CPU."""
    if device is None and isinstance(net, torch.nn.Module):
        device = next(net.parameters()).device

    @torch.inference_mode()
    def run(lr: torch.Tensor) -> torch.Tensor:
        return net(lr.to(device, torch.float32)).to("cpu", lr.dtype)

    return run


def pick_device(name: str, option: str = "--device") -> torch.device:
    """``auto``: CUDA when available, else CPU; a device that is not here is refused up front,
    naming ``option`` (the flag or config key the user set)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise EngineError(f"{option} {name}: not a device; use cpu, cuda or auto") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EngineError(f"{option} {name}: no CUDA device is visible; use cpu or auto")
    if device.type not in ("cpu", "cuda"):
        raise EngineError(f"{option} {name}: only cpu and cuda are supported; use cpu or auto")
    return device


def deploy_module(name: str, instead: str = ""):
    """Import ``onnx`` or ``onnxruntime``, or say how to install them (EngineError)."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise EngineError(
            f"this needs {name}, which is not installed: "
            f"pip install 'espcn-lightning[deploy]'{instead}"
        ) from error


@functools.cache
def keep_freed_memory(limit: int = 1 << 30) -> bool:
    """Stop glibc handing large freed blocks back to the OS (mallopt M_MMAP_THRESHOLD and
    M_TRIM_THRESHOLD). Otherwise every 1080p frame page-faults its tens of MB of activations in
    again: measured here, eager fp32 165 -> 77 ms a frame, bf16 channels_last 52 -> 32 ms.
    A no-op (False) off glibc. Process-wide, so set once: the first call does it, where an
    entry point starts (upscale, bench); later calls return the first one's answer."""
    if platform.system() != "Linux" or not (name := ctypes.util.find_library("c")):
        return False
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, limit) and libc.mallopt(m_trim_threshold, limit))


def cpu_copy(net: ESPCN) -> ESPCN:
    """A float32 CPU copy in eval mode, leaving ``net`` where it is."""
    return rebuild(net.config(), net.state_dict()).eval()


def onnx_model(net: ESPCN, opset: int = 17) -> bytes:
    """The network as ONNX: input ``lr`` (N, 1, h, w), output ``sr``, dynamic N, h and w."""
    deploy_module("onnx")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            cpu_copy(net),
            (torch.rand(1, 1, 24, 32),),
            buffer,  # type: ignore[arg-type]
            dynamo=False,
            input_names=["lr"],
            output_names=["sr"],
            dynamic_axes={"lr": {0: "n", 2: "h", 3: "w"}, "sr": {0: "n", 2: "H", 3: "W"}},
            opset_version=opset,
        )
    return buffer.getvalue()


def export_onnx(net: ESPCN, path: Path) -> Path:
    """Write ``net`` as ONNX: input ``lr`` (N, 1, h, w), output ``sr`` (N, 1, r*h, r*w); the file
    appears whole or not at all."""
    model = onnx_model(net)
    with atomic_output(path) as scratch:
        scratch.write_bytes(model)
    return path


def ort_session(model: bytes | str):
    """An ONNX Runtime CPU session using torch's thread count."""
    ort = deploy_module("onnxruntime", ", or pick --engine eager")
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def session_upscaler(session) -> Upscaler:
    """Run an ONNX Runtime session as an upscaler (float32 in and out, on the CPU)."""

    def run(lr: torch.Tensor) -> torch.Tensor:
        x = lr.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(session.run(None, {"lr": x})[0]).to(lr.dtype)

    return run


def int8_model(net: ESPCN, calibration: Iterable[np.ndarray]) -> bytes:
    """Static int8 ONNX (QDQ, per-channel weights), activations calibrated on ``calibration``:
    (1, 1, h, w) float32 LR Y / 255 arrays, never test images. Weights are unsigned like the
    activations: on x86 CPUs without VNNI, ONNX Runtime's u8 x s8 kernels saturate, which on an
    AVX2 EPYC put a Set5 crop 9.0 levels (RMSE) off fp32, against 0.8 for u8 x u8."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter({"lr": x} for x in calibration)

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as scratch:
        source, target = Path(scratch) / "fp32.onnx", Path(scratch) / "int8.onnx"
        source.write_bytes(onnx_model(net))
        quantize_static(
            str(source),
            str(target),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QUInt8,
        )
        return target.read_bytes()


def torch_upscaler(net: ESPCN, dtype: torch.dtype, channels_last: bool) -> Upscaler:
    """The network in ``dtype`` (channels_last if asked) on its device; out in the input's dtype."""
    device = next(net.parameters()).device
    memory = torch.channels_last if channels_last else torch.contiguous_format
    model = cpu_copy(net).to(device, dtype, memory_format=memory)  # type: ignore[call-overload]

    @torch.inference_mode()
    def run(lr: torch.Tensor) -> torch.Tensor:
        x = lr.to(device, dtype).contiguous(memory_format=memory)
        return model(x).float().contiguous().to("cpu", lr.dtype)

    return run


#: Builds an upscaler from a network and, for int8, calibration images.
EngineBuilder = Callable[[ESPCN, Iterable[np.ndarray] | None], Upscaler]

#: The engines by name, in the order ``bench`` lists them (``auto`` picks one per machine).
REGISTRY: dict[str, EngineBuilder] = {}
#: Where each engine runs: the others are refused elsewhere with a one-line reason.
DEVICES: dict[str, tuple[str, ...]] = {}


def register(name: str, devices: tuple[str, ...] = ("cpu", "cuda")):
    """Add an engine builder to the registry under ``name``, runnable on ``devices``."""

    def add(builder: EngineBuilder) -> EngineBuilder:
        REGISTRY[name], DEVICES[name] = builder, devices
        return builder

    return add


@register("eager")
def _eager(net: ESPCN, calibration: Iterable[np.ndarray] | None) -> Upscaler:
    return network_upscaler(net)


@register("channels_last")
def _channels_last(net: ESPCN, calibration: Iterable[np.ndarray] | None) -> Upscaler:
    return torch_upscaler(net, torch.float32, channels_last=True)


@register("bf16")
def _bf16(net: ESPCN, calibration: Iterable[np.ndarray] | None) -> Upscaler:
    return torch_upscaler(net, torch.bfloat16, channels_last=True)


@register("half", devices=("cuda",))
def _half(net: ESPCN, calibration: Iterable[np.ndarray] | None) -> Upscaler:
    return torch_upscaler(net, torch.float16, channels_last=True)


@register("onnxruntime", devices=("cpu",))
def _onnxruntime(net: ESPCN, calibration: Iterable[np.ndarray] | None) -> Upscaler:
    return session_upscaler(ort_session(onnx_model(net)))


@register("int8", devices=("cpu",))
def _int8(net: ESPCN, calibration: Iterable[np.ndarray] | None) -> Upscaler:
    if calibration is None:
        raise EngineError("--engine int8 needs calibration images (LR Y arrays)")
    deploy_module("onnx", ", or pick --engine eager")
    return session_upscaler(ort_session(int8_model(net, calibration)))


#: Every engine a user may name: ``auto`` and the registry's.
ENGINES = ("auto", *REGISTRY)


def build(engine: str, net: ESPCN, calibration: Iterable[np.ndarray] | None = None) -> Upscaler:
    """An upscaler running ``net`` with ``engine`` (see ENGINES) on the network's device;
    ``auto`` picks, per input size, the fastest exact engine measured here
    (``engine_choice.AutoUpscaler``)."""
    device = next(net.parameters()).device
    if engine == "auto":
        return AutoUpscaler(build, net)
    if engine not in REGISTRY:
        raise EngineError(f"--engine {engine}: choose one of {', '.join(ENGINES)}")
    if device.type not in DEVICES[engine]:
        if device.type == "cuda":
            raise EngineError(
                f"--engine {engine} runs on the CPU; use --device cpu or --engine half"
            )
        raise EngineError(f"--engine {engine} needs CUDA; on a CPU use --engine auto or bf16")
    return REGISTRY[engine](net, calibration)
