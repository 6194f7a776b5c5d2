"""common.checkpoint: safe round trips (weights_only), atomic writes, one clear sentence per failure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from common.checkpoint import CheckpointError, cpu_state_dict, load_checkpoint, save_checkpoint

PAPER = "paper1_world_models"


def one_sentence(error: Exception) -> str:
    message = str(error)
    assert "\n" not in message and message.endswith("."), message
    return message


def save_example(path):
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_checkpoint(path, paper=PAPER, step=123, config={"z_dim": 32, "sizes": (1, 2), "env": "CarRacing-v3"},
                    net=net.state_dict(), optim=opt.state_dict(), es_mean=np.arange(4.0),
                    history=[np.float64(1.5), np.ones((2, 2), np.float32)], best=np.float32(2.5))
    return net


def test_round_trip_with_weights_only(tmp_path):
    path = tmp_path / "run" / "checkpoint.pt"
    net = save_example(path)
    raw = torch.load(path, weights_only=True)  # the file itself is safe to open
    assert raw["paper"] == PAPER and raw["version"] >= 1
    ckpt = load_checkpoint(path, PAPER)
    assert ckpt["step"] == 123 and ckpt["config"]["sizes"] == (1, 2) and ckpt["config"]["z_dim"] == 32
    fresh = nn.Linear(3, 2)
    fresh.load_state_dict(ckpt["net"])
    assert torch.equal(fresh.weight, net.weight)
    opt = torch.optim.Adam(fresh.parameters())
    opt.load_state_dict(ckpt["optim"])
    assert isinstance(ckpt["es_mean"], np.ndarray) and ckpt["es_mean"].tolist() == [0, 1, 2, 3]
    assert ckpt["history"][0] == 1.5 and isinstance(ckpt["history"][1], np.ndarray)
    assert ckpt["history"][1].dtype == np.float32 and ckpt["best"] == 2.5
    assert load_checkpoint(path, "solutions." + PAPER)["step"] == 123  # a package name works too


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("this object cannot be saved")


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_example(path)
    with pytest.raises(RuntimeError, match="cannot be saved"):  # the save fails half way
        save_checkpoint(path, paper=PAPER, step=999, config={}, net=torch.ones(1000), bad=Unpicklable())
    assert load_checkpoint(path, PAPER)["step"] == 123  # the previous checkpoint survived
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_reserved_payload_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "c.pt", paper=PAPER, step=0, config={}, version=3)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "nope.pt", PAPER)
    assert "No checkpoint at" in one_sentence(info.value) and "nope.pt" in str(info.value)


def test_truncated_file(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_example(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, PAPER)
    assert "truncated" in one_sentence(info.value)
    assert isinstance(info.value, ValueError)


def test_files_that_are_not_ours(tmp_path):
    torch.save({"state_dict": {"w": torch.ones(1)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "other.pt", PAPER)
    assert "not a checkpoint of this repo" in one_sentence(info.value)
    torch.save({"obj": nn.Linear(1, 1)}, tmp_path / "pickled.pt")  # a whole module: unsafe to unpickle
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "pickled.pt", PAPER)
    assert "not a checkpoint of this repo" in one_sentence(info.value)
    assert "Python objects" in str(info.value)
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "text.pt", PAPER)


def test_garbage_bytes_are_not_a_checkpoint(tmp_path):
    """Random bytes are no pickle at all: the sentence must not claim they hold Python objects."""
    for seed in range(5):
        path = tmp_path / f"garbage{seed}.pt"
        path.write_bytes(np.random.default_rng(seed).bytes(4096))
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path, PAPER)
        line = one_sentence(info.value)
        assert "is not a checkpoint" in line and "Python objects" not in line, line


def test_checkpoint_of_another_paper(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, paper="paper2_dreamerv1", step=1, config={})
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, PAPER)
    assert one_sentence(info.value) == f"{path} was saved by paper2_dreamerv1, not paper1_world_models."


def test_cpu_state_dict_is_the_state_dict_on_the_cpu():
    net = nn.Linear(3, 2)
    state = cpu_state_dict(net)
    assert state.keys() == net.state_dict().keys()
    assert all(v.device.type == "cpu" and torch.equal(v, net.state_dict()[k]) for k, v in state.items())
