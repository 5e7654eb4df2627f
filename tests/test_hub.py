"""Models in the Hugging Face Hub's format: the shipped models are folders of safetensors, config
and card; ESPCN.from_pretrained and save_pretrained round-trip them; bad files are refused in one
line. No network: what push_to_hub would upload is the folder save_pretrained writes."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from espcn_lightning import ESPCN, load_model
from espcn_lightning.core.errors import WeightsError
from espcn_lightning.export import main as export_main
from espcn_lightning.inference.pretrained import WEIGHTS_DIR, save_pretrained, shipped_models


@pytest.mark.parametrize("name", shipped_models())
def test_from_pretrained_of_every_shipped_model_equals_load_model_bit_for_bit(name):
    lr = torch.rand(2, 1, 21, 30)
    hub = ESPCN.from_pretrained(WEIGHTS_DIR / name).eval()
    with torch.no_grad():
        assert torch.equal(hub(lr), load_model(name)(lr))


def test_the_shipped_models_hold_no_pickle():
    files = {p.name for p in WEIGHTS_DIR.rglob("*") if p.is_file()}
    assert files == {"model.safetensors", "config.json", "README.md"}


def test_save_pretrained_writes_what_push_to_hub_uploads_and_loads_back(tmp_path):
    net = load_model("espcn_x3_relu_291")
    folder = save_pretrained(net, tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    config = json.loads((folder / "config.json").read_text())
    assert config["scale"] == 3 and config["provenance"]["commit"]
    card = (folder / "README.md").read_text()
    assert "| Set5 | 32.96 |" in card and "experiment=zoo_x3" in card and "license: mit" in card
    back = load_model(folder)
    assert all(
        torch.equal(a, b)
        for a, b in zip(net.state_dict().values(), back.state_dict().values(), strict=True)
    )


def test_save_pretrained_never_overwrites_a_folder(tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(WeightsError, match="exists; give a new folder"):
        save_pretrained(load_model("espcn_x2_relu_291"), tmp_path / "model")


@pytest.mark.parametrize("fault", ["wrong shape", "extra key"])
def test_safetensors_of_another_shape_or_with_extra_keys_are_refused_in_one_line(tmp_path, fault):
    folder = save_pretrained(load_model("espcn_x2_relu_291"), tmp_path / "model")
    state = load_file(folder / "model.safetensors")
    if fault == "wrong shape":
        state["tail.bias"] = torch.zeros(5)
    else:
        state["extra.weight"] = torch.zeros(1)
    save_file(state, folder / "model.safetensors")
    with pytest.raises(WeightsError) as info:
        load_model(folder)
    assert "\n" not in str(info.value) and "weights do not fit" in str(info.value)
    with pytest.raises(RuntimeError):
        ESPCN.from_pretrained(folder)


def test_export_writes_a_hub_folder_that_loads_back(tmp_path, capsys):
    assert export_main(["--model", "espcn_x4_relu_291", "--hub", str(tmp_path / "x4")]) == 0
    assert load_model(tmp_path / "x4").scale == 4
    assert export_main(["--hub", str(tmp_path / "x4")]) == 1
    assert "exists; give a new folder" in capsys.readouterr().err
