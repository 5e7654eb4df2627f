"""A hostile user's pass over `upscale` and `export`: odd containers and codecs, colour modes and
bit depths, tiny and huge inputs, odd names, concurrent writers and killed exports. Each case says
what a careless user would do and what must hold; the script prints a line a case and a count.

    python -m scripts.hostile_pass [--keep DIR]

A case passes when the command succeeds with a whole, right-sized output, or refuses in one line
(exit 1, `error: ...`, no traceback) and leaves no partial file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from espcn_lightning.export import main as export_main
from espcn_lightning.upscale import main as upscale_main

RNG = np.random.default_rng(0)


def pixels(height: int, width: int, channels: int = 3) -> np.ndarray:
    shape = (height, width, channels) if channels > 1 else (height, width)
    return RNG.integers(0, 256, shape, np.uint8)


def run_main(main: Callable[[list[str]], int], args: list[str]) -> tuple[int, str]:
    """Exit status and stderr of an entry point called in this process."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(args)
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else 1
        except Exception as bug:  # a traceback a user would see
            return 99, f"{type(bug).__name__}: {bug}"
    return status, err.getvalue()


def no_partials(folder: Path) -> bool:
    return not [p for p in folder.rglob(".*") if ".partial" in p.name]


def clean_refusal(status: int, err: str) -> bool:
    """Exit 1 with exactly one ``error:`` line and no traceback (a progress bar may stand by)."""
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    return status == 1 and len(errors) == 1 and "Traceback" not in err


def upscaled(source: Path, target: Path, size: tuple[int, int], *extra: str) -> str | None:
    """None if ``upscale`` wrote ``target`` at 3x ``size`` (w, h), else what went wrong."""
    status, err = run_main(upscale_main, [str(source), str(target), *extra])
    if status != 0:
        return f"exit {status}: {err.strip()[:160]}"
    if target.suffix.lower() in (".mp4", ".avi", ".mkv", ".mov", ".m4v"):
        video = cv2.VideoCapture(str(target))
        got = (int(video.get(cv2.CAP_PROP_FRAME_WIDTH)), int(video.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        video.release()
    else:
        got = Image.open(target).size
    return None if got == (size[0] * 3, size[1] * 3) else f"size {got}, wanted 3x {size}"


def refused(args: list[str], folder: Path, main=upscale_main) -> str | None:
    """None if the command refused in one line and left no partial file, else what happened."""
    status, err = run_main(main, args)
    if clean_refusal(status, err) and no_partials(folder):
        return None
    return f"exit {status}: {err.strip()[:200]}"


def write_video(path: Path, frames: list[np.ndarray], codec: str, fps: float = 10.0) -> None:
    height, width = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*codec)  # type: ignore[attr-defined]
    writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


def cases(work: Path) -> list[tuple[str, Callable[[], str | None]]]:
    """(what the user does, check) for every case."""
    found: list[tuple[str, Callable[[], str | None]]] = []

    def case(name: str):
        def add(check: Callable[[], str | None]) -> Callable[[], str | None]:
            found.append((name, check))
            return check

        return add

    def image_file(name: str, image: Image.Image, **save) -> Path:
        path = work / name
        image.save(path, **save)
        return path

    # Colour modes and bit depths
    for mode, make in {
        "CMYK JPEG": lambda: Image.fromarray(pixels(20, 30)).convert("CMYK"),
        "LAB TIFF": lambda: Image.fromarray(pixels(20, 30)).convert("LAB"),
        "YCbCr JPEG": lambda: Image.fromarray(pixels(20, 30)).convert("YCbCr"),
        "1-bit PNG": lambda: Image.fromarray(pixels(20, 30, 1)).convert("1"),
        "LA PNG": lambda: Image.fromarray(pixels(20, 30, 1)).convert("LA"),
        "RGBA PNG": lambda: Image.fromarray(pixels(20, 30, 4)),
        "palette with transparency": lambda: Image.fromarray(pixels(20, 30)).convert("P"),
        "16-bit grey PNG": lambda: Image.fromarray(
            RNG.integers(0, 65536, (20, 30)).astype(np.uint16)
        ),
        "32-bit integer TIFF": lambda: Image.fromarray(
            RNG.integers(0, 1 << 20, (20, 30)).astype(np.int32)
        ),
        "float TIFF 0..1": lambda: Image.fromarray(RNG.random((20, 30)).astype(np.float32)),
    }.items():
        suffix = ".jpg" if "JPEG" in mode else ".tif" if "TIFF" in mode else ".png"

        @case(f"upscale a {mode}")
        def colour(mode=mode, make=make, suffix=suffix) -> str | None:
            image = make()
            if mode == "palette with transparency":
                image.info["transparency"] = 0
            source = image_file(f"{mode.replace(' ', '_')}{suffix}", image)
            return upscaled(source, work / f"{mode.replace(' ', '_')}_x3.png", (30, 20))

    for suffix in (".bmp", ".webp", ".ppm", ".tiff", ".gif"):

        @case(f"upscale a {suffix} still")
        def still(suffix=suffix) -> str | None:
            source = image_file(f"still{suffix}", Image.fromarray(pixels(21, 17)))
            return upscaled(source, work / f"still_{suffix[1:]}_x3.png", (17, 21))

    for suffix in (".jpg", ".webp", ".bmp", ".tif"):

        @case(f"write the output as {suffix}")
        def written(suffix=suffix) -> str | None:
            source = image_file(f"in_{suffix[1:]}.png", Image.fromarray(pixels(12, 14)))
            return upscaled(source, work / f"out{suffix}", (14, 12))

    # Very small and very large
    for height, width in ((1, 1), (1, 40), (40, 1), (2, 3), (3, 3), (5, 700)):

        @case(f"upscale a {width}x{height} image")
        def small(height=height, width=width) -> str | None:
            source = image_file(
                f"tiny_{width}x{height}.png", Image.fromarray(pixels(height, width))
            )
            return upscaled(source, work / f"tiny_{width}x{height}_x3.png", (width, height))

    @case("upscale a 65x900 image in 64-pixel tiles")
    def thin_tiles() -> str | None:
        source = image_file("thin.png", Image.fromarray(pixels(65, 900)))
        return upscaled(source, work / "thin_x3.png", (900, 65), "--tile", "64")

    @case("upscale an image above the pixel limit (a decompression bomb)")
    def bomb() -> str | None:
        source = image_file("bomb.png", Image.new("L", (12000, 9000)))
        return refused([str(source), str(work / "bomb_x3.png")], work)

    @case("--tile 10 (below the minimum)")
    def small_tile() -> str | None:
        source = image_file("t.png", Image.fromarray(pixels(8, 8)))
        status, err = run_main(upscale_main, [str(source), str(work / "t3.png"), "--tile", "10"])
        return None if status == 2 and "at least 64" in err else f"exit {status}: {err[-200:]}"

    # Video containers and codecs
    for codec, suffix in (("MJPG", ".avi"), ("mp4v", ".mp4"), ("XVID", ".avi"), ("MJPG", ".mkv")):

        @case(f"upscale a {codec} {suffix} video")
        def video(codec=codec, suffix=suffix) -> str | None:
            source = work / f"clip_{codec}{suffix}"
            write_video(source, [pixels(24, 32) for _ in range(3)], codec)
            return upscaled(source, work / f"clip_{codec}_x3{suffix}", (32, 24))

    for suffix in (".mov", ".m4v", ".mkv"):

        @case(f"write the upscaled video as {suffix}")
        def container(suffix=suffix) -> str | None:
            source = work / f"c{suffix[1:]}.avi"
            write_video(source, [pixels(16, 20) for _ in range(2)], "MJPG")
            return upscaled(source, work / f"c_x3{suffix}", (20, 16))

    @case("upscale a one-frame video")
    def one_frame() -> str | None:
        source = work / "one.avi"
        write_video(source, [pixels(16, 16)], "MJPG")
        return upscaled(source, work / "one_x3.avi", (16, 16))

    @case("upscale a grey-looking video")
    def grey_video() -> str | None:
        source = work / "grey.avi"
        frame = np.repeat(pixels(16, 18, 1)[..., None], 3, axis=2)
        write_video(source, [frame, frame], "MJPG")
        return upscaled(source, work / "grey_x3.avi", (18, 16))

    @case("upscale a video truncated in the middle")
    def truncated_video() -> str | None:
        source = work / "cut.avi"
        write_video(source, [pixels(24, 32) for _ in range(6)], "MJPG")
        data = source.read_bytes()
        source.write_bytes(data[: len(data) // 2])
        status, err = run_main(upscale_main, [str(source), str(work / "cut_x3.avi")])
        whole = status == 0 and cv2.VideoCapture(str(work / "cut_x3.avi")).isOpened()
        return None if whole or clean_refusal(status, err) else f"exit {status}: {err[-200:]}"

    @case("upscale a text file named .mp4")
    def fake_video() -> str | None:
        (work / "fake.mp4").write_text("not a video")
        return refused([str(work / "fake.mp4"), str(work / "fake_x3.mp4")], work)

    @case("upscale a video into an image output")
    def video_to_image() -> str | None:
        source = work / "v2i.avi"
        write_video(source, [pixels(16, 16)] * 2, "MJPG")
        return refused([str(source), str(work / "v2i.png")], work)

    @case("upscale an animated GIF into a video")
    def gif_video() -> str | None:
        frames = [Image.fromarray(pixels(16, 20)) for _ in range(3)]
        frames[0].save(work / "anim.gif", save_all=True, append_images=frames[1:])
        return upscaled(work / "anim.gif", work / "anim_x3.mp4", (20, 16))

    @case("upscale an animated GIF into a still image")
    def gif_still() -> str | None:
        return refused([str(work / "anim.gif"), str(work / "anim_x3.png")], work)

    # Names and paths
    for name in ("ünïcödé photo.png", "-dash.png", "x" * 240 + ".png", "tab\tname.png"):

        @case(f"an output named {name[:24]!r}")
        def named(name=name) -> str | None:
            source = image_file("named_src.png", Image.fromarray(pixels(10, 10)))
            return upscaled(source, work / "names" / name, (10, 10))

    @case("an output whose folder is a file")
    def folder_is_file() -> str | None:
        (work / "blocker").write_text("x")
        source = image_file("b.png", Image.fromarray(pixels(8, 8)))
        return refused([str(source), str(work / "blocker" / "out.png")], work)

    @case("the output is the input")
    def same_file() -> str | None:
        source = image_file("same.png", Image.fromarray(pixels(8, 8)))
        return refused([str(source), str(source), "--overwrite"], work)

    @case("an existing output without --overwrite")
    def exists() -> str | None:
        source = image_file("e.png", Image.fromarray(pixels(8, 8)))
        (work / "e_x3.png").write_bytes(b"mine")
        problem = refused([str(source), str(work / "e_x3.png")], work)
        return problem or (None if (work / "e_x3.png").read_bytes() == b"mine" else "overwritten")

    @case("an empty folder as input")
    def empty_folder() -> str | None:
        (work / "empty").mkdir()
        return refused([str(work / "empty"), str(work / "empty_out")], work)

    @case("a folder with a non-image among images")
    def mixed_folder() -> str | None:
        folder = work / "mixed"
        folder.mkdir()
        Image.fromarray(pixels(8, 8)).save(folder / "a.png")
        (folder / "notes.txt").write_text("notes")
        status, err = run_main(upscale_main, [str(folder), str(work / "mixed_out")])
        return None if status == 0 and (work / "mixed_out" / "a.png").is_file() else err[-200:]

    @case("a truncated PNG in a folder of images: the error says what was written before it")
    def broken_in_folder() -> str | None:
        folder = work / "broken"
        folder.mkdir()
        Image.fromarray(pixels(8, 8)).save(folder / "a.png")
        data = (folder / "a.png").read_bytes()
        (folder / "b.png").write_bytes(data[: len(data) // 2])
        status, err = run_main(upscale_main, [str(folder), str(work / "broken_out")])
        says = "1 of 2 images were upscaled into" in err
        return None if clean_refusal(status, err) and says else f"exit {status}: {err[-200:]}"

    # Models and engines
    @case("--model a missing file")
    def missing_model() -> str | None:
        source = image_file("m.png", Image.fromarray(pixels(8, 8)))
        return refused([str(source), str(work / "m3.png"), "--model", str(work / "nope.pt")], work)

    @case("--model a text file named .pt")
    def text_model() -> str | None:
        (work / "bad.pt").write_text("weights")
        source = image_file("m2.png", Image.fromarray(pixels(8, 8)))
        return refused([str(source), str(work / "m23.png"), "--model", str(work / "bad.pt")], work)

    @case("--model x2 with --scale 3")
    def wrong_scale() -> str | None:
        source = image_file("m4.png", Image.fromarray(pixels(8, 8)))
        args = [str(source), str(work / "m43.png"), "--model", "espcn_x2_relu_291", "--scale", "3"]
        return refused(args, work)

    @case("--scale 5 (no shipped model)")
    def scale_five() -> str | None:
        source = image_file("m5.png", Image.fromarray(pixels(8, 8)))
        return refused([str(source), str(work / "m53.png"), "--scale", "5"], work)

    @case("--engine half on a CPU")
    def half_cpu() -> str | None:
        source = image_file("h.png", Image.fromarray(pixels(8, 8)))
        return refused(
            [str(source), str(work / "h3.png"), "--engine", "half", "--device", "cpu"], work
        )

    # Exports
    @case("export to an existing file without --overwrite")
    def export_exists() -> str | None:
        (work / "m.onnx").write_bytes(b"mine")
        problem = refused(["--onnx", str(work / "m.onnx")], work, export_main)
        return problem or (None if (work / "m.onnx").read_bytes() == b"mine" else "overwritten")

    @case("export to /proc")
    def export_proc() -> str | None:
        return refused(["--onnx", "/proc/espcn.onnx"], work, export_main)

    @case("export with neither --onnx nor --hub")
    def export_nothing() -> str | None:
        return refused([], work, export_main)

    @case("export killed with SIGKILL mid-write")
    def export_killed() -> str | None:
        target = work / "killed" / "m.onnx"
        command = [sys.executable, "-m", "espcn_lightning.export", "--onnx", str(target)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(4.0)
        process.send_signal(signal.SIGKILL)
        process.wait()
        if target.exists():
            import onnx

            onnx.load(str(target))  # whole if it is there at all
        return None

    # Concurrent commands on one output
    @case("two upscales into one output at once")
    def concurrent_upscale() -> str | None:
        source = image_file("c.png", Image.fromarray(pixels(200, 300)))
        target = work / "c_x3.png"
        command = [sys.executable, "-m", "espcn_lightning.upscale", str(source), str(target)]
        first = subprocess.Popen([*command, "--overwrite"], stderr=subprocess.PIPE, text=True)
        second = subprocess.Popen([*command, "--overwrite"], stderr=subprocess.PIPE, text=True)
        first.communicate()
        second.communicate()
        whole = Image.open(target).size == (900, 600)
        return None if whole and no_partials(work) else "a partial or broken output"

    @case("two exports into one file at once")
    def concurrent_export() -> str | None:
        target = work / "both.onnx"
        command = [sys.executable, "-m", "espcn_lightning.export", "--onnx", str(target)]
        runs = [
            subprocess.Popen([*command, "--overwrite"], stderr=subprocess.DEVNULL) for _ in range(2)
        ]
        for process in runs:
            process.wait()
        import onnx

        onnx.load(str(target))
        return None if no_partials(work) else "scratch files left"

    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.hostile_pass", description=__doc__)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("ESPCN_MAX_PIXELS", "100000000")
        failures = 0
        todo = cases(work)
        for name, check in todo:
            try:
                problem = check()
            except Exception as bug:  # the case itself broke: that is a finding too
                problem = f"{type(bug).__name__}: {bug}"
            failures += problem is not None
            print(f"{name}: {'held' if problem is None else f'FAILED: {problem}'}")
        print(f"hostile pass: {len(todo)} cases, {len(todo) - failures} held, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
