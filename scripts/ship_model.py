"""Ship a trained run's model: ``python -m scripts.ship_model RUN_DIR NAME [--robustness JSON]``.

Writes ``espcn_lightning/weights/NAME/`` in the Hub's format (safetensors, config.json with the
run's provenance, a model card). With the robustness matrix of the run's model
(``python -m espcn_lightning.robustness``), the card gets its paper-protocol scores (the
``bicubic`` rows) and its gains over bicubic under every degradation. Lab code, not installed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from benchmarks.common import cpu_name
from espcn_lightning.inference.pretrained import WEIGHTS_DIR, load_model, save_pretrained


def matrix_provenance(matrix: dict, label: str) -> dict:
    """The test scores under the paper's protocol and the gains over bicubic, for one model."""
    cells = matrix["cells"]
    scores = {f"test/{s}_psnr": row[label] for s, row in cells.get("bicubic", {}).items()}
    gains = {
        name: {s: round(row[label] - row["bicubic"], 3) for s, row in rows.items()}
        for name, rows in cells.items()
    }
    return {**scores, "robustness": gains}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.ship_model", description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("name")
    parser.add_argument("--robustness", type=Path, help="robustness.json scoring RUN_DIR/model.pt")
    parser.add_argument("--equivalent-now", help="the command that trains it today")
    parser.add_argument("--data", help="what it was trained on, for the card")
    args = parser.parse_args(argv)
    model = args.run_dir / "model.pt"
    net = load_model(model)
    meta = json.loads(model.with_suffix(".json").read_text())  # the run's record (save_weights)
    provenance = {key: value for key, value in meta.items() if key != "config"}
    threads = provenance.get("threads", torch.get_num_threads())
    provenance["machine"] = f"{cpu_name()}, {threads} threads, torch {torch.__version__}"
    if "best_checkpoint" in provenance:  # relative to the run dir: no path of this machine
        provenance["best_checkpoint"] = "checkpoints/" + Path(provenance["best_checkpoint"]).name
    if args.equivalent_now:
        provenance["equivalent_now"] = args.equivalent_now
    if args.data:
        provenance["data"] = args.data
    if args.robustness:
        matrix = json.loads(args.robustness.read_text())
        label = next(
            m for m in matrix["models"] if m.endswith(str(model)) or str(model).endswith(m)
        )
        provenance |= matrix_provenance(matrix, label)
    target = WEIGHTS_DIR / args.name
    save_pretrained(net, target, provenance)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
