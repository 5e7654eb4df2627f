"""``auto`` against every exact engine at x2, x3 and x4, on the frame each enlarges to 1080p: what
it chose (measured on this machine, ``engine_choice``) and its time against the fastest."""

from __future__ import annotations

from functools import partial

import torch

from benchmarks.common import lr_frame, timed
from espcn_lightning.core.errors import EngineError
from espcn_lightning.inference.engine_choice import EXACT, AutoUpscaler
from espcn_lightning.inference.engines import build, keep_freed_memory
from espcn_lightning.inference.pretrained import DEFAULT_MODELS, load_model


def bench_auto(repeats: int) -> list[dict]:
    """Per scale: ms of each exact CPU engine and of ``auto`` on one 1080p-out frame, auto's
    choice, and auto's time over the fastest engine's."""
    keep_freed_memory()
    rows = []
    for scale, name in sorted(DEFAULT_MODELS.items()):
        net = load_model(name)
        frame = torch.rand(1, 1, *lr_frame(scale))
        ms = {}
        for engine in EXACT["cpu"]:
            try:
                run = build(engine, net)
            except EngineError:
                continue
            ms[engine] = 1000 * timed(partial(run, frame), repeats)
        auto = AutoUpscaler(build, net)
        chosen = auto.engine_for(frame)
        auto_ms = 1000 * timed(partial(auto, frame), repeats)
        fastest = min(ms, key=ms.__getitem__)
        rows.append(
            {
                "scale": scale,
                "ms": ms,
                "auto": chosen,
                "auto_ms": auto_ms,
                "fastest": fastest,
                "auto_over_fastest": auto_ms / ms[fastest],
            }
        )
    return rows


def print_auto(rows: list[dict]) -> None:
    """The table: a row per scale, a column per engine, then auto's pick and ratio."""
    engines = list(rows[0]["ms"])
    print("auto against each exact engine, ms for one frame enlarged to 1920x1080 (Y):")
    print(
        f"{'scale':<7}"
        + "".join(f"{e:>15}" for e in engines)
        + f"{'auto chose':>15}"
        + f"{'auto ms':>10}{'/ fastest':>11}"
    )
    for row in rows:
        cells = "".join(f"{row['ms'][e]:>15.1f}" for e in engines)
        print(
            f"x{row['scale']:<6}{cells}{row['auto']:>15}{row['auto_ms']:>10.1f}"
            f"{row['auto_over_fastest']:>11.2f}"
        )
