"""An episode replay buffer: a ring of steps that samples (B, T) sequences for recurrent world models.

Each row is one step, stored the way Dreamer stores it:

    row t = (obs_t, action_{t-1}, reward_t, terminated_t, is_first_t)

that is, the observation and what led to it: the action taken before it, the reward received on
arriving there, whether it ended the episode. The first row of an episode has a zero action, reward 0
and is_first=True. With an environment:

    obs, _ = env.reset()
    replay.add(obs, np.zeros(action_dim), 0.0, False, True)
    while ...:
        obs, reward, terminated, truncated, _ = env.step(action)
        replay.add(obs, action, reward, terminated, False)

`sample` returns chunks of consecutive rows. A chunk may run from one episode into the next; `is_first`
marks where the new one starts, so a recurrent model resets its state there. A chunk never crosses the
write head (where the newest row meets the oldest, overwritten one). Images are stored as uint8.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class EpisodeReplay:
    """A ring buffer of `capacity` steps. obs_dtype np.uint8 for images, np.float32 for state vectors."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], action_dim: int,
                 obs_dtype: type | np.dtype = np.float32):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}.")
        self.capacity = int(capacity)
        self.obs_shape = tuple(obs_shape)
        self.action_dim = int(action_dim)
        self.obs_dtype = np.dtype(obs_dtype)
        self.obs = np.zeros((capacity, *self.obs_shape), self.obs_dtype)  # (N, *obs_shape)
        self.action = np.zeros((capacity, self.action_dim), np.float32)  # (N, A)
        self.reward = np.zeros(capacity, np.float32)  # (N,)
        self.terminated = np.zeros(capacity, bool)  # (N,)
        self.is_first = np.zeros(capacity, bool)  # (N,)
        self._next = 0  # the row the next add() writes (the write head)
        self._size = 0
        self.total_steps = 0  # steps ever added, overwritten ones included

    def __len__(self) -> int:
        return self._size

    def _action(self, action: np.ndarray | int | float) -> np.ndarray:
        """An int action of a discrete space becomes one-hot; anything else must have action_dim values."""
        arr = np.asarray(action)
        if arr.ndim == 0 and np.issubdtype(arr.dtype, np.integer):
            return np.eye(self.action_dim, dtype=np.float32)[int(arr)]
        return arr.astype(np.float32).reshape(self.action_dim)

    def _check_obs(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs)
        if self.obs_dtype == np.uint8 and obs.dtype != np.uint8:
            raise TypeError(f"this buffer stores uint8 images, but got {obs.dtype} observations; "
                            "store the env's uint8 frames and scale them when you sample.")
        return obs

    def add(self, obs: np.ndarray, action: np.ndarray | int | float, reward: float, terminated: bool,
            is_first: bool) -> None:
        """Append one step (see the module docstring for what each field means)."""
        obs = self._check_obs(obs)
        if obs.shape != self.obs_shape:
            raise ValueError(f"expected an observation of shape {self.obs_shape}, got {obs.shape}.")
        i = self._next
        self.obs[i] = obs
        self.action[i] = self._action(action)
        self.reward[i] = reward
        self.terminated[i] = terminated
        self.is_first[i] = is_first
        self._advance(1)

    def add_episode(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray,
                    terminated: np.ndarray | bool = False) -> None:
        """Append a whole episode of T rows at once (row 0 is its first step, action[0] usually zeros).

        obs (T, *obs_shape); action (T, A) or (T,) int for a discrete space; reward (T,); terminated
        (T,) or one bool for the last row. An episode longer than the capacity keeps its last rows.
        """
        obs = self._check_obs(obs)
        steps = len(obs)
        if steps == 0 or obs.shape[1:] != self.obs_shape:
            raise ValueError(f"expected observations of shape (T, {', '.join(map(str, self.obs_shape))}), "
                             f"got {obs.shape}.")
        actions = np.stack([self._action(a) for a in action])  # (T, A)
        term = np.zeros(steps, bool)
        if np.ndim(terminated) == 0:
            term[-1] = bool(terminated)
        else:
            term[:] = terminated
        first = np.zeros(steps, bool)
        first[0] = True
        n = min(steps, self.capacity)  # rows we can keep: the last n
        rows = (self._next + np.arange(n)) % self.capacity
        self.obs[rows] = obs[-n:]
        self.action[rows] = actions[-n:]
        self.reward[rows] = np.asarray(reward, np.float32)[-n:]
        self.terminated[rows] = term[-n:]
        self.is_first[rows] = first[-n:]
        self._advance(n, added=steps)

    def _advance(self, rows: int, added: int | None = None) -> None:
        self._next = (self._next + rows) % self.capacity
        self._size = min(self._size + rows, self.capacity)
        self.total_steps += rows if added is None else added

    def _oldest(self) -> int:
        """Row index of the oldest step still stored."""
        return self._next if self._size == self.capacity else 0

    def sample_rows(self, batch: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """The row indices (B, T) of `batch` chunks of `length` consecutive steps (what `sample` reads), for
        a caller that keeps something per row beside the buffer (chapter 5 caches each frame's tokens)."""
        if length > self._size:
            raise ValueError(f"cannot sample sequences of {length} steps from a buffer holding {self._size}.")
        starts = rng.integers(0, self._size - length + 1, size=batch)  # offsets from the oldest row
        return (self._oldest() + starts[:, None] + np.arange(length)) % self.capacity  # (B, T)

    def sample(self, batch: int, length: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """`batch` chunks of `length` consecutive steps, uniformly over the valid start rows.

        Returns obs (B, T, *obs_shape) in the stored dtype, action (B, T, A) float32, reward (B, T)
        float32, terminated (B, T) bool, is_first (B, T) bool.
        """
        rows = self.sample_rows(batch, length, rng)  # (B, T)
        return {
            "obs": self.obs[rows],
            "action": self.action[rows],
            "reward": self.reward[rows],
            "terminated": self.terminated[rows],
            "is_first": self.is_first[rows],
        }

    def _ordered(self) -> np.ndarray:
        """Row indices from the oldest step to the newest."""
        return (self._oldest() + np.arange(self._size)) % self.capacity

    def save(self, path: str | Path) -> None:
        """Write the stored steps, oldest first, to a compressed .npz file."""
        rows = self._ordered()
        np.savez_compressed(path, obs=self.obs[rows], action=self.action[rows], reward=self.reward[rows],
                            terminated=self.terminated[rows], is_first=self.is_first[rows],
                            capacity=self.capacity, total_steps=self.total_steps)

    @classmethod
    def load(cls, path: str | Path, capacity: int | None = None) -> EpisodeReplay:
        """Rebuild a buffer written by `save` (a smaller capacity keeps the newest steps)."""
        with np.load(path) as data:
            obs = data["obs"]
            replay = cls(int(capacity or data["capacity"]), obs.shape[1:], data["action"].shape[1], obs.dtype)
            n = min(len(obs), replay.capacity)  # keep the newest n steps
            replay.obs[:n] = obs[-n:]
            replay.action[:n] = data["action"][-n:]
            replay.reward[:n] = data["reward"][-n:]
            replay.terminated[:n] = data["terminated"][-n:]
            replay.is_first[:n] = data["is_first"][-n:]
            replay._advance(n, added=int(data["total_steps"]))
        return replay
