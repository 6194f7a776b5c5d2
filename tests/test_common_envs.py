"""common.envs: known ids, observation kinds, pixel wrappers, action repeat, seeding, clear errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from common.envs import KNOWN_ENVS, ActionRepeat, UnknownEnvError, env_info, make_env

REQUIRED = ["CarRacing-v3", "Pendulum-v1", "CartPole-v1", "LunarLander-v3", "LunarLanderContinuous-v3",
            "ALE/Pong-v5", "ALE/Breakout-v5", "ALE/Boxing-v5"]


def one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".")


def test_known_envs_list_the_required_ids_with_descriptions():
    for env_id in REQUIRED:
        spec = KNOWN_ENVS[env_id]
        assert spec.description and spec.obs and set(spec.obs) <= {"state", "pixels"}
    assert KNOWN_ENVS["CarRacing-v3"].obs == ("pixels",)
    assert KNOWN_ENVS["Pendulum-v1"].obs[0] == "state"


def test_unknown_id_is_one_sentence_listing_the_known_ids():
    with pytest.raises(UnknownEnvError) as info:
        make_env("Pendulum-v9")
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert one_sentence(message) and "'Pendulum-v9'" in message
    assert all(env_id in message for env_id in REQUIRED)


def test_bad_obs_kind_and_unavailable_kind_are_clear():
    with pytest.raises(UnknownEnvError, match="'rgb'") as info:
        make_env("Pendulum-v1", obs="rgb")
    assert one_sentence(str(info.value)) and "pixels" in str(info.value)
    with pytest.raises(UnknownEnvError, match="only pixels"):
        make_env("CarRacing-v3", obs="state")
    with pytest.raises(ValueError, match="pixel observations only"):
        make_env("Pendulum-v1", obs="state", grayscale=True)
    with pytest.raises(ValueError, match="render_mode"):
        make_env("Pendulum-v1", obs="pixels", render_mode="human")


def test_state_observations_and_env_info():
    env = make_env("Pendulum-v1", seed=0)
    obs, _ = env.reset()
    assert obs.shape == (3,) and obs.dtype == np.float32
    info = env_info(env)
    assert info == {"obs_shape": (3,), "obs_dtype": "float32", "pixels": False, "action_dim": 1,
                    "discrete": False, "action_low": [-2.0], "action_high": [2.0]}
    lander = env_info(make_env("LunarLanderContinuous-v3"))
    assert lander["action_dim"] == 2 and not lander["discrete"] and lander["action_low"] == [-1.0, -1.0]
    cartpole = env_info(make_env("CartPole-v1"))
    assert cartpole["discrete"] and cartpole["action_dim"] == 2 and cartpole["action_low"] is None


def test_pixels_of_a_state_env_are_uint8_hwc_resized_and_grayscale():
    env = make_env("Pendulum-v1", obs="pixels", size=32, grayscale=True, seed=0)
    obs, _ = env.reset()
    assert obs.shape == (32, 32, 1) and obs.dtype == np.uint8
    assert env.observation_space.shape == (32, 32, 1)
    obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
    assert obs.shape == (32, 32, 1) and obs.std() > 0  # a real picture, not a blank
    assert env_info(env)["pixels"]
    rgb, _ = make_env("CartPole-v1", obs="pixels", size=48).reset(seed=0)
    assert rgb.shape == (48, 48, 3) and rgb.dtype == np.uint8


def test_a_rendered_env_gives_pictures_whose_moves_follow_the_actions():
    """FrozenLake's own observation is a cell number; its pixels come from render(), and (not slippery) the
    same action from the same start always gives the same next frame, a different move a different one."""
    env = make_env("FrozenLake-v1", size=32, seed=0)
    start, _ = env.reset(seed=0)
    assert start.shape == (32, 32, 3) and start.dtype == np.uint8 and env_info(env)["pixels"]
    nexts = []
    for action in (1, 2, 1):  # down, right, down again from the start
        env.reset(seed=0)
        nexts.append(env.step(action)[0])
    assert not np.array_equal(nexts[0], start) and not np.array_equal(nexts[0], nexts[1])
    np.testing.assert_array_equal(nexts[0], nexts[2])


def test_carracing_crop_removes_the_dashboard_before_resizing():
    full = make_env("CarRacing-v3", obs="pixels", size=96, seed=3)
    cropped = make_env("CarRacing-v3", obs="pixels", size=84, crop=(0, 84, 6, 90), seed=3)
    a, _ = full.reset()
    b, _ = cropped.reset()
    assert a.shape == (96, 96, 3) and b.shape == (84, 84, 3)
    np.testing.assert_array_equal(b, a[0:84, 6:90])  # 84x84 needs no resize: exactly the crop
    small = make_env("CarRacing-v3", obs="pixels", crop=(0, 84, 0, 96), seed=3)
    c, _ = small.reset()
    assert c.shape == (64, 64, 3) and c.dtype == np.uint8
    with pytest.raises(ValueError, match="does not fit"):
        make_env("CarRacing-v3", obs="pixels", crop=(0, 100, 0, 96))


class Counter(gym.Env):
    """Reward = step number; the episode terminates after 5 steps."""

    observation_space = spaces.Box(0, 10, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full(1, self.t, np.float32), float(self.t), self.t >= 5, False, {}


def test_action_repeat_sums_rewards_and_stops_at_termination():
    env = ActionRepeat(Counter(), 3)
    env.reset()
    obs, reward, terminated, _, _ = env.step(0)
    assert reward == 1 + 2 + 3 and obs[0] == 3 and not terminated
    obs, reward, terminated, _, _ = env.step(0)
    assert reward == 4 + 5 and obs[0] == 5 and terminated  # stopped after 2 of 3 repeats
    with pytest.raises(ValueError):
        ActionRepeat(Counter(), 0)


def test_action_repeat_and_time_limit_through_make_env():
    env = make_env("CartPole-v1", action_repeat=2, max_episode_steps=6, seed=0)
    env.reset()
    rewards, truncated = [], False
    while not truncated:
        _, reward, terminated, truncated, _ = env.step(0 if len(rewards) % 2 else 1)
        assert not terminated
        rewards.append(reward)
    assert rewards == [2.0, 2.0, 2.0]  # 6 raw steps = 3 agent steps of 2


def test_seed_makes_the_first_reset_reproducible():
    a, _ = make_env("Pendulum-v1", seed=7).reset()
    b, _ = make_env("Pendulum-v1", seed=7).reset()
    c, _ = make_env("Pendulum-v1", seed=8).reset()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    env = make_env("Pendulum-v1", seed=7)
    assert env.action_space.sample() == make_env("Pendulum-v1", seed=7).action_space.sample()


def test_atari_pixels_use_atari_preprocessing():
    env = make_env("ALE/Pong-v5", obs="pixels", size=64, grayscale=True, action_repeat=4, seed=0)
    obs, _ = env.reset()
    assert obs.shape == (64, 64, 1) and obs.dtype == np.uint8
    obs, *_ = env.step(env.action_space.sample())
    assert obs.shape == (64, 64, 1)
    info = env_info(env)
    assert info["discrete"] and info["action_dim"] == 6
    boxing = make_env("ALE/Boxing-v5", obs="pixels", size=32, crop=(30, 180, 0, 160), grayscale=True)
    obs, _ = boxing.reset(seed=0)
    assert obs.shape == (32, 32, 1) and obs.dtype == np.uint8


def test_off_screen_rendering_prints_no_sdl_warning():
    """`--video` renders with pygame; without a desktop session SDL used to print an XDG_RUNTIME_DIR error."""
    import os
    import subprocess
    import sys

    code = ("from common.envs import make_env\n"
            "env = make_env('Pendulum-v1', obs='state', render_mode='rgb_array')\n"
            "env.reset(seed=0)\nassert env.render().shape == (500, 500, 3)\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("SDL_VIDEODRIVER", "XDG_RUNTIME_DIR")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=clean)
    assert proc.returncode == 0, proc.stderr
    assert "XDG_RUNTIME_DIR" not in proc.stdout + proc.stderr, proc.stderr
