"""Config helper: one dataclass of defaults per paper -> command-line flags, with presets.

Every chapter declares its defaults once, as a dataclass whose field defaults are the paper's settings
(the `paper` preset), and a dict of presets that override some fields:

    @dataclass
    class Config:
        env: str = "CarRacing-v3"
        seed: int = 0
        z_dim: int = 32  # paper §A.1

    PRESETS = {"smoke": {...}, "cpu": {...}, "paper": {}}
    cfg = parse_config(Config, PRESETS, default_preset="cpu")

`parse_config` builds an argparse parser with one `--flag` per field (`--z-dim 16`, booleans as
`--flag/--no-flag`), applies the chosen preset first and explicit flags after it, and rejects an unknown
flag or preset with one clear sentence (argparse's own error, exit code 2).

Every chapter's train.py takes the same flags besides its config's, from `chapter_parser` (`--out`, `--resume`,
`--use-solution`), and parses them with `parse_chapter_args`, which also turns an unknown env id or a GPU that
is not there into one sentence.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_type_hints

PRESET_NAMES = ("smoke", "cpu", "paper")


def _parse_bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parse_tuple(kind: type):
    def parse(text: str) -> tuple:
        return tuple(kind(v) for v in text.split(",") if v.strip())

    return parse


def add_config_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one `--field-name` flag per dataclass field (default None = "not given")."""
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        text = str(hint)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f"default {default!r}"
        if hint is bool:
            parser.add_argument(flag, dest=f.name, type=_parse_bool, nargs="?", const=True, default=None,
                                help=help_text)
            parser.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false",
                                help=argparse.SUPPRESS)
        elif text.startswith("tuple"):
            inner = float if "float" in text else int if "int" in text else str
            parser.add_argument(flag, dest=f.name, type=_parse_tuple(inner), default=None,
                                help=help_text + " (comma separated)")
        elif hint in (int, float, str):
            parser.add_argument(flag, dest=f.name, type=hint, default=None, help=help_text)
        else:  # Optional[...] and friends: accept a string, the chapter interprets it
            parser.add_argument(flag, dest=f.name, type=str, default=None, help=help_text)


def build_config(cls: type, presets: dict[str, dict[str, Any]], preset: str,
                 overrides: dict[str, Any] | None = None) -> Any:
    """Defaults <- preset <- overrides (None values in overrides mean "not given")."""
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(presets)}")
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = dict(presets[preset])
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {', '.join(unknown)}")
    return dataclasses.replace(cls(), **values)


def make_parser(cls: type, presets: dict[str, dict[str, Any]], default_preset: str = "cpu",
                description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", choices=list(presets), default=default_preset,
                        help="smoke: seconds, for CI; cpu: learns on a 2-core laptop; "
                             "paper: the paper's settings")
    add_config_args(parser, cls)
    return parser


def parse_config(cls: type, presets: dict[str, dict[str, Any]], argv: Sequence[str] | None = None,
                 default_preset: str = "cpu", parser: argparse.ArgumentParser | None = None,
                 description: str | None = None) -> tuple[Any, argparse.Namespace]:
    """Parse argv into (config, namespace). Extra, non-config flags may be added to `parser` first."""
    parser = parser or make_parser(cls, presets, default_preset, description)
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    names = {f.name for f in dataclasses.fields(cls)}
    overrides = {k: v for k, v in vars(args).items() if k in names}
    try:
        cfg = build_config(cls, presets, args.preset, overrides)
    except ValueError as err:
        parser.error(str(err))
    return cfg, args


def chapter_parser(cls: type, presets: dict[str, dict[str, Any]], doc: str, package: str,
                   modules: Sequence[str]) -> argparse.ArgumentParser:
    """The parser of a chapter's train.py: the config's flags, --preset, --out, --resume, --use-solution.

    doc: the script's docstring, whose first line describes it in --help; package: the chapter's package
    ('paper2_dreamerv1' or 'solutions.paper2_dreamerv1'); modules: those --use-solution may borrow. A chapter
    adds its own flags to the parser, then calls `parse_chapter_args`.
    """
    parser = make_parser(cls, presets, description=doc.split("\n")[0])
    chapter = package.split(".")[-1]
    parser.add_argument("--out", help=f"run folder (default runs/{chapter}/<env>/<time>-s<seed>)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="go on with the run saved in RUN_DIR")
    parser.add_argument("--use-solution", default="",
                        help=f"modules taken from solutions/: {','.join(modules)} (or all)")
    return parser


def parse_chapter_args(parser: argparse.ArgumentParser, cls: type, presets: dict[str, dict[str, Any]],
                       argv: Sequence[str] | None = None) -> tuple[Any, argparse.Namespace]:
    """(config, namespace) of a train.py; an unknown env id or `--device cuda` without a GPU is one sentence."""
    from .envs import KNOWN_ENVS

    cfg, args = parse_config(cls, presets, argv, parser=parser)
    if cfg.env not in KNOWN_ENVS:
        parser.error(f"unknown env id {cfg.env!r}; known ids: {', '.join(KNOWN_ENVS)}")
    device = str(getattr(cfg, "device", "cpu"))
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            parser.error(f"--device {device} asked for a GPU, but torch sees none; use --device cpu")
    return cfg, args


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def config_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config saved by `config_to_dict` (lists become tuples where the field is a tuple)."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    clean = {}
    for key, value in data.items():
        if key in names:
            clean[key] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(cls(), **clean)


def save_config(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(json.dumps(config_to_dict(cfg), indent=2) + "\n")
