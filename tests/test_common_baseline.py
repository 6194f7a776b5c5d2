"""common.baseline: the random policy's score, with its standard error."""

from __future__ import annotations

import json
import math

import pytest

from common.baseline import main, random_returns, summary


def test_summary_by_hand():
    s = summary([1.0, 3.0])
    assert s["mean"] == 2.0 and s["std"] == 1.0 and s["episodes"] == 2
    assert math.isclose(s["se"], math.sqrt(2.0) / math.sqrt(2.0))  # sample std sqrt(2), n = 2


def test_random_cartpole_is_short_and_seeded(tmp_path, capsys):
    first = random_returns("CartPole-v1", 3)
    assert first == random_returns("CartPole-v1", 3)  # the same seeds give the same episodes
    assert all(5 <= r <= 200 for r in first)  # a random CartPole policy falls within tens of steps
    out = tmp_path / "random.json"
    assert main(["CartPole-v1", "--episodes", "3", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["returns"] == first and "standard error" in capsys.readouterr().out


def test_unknown_env_is_one_sentence():
    with pytest.raises(SystemExit) as info:
        main(["NoSuchEnv-v0", "--episodes", "1"])
    assert "Unknown environment 'NoSuchEnv-v0'" in str(info.value) and "\n" not in str(info.value)
