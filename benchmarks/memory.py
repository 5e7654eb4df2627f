"""Peak memory against image size, tiled and whole, each in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from espcn_lightning.core.tiling import DEFAULT_TILE
from espcn_lightning.inference.pretrained import load_model

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
