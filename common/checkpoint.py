"""Checkpoints that load with `torch.load(weights_only=True)` and fail with one clear sentence.

    save_checkpoint(run_dir / "checkpoint.pt", paper="paper1_world_models", step=step,
                    config=config_to_dict(cfg), vae=vae.state_dict(), optim=opt.state_dict(),
                    es_mean=np.zeros(867))
    ckpt = load_checkpoint(path, "paper1_world_models")
    vae.load_state_dict(ckpt["vae"]); step = ckpt["step"]; ckpt["es_mean"]  # a numpy array again

`weights_only=True` unpickles only tensors and plain Python containers, so a checkpoint cannot run
code when it is opened. numpy arrays are therefore stored as tensors and turned back into arrays on
load; numpy scalars become Python numbers. Saving writes a temporary file and renames it, so a crash
mid-save never leaves a half-written checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "world-models-from-scratch"
VERSION = 1
RESERVED = ("format", "version", "paper", "step", "config", "numpy_paths")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here (missing, corrupt, foreign, or of another paper)."""


def cpu_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """module.state_dict() with every tensor on the CPU, so that a checkpoint of a GPU run loads anywhere."""
    return {k: v.cpu() for k, v in module.state_dict().items()}


def _plain(value: Any, where: list[Any], numpy_paths: list[list[Any]]) -> Any:
    """Copy `value` into what weights_only accepts; note the key path of every numpy array."""
    if isinstance(value, np.ndarray):
        numpy_paths.append(where)
        return torch.from_numpy(np.array(value))
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v, [*where, k], numpy_paths) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, [*where, i], numpy_paths) for i, v in enumerate(value))
    return value


def _restore(tree: Any, where: list[Any]) -> Any:
    """`tree` with the tensor at key path `where` turned back into a numpy array."""
    if not where:
        return tree.numpy()
    head, rest = where[0], where[1:]
    if isinstance(tree, tuple):
        items = list(tree)
        items[head] = _restore(items[head], rest)
        return tuple(items)
    tree[head] = _restore(tree[head], rest)
    return tree


def save_checkpoint(path: str | Path, *, paper: str, step: int, config: Any, **payload: Any) -> Path:
    """Atomically write {format, version, paper, step, config, **payload} to `path`.

    payload: state dicts, tensors, numpy arrays, numbers, strings, and dicts/lists of them.
    """
    clash = sorted(set(payload) & set(RESERVED))
    if clash:
        raise ValueError(f"payload names {', '.join(clash)} are reserved by the checkpoint format.")
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    numpy_paths: list[list[Any]] = []
    data = {"format": FORMAT, "version": VERSION, "paper": paper.split(".")[-1], "step": int(step),
            "config": _plain(config, ["config"], numpy_paths)}
    data.update({k: _plain(v, [k], numpy_paths) for k, v in payload.items()})
    data["numpy_paths"] = numpy_paths
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, paper: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint saved by `save_checkpoint` for `paper` (weights_only=True)."""
    path = Path(path)
    paper = paper.split(".")[-1]
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        if "Unsupported global" in str(err):  # a real pickle that names classes: code, not tensors
            raise CheckpointError(f"{path} is not a checkpoint of this repo: it holds Python objects that "
                                  "a safe (weights_only) load refuses.") from None
        raise CheckpointError(f"{path} is not a checkpoint: it is truncated, corrupt or not a PyTorch file, "
                              f"and cannot be read ({type(err).__name__}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint of this repo (it was not written by "
                              "common.checkpoint.save_checkpoint).")
    if data.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {data['version']}, newer than this "
                              f"code's {VERSION}; update the repo to read it.")
    if data.get("paper") != paper:
        raise CheckpointError(f"{path} was saved by {data.get('paper')}, not {paper}.")
    for where in data.pop("numpy_paths", []):
        data = _restore(data, where)
    return data
