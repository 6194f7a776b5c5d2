"""Videos for Genie: a random policy plays a gymnasium environment; the frames are kept, the actions only logged.

    python -m solutions.paper7_genie.data --env ALE/Breakout-v5 --episodes 120 --size 32 --out data/breakout32.npz
    python -m solutions.paper7_genie.data --env CartPole-v1 --episodes 300 --size 32 --out data/cartpole32.npz
    python -m solutions.paper7_genie.data --env FrozenLake-v1 --episodes 1500 --size 32 --out data/frozenlake32.npz

The true actions are stored beside the frames but no model ever reads them: eval.py uses them only to score the
latent actions (normalised mutual information, confusion matrix). A file holds `frames` (M, H, W, C) uint8 of all
episodes one after the other, `actions` (M,) the action taken after each frame (-1 after an episode's last
frame), `starts` and `lengths` (E,) of the episodes, and the env id.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from common.envs import KNOWN_ENVS, make_env
from common.logger import progress

# How each environment is filmed: Atari games are cropped to the play field (no score) before the resize.
FILMING: dict[str, dict] = {
    "ALE/Breakout-v5": dict(crop=(32, 196, 8, 152)),
    "ALE/Pong-v5": dict(crop=(34, 194, 0, 160)),
}
EVAL_SEED_BASE = 1_000_000  # held-out episodes (eval.py, play.py) use seeds from here; data.py never does


def make_video_env(env_id: str, size: int, action_repeat: int, seed: int | None = None):
    """Pixels of `env_id` at size x size RGB; Atari with its frame skip, other envs one frame per step."""
    atari = KNOWN_ENVS[env_id].atari if env_id in KNOWN_ENVS else False
    return make_env(env_id, obs="pixels", size=size, action_repeat=action_repeat if atari else 1, seed=seed,
                    **FILMING.get(env_id, {}))


def record(env_id: str, episodes: int, size: int, action_repeat: int, seed: int, max_steps: int = 1000,
           show: bool = True) -> dict[str, np.ndarray]:
    """Play `episodes` episodes with uniformly random actions (episode i seeded seed + i)."""
    env = make_video_env(env_id, size, action_repeat)
    if not hasattr(env.action_space, "n"):
        raise SystemExit(f"error: {env_id} has continuous actions; Genie's videos here come from envs with discrete "
                         "actions (their logged actions score the latent ones): e.g. ALE/Breakout-v5, CartPole-v1")
    rng = np.random.default_rng(seed)
    frames, actions, starts, lengths = [], [], [], []
    for i in progress(range(episodes), desc=f"recording {env_id}", disable=not show, leave=False):
        obs, _ = env.reset(seed=seed + i)
        starts.append(len(frames))
        for _ in range(max_steps):
            action = int(rng.integers(env.action_space.n))
            frames.append(obs)
            actions.append(action)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
        frames.append(obs)
        actions.append(-1)  # no action after the last frame
        lengths.append(len(frames) - starts[-1])
    env.close()
    return {"frames": np.stack(frames).astype(np.uint8), "actions": np.asarray(actions, np.int64),
            "starts": np.asarray(starts, np.int64), "lengths": np.asarray(lengths, np.int64),
            "env": np.asarray(env_id), "num_actions": np.asarray(int(env.action_space.n))}


def save(data: dict[str, np.ndarray], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **data)
    return path


def load(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


class Clips:
    """Windows of `length` consecutive frames inside one episode, sampled uniformly."""

    def __init__(self, data: dict[str, np.ndarray], length: int) -> None:
        self.frames, self.actions, self.length = data["frames"], data["actions"], length
        spans = zip(data["starts"], data["lengths"], strict=True)
        self.begins = np.concatenate([np.arange(s, s + n - length + 1) for s, n in spans if n >= length]
                                     or [np.zeros(0, np.int64)])
        if len(self.begins) == 0:
            raise ValueError(f"no episode has {length} frames; record more or longer episodes, or use a shorter "
                             "--seq-len")

    def __len__(self) -> int:
        return len(self.begins)

    def get(self, begins: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (B, T, H, W, C) uint8 and the logged actions (B, T-1) of the windows starting at `begins`."""
        idx = begins[:, None] + np.arange(self.length)  # (B, T)
        return torch.from_numpy(self.frames[idx]), torch.from_numpy(self.actions[idx[:, :-1]])

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return self.get(self.begins[rng.integers(len(self.begins), size=batch)])

    def tiles(self) -> np.ndarray:
        """Starts of non-overlapping windows, for evaluation."""
        keep, last = [], -self.length
        for b in self.begins:
            if b >= last + self.length:
                keep.append(b)
                last = b
        return np.asarray(keep, np.int64)


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="ALE/Breakout-v5", help=f"one of {', '.join(KNOWN_ENVS)} (discrete actions)")
    parser.add_argument("--episodes", type=int, default=120)
    parser.add_argument("--size", type=int, default=32, help="frames are size x size RGB")
    parser.add_argument("--action-repeat", type=int, default=4, help="Atari frame skip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="the .npz file to write")
    args = parser.parse_args(argv)
    if args.env not in KNOWN_ENVS:
        parser.error(f"unknown env id {args.env!r}; known ids: {', '.join(KNOWN_ENVS)}")
    data = record(args.env, args.episodes, args.size, args.action_repeat, args.seed)
    path = save(data, args.out)
    print(f"wrote {path}: {len(data['starts'])} episodes, {len(data['frames'])} frames of {data['frames'].shape[1:]}")
    return path


if __name__ == "__main__":
    main()
