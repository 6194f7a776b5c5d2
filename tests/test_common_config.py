"""common.config: the flags every chapter's train.py shares (chapter_parser, parse_chapter_args)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from common.config import chapter_parser, parse_chapter_args


@dataclass
class Config:
    env: str = "Pendulum-v1"
    seed: int = 0
    device: str = "cpu"
    steps: int = 1000


PRESETS = {"smoke": {"steps": 10}, "cpu": {}, "paper": {}}
DOC = "Train something.\n\nMore words."


def parse(argv):
    parser = chapter_parser(Config, PRESETS, DOC, "solutions.paper9_test", ("model", "planner"))
    return parser, parse_chapter_args(parser, Config, PRESETS, argv)


def test_chapter_flags_and_defaults() -> None:
    parser, (cfg, args) = parse(["--preset", "smoke", "--seed", "3", "--out", "x", "--use-solution", "model"])
    assert (cfg.steps, cfg.seed, args.out, args.resume, args.use_solution) == (10, 3, "x", None, "model")
    assert parser.description == "Train something."
    text = parser.format_help()
    assert "runs/paper9_test/<env>/<time>-s<seed>" in text and "model,planner (or all)" in text


def test_a_chapter_adds_its_own_flags() -> None:
    parser = chapter_parser(Config, PRESETS, DOC, "paper9_test", ("model",))
    parser.add_argument("--reuse", metavar="RUN_DIR")
    _, args = parse_chapter_args(parser, Config, PRESETS, ["--reuse", "old"])
    assert args.reuse == "old"


def test_unknown_env_is_one_sentence(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(["--env", "NoSuchEnv-v0"])
    assert exit_info.value.code == 2
    assert "unknown env id 'NoSuchEnv-v0'; known ids:" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_sentence(capsys) -> None:
    with pytest.raises(SystemExit):
        parse(["--device", "cuda"])
    assert "asked for a GPU, but torch sees none" in capsys.readouterr().err
