"""common.replay: ring buffer, (B, T) sampling that never crosses the write head, episodes, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from common.replay import EpisodeReplay


def counting_buffer(capacity: int, steps: int, episode_len: int = 4) -> EpisodeReplay:
    """obs[t] = t, so a sampled chunk shows exactly which steps it holds."""
    replay = EpisodeReplay(capacity, (1,), action_dim=2)
    for t in range(steps):
        replay.add(np.array([t], np.float32), np.array([t, -t]), float(t), (t + 1) % episode_len == 0,
                   t % episode_len == 0)
    return replay


def test_len_and_capacity():
    replay = counting_buffer(10, 7)
    assert len(replay) == 7
    replay = counting_buffer(10, 25)
    assert len(replay) == 10 and replay.total_steps == 25
    assert sorted(replay.obs[:, 0]) == list(range(15, 25))  # the oldest steps were overwritten


def test_sample_shapes_and_dtypes_for_images():
    replay = EpisodeReplay(20, (8, 8, 3), action_dim=3, obs_dtype=np.uint8)
    for t in range(12):
        replay.add(np.full((8, 8, 3), t, np.uint8), np.ones(3), 1.0, False, t == 0)
    batch = replay.sample(5, 4, np.random.default_rng(0))
    assert batch["obs"].shape == (5, 4, 8, 8, 3) and batch["obs"].dtype == np.uint8
    assert batch["action"].shape == (5, 4, 3) and batch["action"].dtype == np.float32
    assert batch["reward"].shape == (5, 4) and batch["reward"].dtype == np.float32
    assert batch["terminated"].dtype == bool and batch["is_first"].shape == (5, 4)
    assert replay.obs.dtype == np.uint8 and replay.obs.nbytes == 20 * 8 * 8 * 3


def test_uint8_buffer_refuses_float_images():
    replay = EpisodeReplay(5, (4, 4, 1), action_dim=1, obs_dtype=np.uint8)
    with pytest.raises(TypeError, match="uint8"):
        replay.add(np.zeros((4, 4, 1), np.float32), np.zeros(1), 0.0, False, True)
    with pytest.raises(ValueError, match="shape"):
        replay.add(np.zeros((4, 4, 3), np.uint8), np.zeros(1), 0.0, False, True)


@pytest.mark.parametrize("steps", [9, 10, 23, 37])
def test_chunks_are_consecutive_and_never_cross_the_write_head(steps):
    replay = counting_buffer(10, steps)
    batch = replay.sample(300, 5, np.random.default_rng(1))
    obs = batch["obs"][..., 0]  # (B, T)
    assert np.all(np.diff(obs, axis=1) == 1)  # consecutive steps, in order: no jump across the head
    assert obs.min() >= max(0, steps - 10) and obs.max() <= steps - 1
    starts = set(obs[:, 0].astype(int))
    assert starts == set(range(max(0, steps - 10), steps - 4))  # every valid start is used
    np.testing.assert_array_equal(batch["reward"], obs)
    np.testing.assert_array_equal(batch["action"][..., 0], obs)


def test_is_first_marks_episode_starts_inside_chunks():
    replay = counting_buffer(40, 40, episode_len=4)
    batch = replay.sample(64, 8, np.random.default_rng(2))
    obs = batch["obs"][..., 0].astype(int)
    np.testing.assert_array_equal(batch["is_first"], obs % 4 == 0)
    np.testing.assert_array_equal(batch["terminated"], obs % 4 == 3)
    assert batch["is_first"][:, 1:].any()  # chunks do run into the next episode


def test_sampling_is_reproducible_and_too_long_is_an_error():
    replay = counting_buffer(10, 10)
    a = replay.sample(4, 3, np.random.default_rng(5))
    b = replay.sample(4, 3, np.random.default_rng(5))
    np.testing.assert_array_equal(a["obs"], b["obs"])
    with pytest.raises(ValueError, match="11 steps"):
        replay.sample(1, 11, np.random.default_rng(0))


def test_int_actions_become_one_hot():
    replay = EpisodeReplay(4, (2,), action_dim=3)
    replay.add(np.zeros(2), np.zeros(3), 0.0, False, True)
    replay.add(np.zeros(2), 2, 1.0, False, False)
    replay.add(np.zeros(2), np.int64(1), 1.0, False, False)
    np.testing.assert_array_equal(replay.action[:3], [[0, 0, 0], [0, 0, 1], [0, 1, 0]])


def test_add_episode_equals_adding_steps():
    rng = np.random.default_rng(0)
    obs, actions, rewards = rng.normal(size=(6, 2)), rng.normal(size=(6, 3)), rng.normal(size=6)
    one = EpisodeReplay(8, (2,), 3)
    one.add_episode(obs, actions, rewards, terminated=True)
    two = EpisodeReplay(8, (2,), 3)
    for t in range(6):
        two.add(obs[t], actions[t], rewards[t], t == 5, t == 0)
    for name in ("obs", "action", "reward", "terminated", "is_first"):
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))
    assert len(one) == len(two) == 6


def test_add_episode_longer_than_capacity_keeps_the_end_and_wraps():
    replay = EpisodeReplay(5, (1,), 1)
    replay.add_episode(np.arange(3.0)[:, None], np.zeros((3, 1)), np.zeros(3))
    replay.add_episode(np.arange(10.0, 17.0)[:, None], np.zeros((7, 1)), np.zeros(7), terminated=True)
    assert len(replay) == 5 and replay.total_steps == 10
    chunk = replay.sample(1, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(chunk["obs"][0, :, 0], [12, 13, 14, 15, 16])
    assert chunk["terminated"][0].tolist() == [False] * 4 + [True]


def test_save_and_load_round_trip(tmp_path):
    replay = counting_buffer(10, 23)
    replay.save(tmp_path / "replay.npz")
    loaded = EpisodeReplay.load(tmp_path / "replay.npz")
    assert len(loaded) == 10 and loaded.capacity == 10 and loaded.total_steps == 23
    a = replay.sample(16, 4, np.random.default_rng(3))
    b = loaded.sample(16, 4, np.random.default_rng(3))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    loaded.add(np.array([23.0]), np.zeros(2), 0.0, False, False)  # goes on where it stopped
    assert loaded.sample(1, 10, np.random.default_rng(0))["obs"][0, :, 0].tolist() == list(range(14, 24))
    small = EpisodeReplay.load(tmp_path / "replay.npz", capacity=4)
    assert small.obs[:4, 0].tolist() == [19, 20, 21, 22]  # the newest steps


def test_images_save_as_uint8(tmp_path):
    replay = EpisodeReplay(3, (4, 4, 3), 1, obs_dtype=np.uint8)
    replay.add(np.full((4, 4, 3), 200, np.uint8), np.zeros(1), 0.0, False, True)
    replay.save(tmp_path / "r.npz")
    loaded = EpisodeReplay.load(tmp_path / "r.npz")
    assert loaded.obs.dtype == np.uint8 and loaded.obs[0, 0, 0, 0] == 200
