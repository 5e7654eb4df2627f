"""Weights as files: save a trained network with its config, load shipped or user weights safely.

The shipped models are folders in the Hugging Face Hub's format (``weights/NAME/``:
model.safetensors, config.json with the architecture and provenance, a model card), as
``ESPCN.save_pretrained`` writes them. A training run writes ``model.pt`` (a plain state dict)
beside ``model.json``; Lightning's ``.ckpt`` files load too. Nothing loaded ever executes code:
safetensors holds tensors only, and ``torch.load`` runs with ``weights_only=True``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file as load_safetensors

from espcn_lightning.core.errors import WeightsError
from espcn_lightning.core.files import atomic_output
from espcn_lightning.core.network import ESPCN, rebuild

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
#: The shipped model used at each scale when none is named (upscale --scale N, evaluate scale=N,
#: export, bench): at x3 the 291-image model, 0.10 dB above the T91 one on the held-out images.
DEFAULT_MODELS = {2: "espcn_x2_relu_291", 3: "espcn_x3_relu_291", 4: "espcn_x4_relu_291"}


#: The files of a model folder in the Hub's format.
HUB_WEIGHTS, HUB_CONFIG = "model.safetensors", "config.json"


def shipped_models() -> list[str]:
    """Names of the weights that ship with the package."""
    return sorted(path.parent.name for path in WEIGHTS_DIR.glob(f"*/{HUB_WEIGHTS}"))


def save_weights(net: ESPCN, path: str | Path, provenance: dict | None = None) -> Path:
    """Write ``path`` (.pt state dict) and its .json sidecar (config and provenance), each whole or
    not at all (files.atomic_output), so a kill mid-save never leaves a half-written file."""
    path = Path(path).with_suffix(".pt")
    with atomic_output(path) as scratch:
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, scratch)
    meta = {"config": net.config(), **(provenance or {})}
    with atomic_output(path.with_suffix(".json")) as scratch:
        scratch.write_text(json.dumps(meta, indent=2) + "\n")
    return path


def default_model(scale: int) -> str:
    """The shipped model for ``scale``, or a WeightsError saying there is none and what to do."""
    if scale not in DEFAULT_MODELS:
        shipped = ", ".join(f"x{s}" for s in sorted(DEFAULT_MODELS))
        raise WeightsError(
            f"no shipped x{scale} model (shipped: {shipped}); train one "
            f"(python -m espcn_lightning.train scale={scale}) and give its model.pt"
        )
    return DEFAULT_MODELS[scale]


def robust_model(scale: int) -> str | None:
    """The shipped robust model for ``scale`` (trained on the randomised degradation), if any."""
    name = f"espcn_x{scale}_robust_291"
    return name if (WEIGHTS_DIR / name / HUB_WEIGHTS).exists() else None


def picture_model(scale: int) -> str:
    """The model ``upscale`` uses for pictures whose history is unknown: the robust model of
    ``scale`` where one is shipped (it gains over bicubic however the picture was shrunk), else
    the paper-protocol one (``default_model``)."""
    return robust_model(scale) or default_model(scale)


def _resolve(name_or_path: str | Path) -> Path:
    """A shipped model name, a model folder (Hub format) or a path to a .pt / .ckpt file."""
    if str(name_or_path) in shipped_models():
        return WEIGHTS_DIR / str(name_or_path)
    path = Path(name_or_path)
    if not (path.is_file() or (path / HUB_WEIGHTS).is_file()):
        raise WeightsError(
            f"{name_or_path}: neither a shipped model ({', '.join(shipped_models()) or 'none'}), "
            f"a folder with {HUB_WEIGHTS}, nor an existing .pt/.ckpt file; check the name or path"
        )
    return path


def _hub_folder(folder: Path) -> tuple[dict, dict, dict]:
    """State dict, network config and provenance of a model folder in the Hub's format."""
    fix = f"restore the {HUB_CONFIG} that was saved with {HUB_WEIGHTS}"
    try:
        meta = json.loads((folder / HUB_CONFIG).read_text())
    except FileNotFoundError as error:
        raise WeightsError(f"{folder}: no {HUB_CONFIG} beside {HUB_WEIGHTS}; {fix}") from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(f"{folder / HUB_CONFIG}: not valid JSON ({error}); {fix}") from error
    try:
        state = load_safetensors(folder / HUB_WEIGHTS)
    except Exception as error:
        raise WeightsError(
            f"{folder / HUB_WEIGHTS}: not a readable safetensors file ({type(error).__name__}); "
            "save the model again"
        ) from error
    provenance = meta.pop("provenance", {}) if isinstance(meta, dict) else {}
    return state, meta, provenance


def _read(path: Path) -> dict:
    """Load a file with weights_only=True, turning any failure into a one-line error."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsError(
            f"{path}: not a loadable weights file or checkpoint ({type(error).__name__}); "
            "give a .pt from this project or a Lightning .ckpt from a training run"
        ) from error


def intact(path: Path) -> bool:
    """Whether a weights file or checkpoint loads whole (not truncated or corrupt)."""
    try:
        _read(path)
    except WeightsError:
        return False
    return True


def _sidecar_config(path: Path) -> dict | None:
    """The network config in the .json beside a .pt (None without one); a sidecar that is not
    JSON or has no ``config`` object is an error naming it."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    fix = f"restore the .json that was written with {path.name}"
    try:
        meta = json.loads(sidecar.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(f"{sidecar}: not valid JSON ({error}); {fix}") from error
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise WeightsError(f'{sidecar}: no "config" object (the network\'s shape); {fix}')
    return meta["config"]


def _state_and_config(path: Path) -> tuple[dict, dict]:
    """The network state dict and config from a .pt (with .json sidecar) or a Lightning .ckpt."""
    payload = _read(path)
    if not isinstance(payload, dict):
        raise WeightsError(f"{path}: holds no state dict; give weights or a checkpoint")
    if "state_dict" in payload:
        config = payload.get("hyper_parameters", {}).get("net")
        state = {k[4:]: v for k, v in payload["state_dict"].items() if k.startswith("net.")}
    else:
        config = _sidecar_config(path)
        state = payload
    if not config or not state:
        raise WeightsError(f"{path}: no ESPCN config or weights found (is the .json beside it?)")
    return state, config


def load_model(name_or_path: str | Path, scale: int | None = None) -> ESPCN:
    """An ESPCN in eval mode from a shipped name or a file; ``scale`` checks the expected factor.

    Input: (N, 1, h, w) float, studio-swing Y / 255; output (N, 1, r*h, r*w); ``.scale`` is r.
    """
    path = _resolve(name_or_path)
    provenance: dict = {}
    if path.is_dir():
        state, config, provenance = _hub_folder(path)
    else:
        state, config = _state_and_config(path)
    if scale is not None and config.get("scale") != scale:
        raise WeightsError(
            f"{path}: model is for x{config.get('scale')}, not x{scale}; pick a x{scale} model"
        )
    try:
        net = rebuild(config, state)
    except (TypeError, ValueError) as error:
        raise WeightsError(
            f"{path}: config {config} does not describe an ESPCN ({error})"
        ) from error
    except RuntimeError as error:
        first = str(error).splitlines()[1 if "\n" in str(error) else 0].strip()
        raise WeightsError(f"{path}: weights do not fit {config} ({first})") from error
    net.provenance = provenance
    return net.eval()


def save_pretrained(net: ESPCN, folder: str | Path, provenance: dict | None = None) -> Path:
    """Write ``net`` as a model folder in the Hub's format (model.safetensors, config.json with
    the provenance, a model card), whole or not at all: built beside ``folder``, then renamed
    into place. An existing folder is refused (nothing is overwritten)."""
    folder = Path(folder)
    if folder.exists():
        raise WeightsError(f"{folder} exists; give a new folder for the model")
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(scratch, ignore_errors=True)
    net.provenance = dict(provenance or net.provenance)
    try:
        net.save_pretrained(scratch, config=net.config() | {"provenance": net.provenance})
        os.replace(scratch, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder
