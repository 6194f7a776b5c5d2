"""common.chapter: the script bootstrap and the one-sentence errors."""

from __future__ import annotations

import pytest

from common.chapter import ROOT, load_modules, package_of, parse_use_solution, save_on_ctrl_c, start_run


def test_package_of_names_the_chapter_package() -> None:
    assert package_of(str(ROOT / "paper2_dreamerv1" / "train.py")) == "paper2_dreamerv1"
    assert package_of(str(ROOT / "solutions" / "paper2_dreamerv1" / "train.py")) == "solutions.paper2_dreamerv1"


def test_package_of_a_file_in_another_checkout_is_one_sentence(tmp_path) -> None:
    with pytest.raises(SystemExit, match="pip install -e"):
        package_of(str(tmp_path / "paper2_dreamerv1" / "train.py"))


def test_load_modules_wires_a_borrowed_module_into_the_students_code() -> None:
    """--use-solution rssm: the student's agent must run the reference RSSM, and the reference's modules
    that were not borrowed must stay the student's (common.chapter.load_modules, every chapter's mechanism)."""
    import importlib

    names = ("rssm", "agent")
    try:
        mods = load_modules("paper2_dreamerv1", names, {"rssm"})
        assert mods["rssm"].__name__ == "solutions.paper2_dreamerv1.rssm"
        assert mods["agent"].__name__ == "paper2_dreamerv1.agent"
        assert mods["agent"].RSSM is mods["rssm"].RSSM, "the student's agent must build the borrowed RSSM"
        mods = load_modules("solutions.paper2_dreamerv1", names, set())
        assert mods["agent"].RSSM is mods["rssm"].RSSM
        with pytest.raises(SystemExit, match="this chapter's modules are rssm, agent"):
            parse_use_solution("rsm", names)
        assert parse_use_solution("all", names) == set(names)
    finally:  # the wiring is module-global: put the imported names back for the other tests
        for package in ("paper2_dreamerv1", "solutions.paper2_dreamerv1"):
            importlib.reload(importlib.import_module(f"{package}.agent"))


def test_save_on_ctrl_c_saves_says_how_to_resume_and_exits_130(tmp_path, capsys) -> None:
    saved = []
    with save_on_ctrl_c(tmp_path, lambda: saved.append("checkpoint.pt")):
        pass
    assert saved == [], "no Ctrl-C: nothing saved by the helper"
    with pytest.raises(SystemExit) as exit_info, save_on_ctrl_c(tmp_path, lambda: saved.append("checkpoint.pt")):
        raise KeyboardInterrupt
    assert exit_info.value.code == 130 and saved == ["checkpoint.pt"]
    assert f"--resume {tmp_path}" in capsys.readouterr().out
    with pytest.raises(ValueError), save_on_ctrl_c(tmp_path, lambda: saved.append("again")):
        raise ValueError("other errors pass through")
    assert saved == ["checkpoint.pt"]


def test_resume_keeps_the_config_but_takes_a_new_time_budget(tmp_path) -> None:
    """A run its --minutes budget stopped goes on with --resume RUN_DIR --minutes M; nothing else changes."""
    from common.checkpoint import save_checkpoint
    from solutions.paper5_iris.config import Config

    saved = Config(seed=3, minutes=75.0, gamma=0.9)
    save_checkpoint(tmp_path / "checkpoint.pt", paper="paper5_iris", step=100, config=saved)
    given = Config(seed=0, minutes=120.0)  # what the command line parsed (defaults, preset and flags)
    cfg, run_dir, ckpt = start_run("paper5_iris", Config, given, str(tmp_path), None, 95.0)
    assert (cfg.minutes, cfg.seed, cfg.gamma) == (95.0, 3, 0.9) and run_dir == tmp_path and ckpt is not None
    cfg, _, _ = start_run("paper5_iris", Config, given, str(tmp_path), None, None)
    assert (cfg.minutes, cfg.seed) == (75.0, 3), "without --minutes the saved budget stands"
