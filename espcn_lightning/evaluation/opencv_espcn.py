"""OpenCV's own ESPCN models (the ``dnn_superres`` ones), scored here as a reference column.

Their weights are TensorFlow graphs (fannymonori/TF-ESPCN, ``export/ESPCN_x{2,3,4}.pb``, Apache
2.0), fetched pinned and hashed like the datasets. OpenCV 5 no longer reads TensorFlow graphs, so
the three convolutions are read from the graph with TensorBoard's copy of TensorFlow's protobuf
definitions and run by ``TFESPCN``: conv 5x5 64, ReLU, conv 3x3 32, ReLU, conv 3x3 r^2,
depth-to-space, tanh, on Y / 255 (the graph's ``IteratorGetNext`` input).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pooch
import torch
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.util.tensor_util import make_ndarray
from torch import nn

from espcn_lightning.core.errors import DataError
from espcn_lightning.datasets.download import Download, check_mirror, default_mirror, fetch_all
from espcn_lightning.evaluation.upscalers import Candidate
from espcn_lightning.inference.engines import network_upscaler

REPOSITORY = "fannymonori/TF-ESPCN"
COMMIT = "5c628eca82028161a53e1265cc3a5b571ab8625f"
#: SHA256 and size of each scale's graph at that commit.
FILES = {
    2: ("59f77351e1d7c0057bf6fe088b4a8a07e42c468c8c8aebb674a6b4ea1823221d", 86446),
    3: ("0e667db7a431d14c32568ed79bf21701a64df8b1d162e48ca1f8800affe2c2b3", 92226),
    4: ("e403f06309229cf36009cd8fb0da032ba7643fae9f15cf94fe562e8edf8fef47", 100323),
}
#: Where the graphs are kept unless a folder is given: the user's cache (pooch's convention).
CACHE = pooch.os_cache("espcn-lightning") / "OpenCV_ESPCN"


class TFESPCN(nn.Module):
    """The network of a TF-ESPCN graph: its weights in PyTorch layout, its output through tanh."""

    def __init__(self, weights: dict[str, np.ndarray], scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.convs = nn.ModuleList()
        for index in (1, 2, 3):
            kernel = torch.from_numpy(weights[f"f{index}"]).permute(3, 2, 0, 1).float()
            conv = nn.Conv2d(kernel.shape[1], kernel.shape[0], kernel.shape[-1], padding="same")
            conv.weight.data.copy_(kernel)
            assert conv.bias is not None
            conv.bias.data.copy_(torch.from_numpy(weights[f"b{index}"]).float())
            self.convs.append(conv)
        if self.convs[-1].out_channels != scale**2:
            raise DataError(f"the TF-ESPCN graph for x{scale} has a last layer of another scale")

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """(N, 1, h, w) Y / 255 to (N, 1, rh, rw)."""
        features = torch.relu(self.convs[1](torch.relu(self.convs[0](lr))))
        return torch.tanh(nn.functional.pixel_shuffle(self.convs[2](features), self.scale))


def read_graph(path: Path, scale: int) -> TFESPCN:
    """The network in a TF-ESPCN ``.pb`` graph (its Const nodes f1-f3, b1-b3)."""
    graph = GraphDef()
    graph.ParseFromString(path.read_bytes())
    weights = {
        node.name: make_ndarray(node.attr["value"].tensor)
        for node in graph.node
        if node.op == "Const" and node.name in {"f1", "f2", "f3", "b1", "b2", "b3"}
    }
    if len(weights) != 6:
        raise DataError(f"{path} is not a TF-ESPCN graph (no f1-f3, b1-b3 weights); delete it")
    return TFESPCN(weights, scale).eval()


def graph_path(scale: int, folder: str | Path | None = None, mirror: str | None = None) -> Path:
    """The x``scale`` graph in ``folder`` (default: ``CACHE``), fetched and verified if missing."""
    if scale not in FILES:
        raise DataError(f"OpenCV ships ESPCN at x2, x3 and x4 only, not x{scale}")
    name = f"ESPCN_x{scale}.pb"
    target = Path(folder or CACHE) / name
    if not target.exists():
        sha256, size = FILES[scale]
        base = check_mirror(mirror or default_mirror())
        url = f"{base}/{REPOSITORY}/{COMMIT}/export/{name}"
        job = Download(url, sha256, size, name, f"OpenCV ESPCN {name}")

        def keep(item: Download, path: Path) -> None:
            path.replace(target)

        fetch_all([job], target.parent / ".download", keep)
    return target


def opencv_espcn(scale: int, folder: str | Path | None = None) -> Candidate:
    """OpenCV's shipped ESPCN at ``scale`` as an upscaler to score (fetched into ``folder``)."""
    net = read_graph(graph_path(scale, folder), scale)
    return Candidate(network_upscaler(net), f"OpenCV ESPCN x{scale}", "relu")
