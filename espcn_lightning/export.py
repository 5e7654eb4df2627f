"""Export a model: to ONNX with dynamic batch, height and width
(``python -m espcn_lightning.export --model NAME --onnx out.onnx``), or as a model folder in the
Hugging Face Hub's format, ready for ``push_to_hub`` (``--hub FOLDER``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from espcn_lightning.core.errors import UpscaleError, one_line_errors
from espcn_lightning.inference.engines import export_onnx
from espcn_lightning.inference.pretrained import DEFAULT_MODELS, load_model, save_pretrained


def check_target(path: Path, overwrite: bool) -> None:
    """Refuse a ``path`` that cannot take the export (UpscaleError); create its missing folder."""
    if path.is_dir():
        raise UpscaleError(f"{path} is a folder; give a file path, such as {path / 'espcn.onnx'}")
    if path.suffix.lower() != ".onnx":
        raise UpscaleError(f"--onnx {path}: give a path ending in .onnx, such as {path.stem}.onnx")
    if path.exists() and not overwrite:
        raise UpscaleError(f"{path} already exists; pass --overwrite to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UpscaleError(f"cannot create folder {path.parent} ({error})") from error


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m espcn_lightning.export", description=__doc__)
    parser.add_argument("--model", default=DEFAULT_MODELS[3], help="shipped name or .pt/.ckpt")
    parser.add_argument("--onnx", type=Path, help="output .onnx path")
    parser.add_argument(
        "--hub", type=Path, help="output folder: model.safetensors, config.json, model card"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing .onnx file")
    args = parser.parse_args(argv)
    if args.onnx is None and args.hub is None:
        raise UpscaleError("give --onnx FILE.onnx, --hub FOLDER, or both")
    if args.onnx is not None:
        check_target(args.onnx, args.overwrite)
    net = load_model(args.model)
    if args.onnx is not None:
        export_onnx(net, args.onnx)
        print(f"wrote {args.onnx} (x{net.scale}, dynamic batch/height/width)")
    if args.hub is not None:
        save_pretrained(net, args.hub)
        print(f"wrote {args.hub} (model.safetensors, config.json, README.md: the Hub's format)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
