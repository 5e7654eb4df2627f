"""Score models under every degradation of the zoo beside bicubic (Hydra app).

``python -m espcn_lightning.robustness [scale=3] [models=[NAME,...]] [opencv_espcn=true]`` prints
the matrix (degradation x test set, the gain over bicubic per cell) and writes robustness.md and
robustness.json to the run dir. The matrix itself is ``evaluation.robustness``.
"""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from espcn_lightning.core.errors import one_line_errors
from espcn_lightning.core.options import check_scale
from espcn_lightning.evaluation.opencv_espcn import opencv_espcn
from espcn_lightning.evaluation.robustness import markdown_matrix, robustness_matrix
from espcn_lightning.evaluation.upscalers import espcn
from espcn_lightning.inference.pretrained import default_model, robust_model


def default_models(scale: int) -> list[str]:
    """The paper-protocol model of ``scale`` and its robust sibling where one is shipped."""
    robust = robust_model(scale)
    return [default_model(scale), *([robust] if robust else [])]


@hydra.main(version_base="1.3", config_path="conf", config_name="robustness")
def main(cfg: DictConfig) -> None:
    """The matrix; a missing dataset, model or degradation ends in a one-line error."""
    one_line_errors(run, exit=True)(cfg)


def run(cfg: DictConfig) -> dict:
    """Score, print and write the matrix."""
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    scale = check_scale(cfg.scale)
    names = list(cfg.models) if cfg.models is not None else default_models(scale)
    candidates = [espcn(scale, str(name), cfg.device) for name in names]
    if cfg.opencv_espcn:
        candidates.append(opencv_espcn(scale, cfg.opencv_espcn_dir))
    upscalers = {candidate.label: candidate.upscale for candidate in candidates}
    matrix = robustness_matrix(
        upscalers, list(cfg.degradations), scale, cfg.paths.data_dir, list(cfg.datasets)
    )
    table = markdown_matrix(matrix)
    (out_dir / "robustness.md").write_text(table)
    (out_dir / "robustness.json").write_text(json.dumps(matrix, indent=2) + "\n")
    print(table)
    print(f"written to {out_dir}")
    return matrix


if __name__ == "__main__":
    main()
