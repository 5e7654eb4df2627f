"""Published PSNR (dB, Y channel, MATLAB bicubic degradation) to print beside ours, per scale.

Quoted, not measured here: the ESPCN paper (Shi et al. 2016; Table 1 at x3, Table 2 at x4), FSRCNN
(Dong et al., ECCV 2016, trained on T91 + General100) and SRCNN (9-5-5, ImageNet, as FSRCNN's paper
tabulates it). The ESPCN paper's "BSD300" is our BSD100 and its "BSD500" our BSD200; a value a paper
does not give is left out, never filled in.
"""

from __future__ import annotations

Scores = dict[str, float]

ESPCN_PAPER: dict[int, dict[str, Scores]] = {
    3: {
        "bicubic": {"Set5": 30.39, "Set14": 27.54, "BSD100": 27.21, "BSD200": 27.26},
        "ESPCN relu T91": {"Set5": 32.39, "Set14": 28.97, "BSD100": 28.20, "BSD200": 28.27},
        "ESPCN tanh T91": {"Set5": 32.55, "Set14": 29.08, "BSD100": 28.26, "BSD200": 28.34},
        "ESPCN ImageNet": {"Set5": 33.13, "Set14": 29.49, "BSD100": 28.54, "BSD200": 28.64},
    },
    4: {
        "bicubic": {"Set5": 28.42, "Set14": 26.00, "BSD100": 25.96, "BSD200": 25.97},
        "ESPCN ImageNet": {"Set5": 30.90, "Set14": 27.73, "BSD100": 27.06, "BSD200": 27.07},
    },
}
FSRCNN: dict[int, Scores] = {
    2: {"Set5": 37.00, "Set14": 32.63},
    3: {"Set5": 33.16, "Set14": 29.43},
    4: {"Set5": 30.71, "Set14": 27.59},
}
SRCNN: dict[int, Scores] = {
    2: {"Set5": 36.66, "Set14": 32.45},
    3: {"Set5": 32.75, "Set14": 29.30},
    4: {"Set5": 30.49, "Set14": 27.50},
}
NOT_AVAILABLE = (
    "SuperTexture136, the ESPCN paper's fifth test set, is not publicly available and is left out; "
    "averages weigh each of the images above equally, published columns over the same sets "
    "(where a paper gives every one of them)."
)


def columns(scale: int, activation: str | None = None) -> dict[str, Scores]:
    """The published columns at ``scale``: the ESPCN paper's T91 row of the same activation
    (x3), its ImageNet row and bicubic, then FSRCNN and SRCNN; labelled for a table header."""
    paper = ESPCN_PAPER.get(scale, {})
    picked = {f"Paper {name}": scores for name, scores in paper.items() if name != "bicubic"}
    if activation is not None:
        mine = f"Paper ESPCN {activation} T91"
        picked = {k: v for k, v in picked.items() if "T91" not in k or k == mine}
    if "bicubic" in paper:
        picked["Paper bicubic"] = paper["bicubic"]
    for name, table in (("FSRCNN", FSRCNN), ("SRCNN", SRCNN)):
        if scale in table:
            picked[name] = table[scale]
    return picked
