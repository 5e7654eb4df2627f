"""Export a model to ONNX with dynamic batch, height and width:
``python -m espcn_lightning.export --model NAME --onnx out.onnx``."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch

from espcn_lightning.network import ESPCN
from espcn_lightning.pretrained import WeightsError, load_model


def export_onnx(net: ESPCN, path: Path, opset: int = 17) -> Path:
    """Write ``net`` as ONNX: input ``lr`` (N, 1, h, w), output ``sr`` (N, 1, r*h, r*w)."""
    example = torch.rand(1, 1, 24, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net.eval(),
            (example,),
            str(path),
            dynamo=False,
            input_names=["lr"],
            output_names=["sr"],
            dynamic_axes={"lr": {0: "n", 2: "h", 3: "w"}, "sr": {0: "n", 2: "H", 3: "W"}},
            opset_version=opset,
        )
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m espcn_lightning.export", description=__doc__)
    parser.add_argument("--model", default="espcn_x3_tanh_t91", help="shipped name or .pt/.ckpt")
    parser.add_argument("--onnx", type=Path, required=True, help="output .onnx path")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    if args.onnx.exists() and not args.overwrite:
        print(f"error: {args.onnx} already exists; pass --overwrite to replace it", file=sys.stderr)
        return 1
    try:
        net = load_model(args.model)
    except WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    export_onnx(net, args.onnx)
    print(f"wrote {args.onnx} (x{net.scale}, dynamic batch/height/width)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
