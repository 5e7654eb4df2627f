"""`data download` against a mirror this test serves on 127.0.0.1: upstream-format files (BMP for
Set5/Set14, the original JPEGs for BSD100) made from the benchmark images, and a manifest for them.
No test sends traffic anywhere else."""

import dataclasses
import hashlib
import http.server
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from espcn_lightning.core.errors import DataError
from espcn_lightning.core.images import is_image_file, read_image
from espcn_lightning.data import main
from espcn_lightning.datasets.catalogue import MANIFEST, verify
from espcn_lightning.datasets.download import STAGING, DownloadError, fetch_datasets
from espcn_lightning.datasets.manifest import is_reference, load_manifest

ROOT = Path(__file__).resolve().parents[1]
SETS = ["Set5", "Set14", "BSD100"]


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    """Serves <root>/<path> with Range support, and the faults a test asks for by path."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        path = unquote(self.path.lstrip("/"))
        byte_range = self.headers.get("Range")
        server.requests.append((path, byte_range))
        fault = server.faults.get(path)
        if fault == "hang":
            server.release.wait(20)
            return
        file = server.root / path
        if fault == "404" or not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        if fault == "corrupt":
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        start = int(byte_range.removeprefix("bytes=").split("-")[0]) if byte_range else 0
        self.send_response(206 if byte_range else 200)
        if byte_range:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if fault == "truncate-once":
            del server.faults[path]
            body = body[: len(body) // 2]
            self.close_connection = True
        for offset in range(0, len(body), 1 << 16):
            self.wfile.write(body[offset : offset + (1 << 16)])
            time.sleep(server.delay)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Loopback traffic must go straight to the test's server, never through a proxy."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("ESPCN_DATA_MIRROR", raising=False)


@pytest.fixture(scope="module")
def mirror_files(data_dir, tmp_path_factory):
    """Upstream files made from the benchmark images, laid out as a mirror, and their manifest."""
    root = tmp_path_factory.mktemp("mirror")
    datasets = {}
    for name in SETS:
        dataset = MANIFEST[name]
        entries = []
        for entry in dataset.files:
            target = root / dataset.repository / dataset.commit / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.suffix == ".bmp":
                with Image.open(data_dir / name / entry.name) as image:
                    image.save(target, format="BMP")
            else:
                target.write_bytes((data_dir / name / entry.name).read_bytes())
            data = target.read_bytes()
            sha256 = hashlib.sha256(data).hexdigest()
            entries.append(dataclasses.replace(entry, sha256=sha256, size=len(data)))
        spec = dataclasses.asdict(dataclasses.replace(dataset, files=tuple(entries)))
        del spec["name"]
        datasets[name] = spec
    manifest_file = root / "manifest.json"
    manifest_file.write_text(json.dumps({"datasets": datasets}))
    return root, manifest_file


@pytest.fixture
def server(mirror_files):
    """An HTTP server on a free loopback port, serving the mirror; faults set per test."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), MirrorHandler)
    httpd.daemon_threads = True
    httpd.root, httpd.faults, httpd.requests = mirror_files[0], {}, []
    httpd.release, httpd.delay = threading.Event(), 0.0
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def manifest(mirror_files):
    return load_manifest(mirror_files[1])


def upstream_path(manifest, name, stem):
    """The mirror path of one image, as the server sees it."""
    dataset = manifest[name]
    entry = dataset.entries_by_stem()[stem]
    return f"{dataset.repository}/{dataset.commit}/{entry.path}"


def fetch(target, server, manifest, names=("Set5",), **options):
    options = {"retries": 0, "timeout": 5.0, "progress": False} | options
    return fetch_datasets([manifest[name] for name in names], target, server.url, **options)


def cli(target, server, manifest_file, *names, timeout=5):
    """The data CLI's download command against the test server, as a user types it."""
    args = ["--manifest", str(manifest_file), "download", *names, "--to", str(target)]
    return main([*args, "--mirror", server.url, "--retries", "0", "--timeout", str(timeout)])


def dataset_folder_is_clean(folder, manifest, name):
    """Every file in a set's folder is one of its images, complete and verified."""
    entries = manifest[name].entries_by_stem()
    for path in folder.iterdir() if folder.is_dir() else []:
        assert is_image_file(path) and path.stem in entries, f"stray file {path}"
        assert is_reference(path, entries[path.stem]), f"{path} is not the verified image"


def test_a_complete_fetch_is_pixel_identical_to_the_reference_copy(
    tmp_path, server, manifest, data_dir
):
    fetched = fetch(tmp_path, server, manifest, SETS, workers=4)
    assert fetched.counts == {"Set5": 5, "Set14": 14, "BSD100": 100}
    assert fetched.differing == []
    for name in SETS:
        names = sorted(p.name for p in (tmp_path / name).iterdir())
        assert names == sorted(p.name for p in (data_dir / name).iterdir() if is_image_file(p))
        for path in (tmp_path / name).iterdir():
            assert np.array_equal(read_image(path), read_image(data_dir / name / path.name)), path
    assert verify(tmp_path, SETS, manifest) == []
    assert not (tmp_path / STAGING).exists()


def test_a_second_run_downloads_nothing(tmp_path, server, manifest):
    fetch(tmp_path, server, manifest)
    server.requests.clear()
    assert fetch(tmp_path, server, manifest).counts == {"Set5": 0}
    assert server.requests == []


def test_an_interrupted_transfer_is_resumed_where_it_stopped(tmp_path, server, manifest):
    path = upstream_path(manifest, "Set5", "baby")
    size = (server.root / path).stat().st_size
    server.faults[path] = "truncate-once"
    with pytest.raises(DownloadError, match="Set5/baby.png"):
        fetch(tmp_path, server, manifest, workers=1)
    kept = next((tmp_path / STAGING).rglob("baby_GT.bmp.part")).stat().st_size
    assert size // 3 < kept <= size // 2
    assert not (tmp_path / "Set5" / "baby.png").exists()
    server.requests.clear()
    fetch(tmp_path, server, manifest, workers=1)
    assert (path, f"bytes={kept}-") in server.requests
    dataset_folder_is_clean(tmp_path / "Set5", manifest, "Set5")
    assert len(list((tmp_path / "Set5").iterdir())) == 5


def test_a_dropped_connection_is_retried_and_resumed_in_the_same_run(tmp_path, server, manifest):
    path = upstream_path(manifest, "Set5", "bird")
    server.faults[path] = "truncate-once"
    assert fetch(tmp_path, server, manifest, retries=1).counts == {"Set5": 5}
    assert [r for p, r in server.requests if p == path][1].startswith("bytes=")


def test_a_corrupted_file_is_refused_and_kept_out_of_the_dataset_folder(
    tmp_path, server, manifest, mirror_files, capsys
):
    server.faults[upstream_path(manifest, "Set5", "head")] = "corrupt"
    assert cli(tmp_path, server, mirror_files[1], "Set5") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: Set5/head.png: the file received is not the pinned one")
    assert "Test/Set5/head_GT.bmp" in err[0] and "--mirror" in err[0]
    assert not (tmp_path / "Set5" / "head.png").exists()
    dataset_folder_is_clean(tmp_path / "Set5", manifest, "Set5")


def test_a_missing_file_ends_in_one_line_naming_the_file_the_url_and_the_fix(
    tmp_path, server, manifest, mirror_files, capsys
):
    path = upstream_path(manifest, "Set5", "woman")
    server.faults[path] = "404"
    assert cli(tmp_path, server, mirror_files[1], "Set5") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: Set5/woman.png: the server answered 404 Not Found ({server.url}/{path}); check "
        "the mirror (--mirror URL or ESPCN_DATA_MIRROR; files lie at "
        "<mirror>/<owner>/<repo>/<commit>/<path>), or copy the set in with "
        "`python -m espcn_lightning.data import SOURCE --name Set5`"
    ]


def test_a_server_that_stops_answering_times_out_with_a_clear_error(
    tmp_path, server, manifest, mirror_files, capsys
):
    server.faults[upstream_path(manifest, "Set5", "bird")] = "hang"
    start = time.monotonic()
    assert cli(tmp_path, server, mirror_files[1], "Set5", timeout=1) == 1
    assert time.monotonic() - start < 15
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: Set5/bird.png: no answer within 1 s (http://127.0.0.1:")
    assert "check the network or proxy (HTTPS_PROXY) and rerun to resume" in err[0]


def test_no_network_ends_in_one_line(tmp_path, mirror_files, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    args = ["--manifest", str(mirror_files[1]), "download", "Set5", "--to", str(tmp_path)]
    assert main([*args, "--mirror", f"http://127.0.0.1:{port}", "--retries", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "connection refused" in err[0] and "Set5/" in err[0]


def test_an_image_already_there_that_differs_is_kept_and_reported(tmp_path, server, manifest):
    folder = tmp_path / "Set5"
    folder.mkdir()
    mine = np.zeros((4, 4, 3), np.uint8)
    Image.fromarray(mine).save(folder / "baby.png")
    fetched = fetch(tmp_path, server, manifest)
    assert fetched.counts == {"Set5": 4}
    assert fetched.differing == [folder / "baby.png"]
    assert np.array_equal(read_image(folder / "baby.png"), mine)


def test_the_mirror_comes_from_the_environment(tmp_path, server, manifest, monkeypatch):
    monkeypatch.setenv("ESPCN_DATA_MIRROR", server.url)
    fetched = fetch_datasets([manifest["Set5"]], tmp_path, progress=False)
    assert fetched.counts == {"Set5": 5}


def test_a_complete_copy_elsewhere_is_not_written_to(server, manifest, data_dir):
    assert fetch(data_dir, server, manifest, SETS).counts == dict.fromkeys(SETS, 0)
    assert server.requests == [] and not (data_dir / STAGING).exists()


def kill_download_at_random_points(target, server, manifest_file, kills, seed):
    """Start `data download` and kill -9 it at a random moment after its first request, ``kills``
    times; yield the number of partial files each kill left."""
    rng = random.Random(seed)
    command = [sys.executable, "-m", "espcn_lightning.data", "--manifest", str(manifest_file)]
    command += ["download", *SETS, "--to", str(target), "--mirror", server.url, "--workers", "2"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    for _ in range(kills):
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        requests = len(server.requests)
        while process.poll() is None and len(server.requests) == requests:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL, "the download ended before it was killed"
        yield len(list((target / STAGING).rglob("*.part")))


@pytest.mark.slow
def test_download_killed_at_random_points_loses_nothing_and_leaves_nothing_half_written(
    tmp_path, server, manifest, mirror_files, data_dir
):
    server.delay = 0.04  # 16 MB at 3 MB/s: more than 8 kills of at most 0.5 s each let through
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "Set5").mkdir()
    (tmp_path / "Set5" / "baby.png").write_bytes((data_dir / "Set5" / "baby.png").read_bytes())
    partials = 0
    for left in kill_download_at_random_points(tmp_path, server, mirror_files[1], 8, seed=9):
        partials += left
        for name in SETS:
            dataset_folder_is_clean(tmp_path / name, manifest, name)
        assert (tmp_path / "notes.txt").read_text() == "mine"
    assert partials > 0  # some kills cut a file in half
    server.delay = 0.0
    final = subprocess.run(
        [sys.executable, "-m", "espcn_lightning.data", "--manifest", str(mirror_files[1])]
        + ["download", *SETS, "--to", str(tmp_path), "--mirror", server.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert final.returncode == 0, final.stderr
    assert "fetched" in final.stdout  # the kills left work for the last run
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert verify(tmp_path, SETS, manifest) == []
    assert not (tmp_path / STAGING).exists()


def test_every_file_that_cannot_be_fetched_is_named_not_only_the_first(tmp_path, server, manifest):
    for stem in ("bird", "head"):
        server.faults[upstream_path(manifest, "Set5", stem)] = "404"
    with pytest.raises(DownloadError) as info:
        fetch(tmp_path, server, manifest)
    message = str(info.value)
    assert "1 more files failed too" in message
    assert "Set5/bird" in message and "Set5/head" in message


def test_a_mirror_that_is_not_a_url_is_refused_before_anything_is_sent(tmp_path, manifest):
    with pytest.raises(DataError, match="--mirror 'not a url' is not a URL"):
        fetch_datasets([manifest["Set5"]], tmp_path, "not a url", retries=0, progress=False)


def test_a_complete_fetch_leaves_no_staging_files_behind_even_from_a_killed_one(
    tmp_path, server, manifest
):
    fetch(tmp_path, server, manifest)
    leftovers = tmp_path / STAGING / "owner"
    leftovers.mkdir(parents=True)
    (leftovers / "tmpabc123").write_bytes(b"")  # what a kill -9 mid-download leaves
    fetch(tmp_path, server, manifest)
    assert not (tmp_path / STAGING).exists()
