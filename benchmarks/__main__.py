"""Speed figures, side by side in one run: ``python -m benchmarks [--only ...]``.

Inference engines on one 1080p output frame (640x360 in at x3, 960x540 at x2, 480x270 at x4),
the machine's FLOP limit for the model, ``auto``'s pick at x2, x3 and x4 against every exact engine,
end-to-end video fps, peak memory against image size (tiled and whole); the training options'
samples/s and validation PSNR at equal epochs, and the Lightning loop against a plain PyTorch loop
(``training``); n jobs x 1 thread against 1 job x n threads (``parallel``); in-memory patches
against reading image files each step. Prints tables and writes bench.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from benchmarks.auto import bench_auto, print_auto
from benchmarks.common import cpu_name, lr_frame, model_gflop
from benchmarks.engines import bench_engine_part
from benchmarks.memory import bench_memory
from benchmarks.training import bench_parallel, bench_pipeline, bench_training, print_training
from benchmarks.video import bench_video, video_stages
from espcn_lightning.core.errors import DataError
from espcn_lightning.datasets.catalogue import dataset_files, default_data_dir
from espcn_lightning.inference.engine_choice import choose
from espcn_lightning.inference.engines import build
from espcn_lightning.inference.pretrained import DEFAULT_MODELS, load_model

PARTS = ("engines", "auto", "video", "memory", "training", "parallel", "pipeline")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks (all, or the ``--only`` parts), print the figures, write bench.json."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--model", default=DEFAULT_MODELS[3])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("outputs/bench"))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--only", nargs="+", choices=PARTS, default=list(PARTS), help="run only these parts"
    )
    parser.add_argument("--train-steps", type=int, default=300, help="steps per speed round")
    parser.add_argument("--train-epochs", type=int, default=2, help="epochs per PSNR run")
    parser.add_argument("--train-seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--parallel-steps", type=int, default=300, help="timed steps per job")
    args = parser.parse_args(argv)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    data_dir = args.data_dir or default_data_dir()
    try:
        for name in ("T91", "Set5", "BSD200"):
            dataset_files(data_dir, name)
    except DataError as error:
        print(f"error: the benchmark needs T91, Set5 and BSD200: {error}", file=sys.stderr)
        return 1
    net = load_model(args.model)
    height, width = lr_frame(net.scale)
    gflop = model_gflop(net, height, width)
    result: dict[str, Any] = {
        "machine": f"{cpu_name()}, {torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "frame": f"{width}x{height} -> {width * net.scale}x{height * net.scale} "
        f"(x{net.scale}), Y channel",
        "model_gflop_per_frame": gflop,
    }
    print(
        f"{result['machine']}, torch {result['torch']}; one frame {result['frame']}: "
        f"{gflop:.1f} GFLOP"
    )
    if "engines" in args.only:
        bench_engine_part(net, data_dir, args.repeats, gflop, result)
    fast = choose(build, net, torch.rand(1, 1, height, width))  # auto's pick for 1080p frames
    if "auto" in args.only:
        result["auto"] = bench_auto(args.repeats)
        print_auto(result["auto"])
    if "video" in args.only:
        runs = [(fast, ".mp4"), (fast, ".avi"), ("eager", ".mp4")]
        result["video"] = [bench_video(net, data_dir, 90, e, suffix) for e, suffix in runs]
        for run in result["video"]:
            print(
                f"video end to end (decode, colour, ESPCN {run['engine']}, encode 1080p "
                f"{run['output']}): {run['fps']:.1f} fps, {run['of_model']:.0%} of the model "
                f"alone ({run['model_fps']:.1f} fps)"
            )
        stages = result["video_stages"] = video_stages(net, data_dir, fast)
        print("video path, CPU ms a frame on one thread (time.thread_time):")
        for name, ms in stages.items():
            print(f"  {name:<40}{ms:>8.1f}")
    if "memory" in args.only:
        result["memory"] = bench_memory(args.model, fast)
        for run in result["memory"]:
            how = f"in {run['tile']}-pixel tiles" if run["tile"] else "whole"
            print(
                f"memory, {run['side']}x{run['side']} colour image x{net.scale} {how} "
                f"({run['engine']}): peak {run['peak_mb']:.0f} MB, the upscale added "
                f"{run['added_mb']:.0f} MB (its output alone is {run['output_mb']:.0f} MB)"
            )
    if "training" in args.only:
        training = bench_training(data_dir, args.train_steps, args.train_epochs, args.train_seeds)
        result["training"] = training
        print_training(training)
    if "parallel" in args.only:
        parallel = result["parallel"] = bench_parallel(args.parallel_steps)
        print(f"parallel training on {parallel['cores']} cores (the default's step, batch 16):")
        for run in parallel["runs"]:
            print(
                f"  {run['jobs']} job(s) x {run['threads']} thread(s): "
                f"{run['samples_per_s']:.0f} samples/s in all"
            )
    if "pipeline" in args.only:
        pipeline = result["pipeline"] = bench_pipeline(data_dir, batches=20)
        print(
            f"patches: in memory {pipeline['memory_batches_per_s']:.0f} batches/s, from files "
            f"{pipeline['file_batches_per_s']:.1f} batches/s, ratio {pipeline['ratio']:.0f}x"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
