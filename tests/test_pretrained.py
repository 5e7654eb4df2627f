"""Weights files: shipped models load safely and reproduce the numbers the docs publish."""

import json
import pickle
import re
from pathlib import Path

import pytest
import torch

from espcn_lightning import load_model
from espcn_lightning.core.degradations import Bicubic
from espcn_lightning.core.errors import WeightsError
from espcn_lightning.core.network import ESPCN
from espcn_lightning.evaluation.protocol import evaluate
from espcn_lightning.inference.engines import network_upscaler
from espcn_lightning.inference.pretrained import WEIGHTS_DIR, save_weights, shipped_models

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results.md"
SHIPPED = [
    "espcn_x3_tanh_t91",
    "espcn_x3_relu_t91",
    "espcn_x2_relu_291",
    "espcn_x3_relu_291",
    "espcn_x4_relu_291",
]


def published_psnr(model: str) -> dict[str, float]:
    """The Set5 / Set14 PSNR the docs' Results page gives for a shipped model: the first table
    row that names it in its first cell and has a number next."""
    for line in RESULTS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        named = cells[0].startswith(f"`{model}`")
        if named and len(cells) > 2 and cells[1].replace(".", "").isdigit():
            return {"Set5": float(cells[1]), "Set14": float(cells[2])}
    raise AssertionError(f"docs/results.md has no results row for {model}")


def test_the_shipped_models_ship_with_their_provenance():
    assert set(SHIPPED) <= set(shipped_models())
    for name in SHIPPED:
        config = json.loads((WEIGHTS_DIR / name / "config.json").read_text())
        meta = config["provenance"]
        assert f"_x{config['scale']}_" in name
        assert meta["command"].startswith("python -m espcn_lightning.train")
        assert (
            meta["train_seconds"] > 0
            and meta["epochs"] > 0
            and re.fullmatch(r"[0-9a-f]{7,}", meta["commit"])
        )


def test_load_model_returns_an_eval_mode_network_that_upscales_by_its_scale():
    net = load_model("espcn_x3_tanh_t91")
    assert not net.training and net.scale == 3
    assert net(torch.rand(2, 1, 10, 12)).shape == (2, 1, 30, 36)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_reproduce_the_published_psnr_on_set5_and_set14(data_dir, name):
    net = load_model(name)
    result = evaluate(
        network_upscaler(net), Bicubic(net.scale), net.scale, data_dir, ["Set5", "Set14"]
    )
    for dataset, expected in published_psnr(name).items():
        assert result["datasets"][dataset]["psnr"] == pytest.approx(expected, abs=0.01)


def test_weights_round_trip_through_pt_and_json(tmp_path):
    net = ESPCN(scale=2, activation="relu", widths=(8, 4))
    path = save_weights(net, tmp_path / "tiny.pt", {"note": "test"})
    loaded = load_model(path)
    assert loaded.config() == net.config()
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)


class Exploit:
    def __reduce__(self):
        return (Path.touch, (Path(__file__).parent / "PWNED",))


def test_loading_never_executes_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"weights": Exploit()}))
    with pytest.raises(WeightsError, match="evil.pt: not a loadable weights file"):
        load_model(path)
    assert not (Path(__file__).parent / "PWNED").exists()


def test_a_file_that_is_not_a_checkpoint_is_refused_in_one_line(tmp_path):
    path = tmp_path / "notes.ckpt"
    path.write_text("hello")
    with pytest.raises(WeightsError, match=r"notes.ckpt: not a loadable weights file") as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_a_model_for_another_scale_is_refused():
    with pytest.raises(WeightsError, match="model is for x3, not x4"):
        load_model("espcn_x3_tanh_t91", scale=4)


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = save_weights(ESPCN(widths=(8, 4)), tmp_path / "small.pt")
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["config"]["widths"] = [64, 32]
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="small.pt: weights do not fit"):
        load_model(path)


def test_an_unknown_name_lists_the_shipped_models():
    with pytest.raises(WeightsError, match="espcn_x3_tanh_t91"):
        load_model("no_such_model")


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [('{"config": {"scale": 3,', "tiny.json: not valid JSON"), ('{"note": 1}', 'no "config"')],
)
def test_a_pt_whose_json_is_malformed_or_lacks_config_is_refused_in_one_line(
    tmp_path, sidecar, message
):
    path = save_weights(ESPCN(widths=(8, 4)), tmp_path / "tiny.pt")
    path.with_suffix(".json").write_text(sidecar)
    with pytest.raises(WeightsError, match=message) as info:
        load_model(path)
    assert "\n" not in str(info.value)


def test_a_config_that_is_not_an_espcn_is_refused_in_one_line(tmp_path):
    path = save_weights(ESPCN(widths=(8, 4)), tmp_path / "tiny.pt")
    path.with_suffix(".json").write_text(json.dumps({"config": {"scale": 3, "depth": 9}}))
    with pytest.raises(WeightsError, match="does not describe an ESPCN"):
        load_model(path)
