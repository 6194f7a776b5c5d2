"""common.bench: timing a chapter through its make_bench(cfg), with a fake chapter in a tmp folder."""

from __future__ import annotations

import importlib
import json
import re
import sys
import textwrap

import numpy as np
import pytest

from common.bench import count_parameters, format_report, main, run_bench, time_calls

CONFIG = '''
from dataclasses import dataclass

@dataclass
class Config:
    hidden: int = 64
    lr: float = 0.1

PRESETS = {"smoke": {"hidden": 2}, "cpu": {"hidden": 8}, "paper": {}}
'''

TRAIN = '''
import torch
from torch import nn
from common.bench import Bench

CALLS = {"update": 0, "act": 0}

def make_bench(cfg):
    net = nn.Linear(cfg.hidden, 1)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr)
    x = torch.randn(16, cfg.hidden)

    def update():
        CALLS["update"] += 1
        loss = net(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    def act():
        CALLS["act"] += 1
        with torch.no_grad():
            net(x[:1])

    return Bench(update=update, act=act, modules=[net, net], act_label="policy step", note="a fake")
'''


@pytest.fixture
def chapter(tmp_path, monkeypatch):
    """A chapter package `fakechapter_<n>` on sys.path; yields its name."""
    name = "fakechapter_" + re.sub(r"\W", "_", tmp_path.name)
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text(textwrap.dedent(CONFIG))
    (package / "train.py").write_text(textwrap.dedent(TRAIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for module in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[module]


def test_run_bench_times_update_and_act(chapter):
    result = run_bench(chapter, preset="cpu", target="student", repeats=7, budget_s=0.05)
    calls = sys.modules[f"{chapter}.train"].CALLS
    assert result["update"]["repeats"] == 7 and result["act"]["repeats"] == 7
    assert calls["update"] >= 8 and calls["act"] >= 8  # warm-up calls, then the timed ones
    for name in ("update", "act"):
        r = result[name]
        assert 0 < r["q25_s"] <= r["median_s"] <= r["q75_s"] < 1.0
    assert result["parameters"] == 8 + 1  # preset cpu: Linear(8, 1), the shared module counted once
    assert result["preset"] == "cpu" and result["act_label"] == "policy step"
    assert result["peak_memory_mib"] > 10 and result["torch_threads"] >= 1


def test_main_prints_a_report_and_writes_json(chapter, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main([chapter, "--target", "student", "--preset", "smoke", "--repeats", "3", "--budget", "0.05",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "gradient update" in text and " s " in text and "policy step" in text and " ms " in text
    assert re.search(r"parameters +3\n", text) and "peak memory" in text and "note: a fake" in text
    data = json.loads(out.read_text())
    assert data["parameters"] == 3 and data["update"]["repeats"] == 3


def test_parts_are_timed_on_their_own_and_reported_under_the_update(chapter, capsys):
    train = importlib.import_module(f"{chapter}.train")
    original = train.make_bench

    def with_parts(cfg):
        bench = original(cfg)
        bench.parts = {"first half": bench.update, "second half": bench.act}
        return bench

    train.make_bench = with_parts
    result = run_bench(chapter, preset="cpu", target="student", repeats=3, budget_s=0.05)
    assert list(result["parts"]) == ["first half", "second half"]
    assert all(r["repeats"] == 3 and r["median_s"] > 0 for r in result["parts"].values())
    lines = format_report(result).splitlines()
    at = next(i for i, line in enumerate(lines) if "gradient update" in line)
    assert lines[at + 1].lstrip().startswith("first half") and lines[at + 2].lstrip().startswith("second half")


def test_unknown_paper_is_one_sentence():
    with pytest.raises(SystemExit) as info:
        main(["paper9_nothing", "--repeats", "1"])
    message = str(info.value)
    assert "paper9_nothing" in message and "known chapters are" in message
    assert "\n" not in message and message.endswith(".")
    with pytest.raises(SystemExit, match="no chapter"):
        run_bench("os.path", target="student")


def test_chapter_without_make_bench_and_bad_preset(chapter):
    with pytest.raises(SystemExit, match="unknown preset 'fast'"):
        run_bench(chapter, preset="fast", target="student", repeats=1)
    train = sys.modules.get(f"{chapter}.train") or __import__(f"{chapter}.train", fromlist=["x"])
    del train.make_bench
    with pytest.raises(SystemExit, match="has no make_bench"):
        run_bench(chapter, target="student", repeats=1)


def test_time_calls_uses_the_budget_within_bounds():
    calls = []
    times = time_calls(lambda: calls.append(1), budget_s=0.02, min_repeats=5, max_repeats=50)
    assert 5 <= len(times) <= 50 and np.all(times >= 0)
    assert len(calls) >= len(times) + 1
    assert len(time_calls(lambda: None, budget_s=0.5, repeats=4)) == 4


def test_count_parameters_counts_shared_tensors_once():
    from torch import nn

    a = nn.Linear(2, 3)
    b = nn.Sequential(a, nn.Linear(3, 1))
    assert count_parameters([a, b]) == (2 * 3 + 3) + (3 + 1)


def test_the_student_target_is_the_default_and_the_report_says_what_it_timed(chapter, capsys):
    assert main([chapter, "--preset", "smoke", "--repeats", "2", "--budget", "0.01"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert f"timed your code in {chapter}/ (--target student)" in first, first


def test_an_unwritten_step_is_one_sentence(chapter):
    train = __import__(f"{chapter}.train", fromlist=["x"])

    def make_bench(cfg):
        raise NotImplementedError("TODO(9.1): multiply every entry by two.")

    train.make_bench = make_bench
    with pytest.raises(SystemExit) as info:
        run_bench(chapter, repeats=1)
    message = str(info.value)
    assert "TODO(9.1)" in message and "--target solution" in message and "\n" not in message


def test_set_changes_the_preset_and_bad_sets_are_one_sentence(chapter, capsys):
    result = run_bench(chapter, preset="cpu", target="student", repeats=2, budget_s=0.05, sets=["hidden=5"])
    assert result["parameters"] == 5 + 1 and result["sets"] == {"hidden": 5}  # Linear(5, 1)
    for name in ("update", "act"):
        assert 0 <= result[name]["cpu_median_s"] < 1.0
    assert main([chapter, "--repeats", "2", "--budget", "0.05", "--set", "hidden=3"]) == 0
    text = capsys.readouterr().out
    assert "--set hidden=3" in text and "CPU time" in text
    for bad, says in (["width=3"], "FIELD one of hidden"), (["hidden=three"], "'three' is not a valid int"):
        with pytest.raises(SystemExit, match=says):
            run_bench(chapter, target="student", repeats=1, sets=bad)
