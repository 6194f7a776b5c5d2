"""Graded tests for the sequence replay (guide, chapter 2, step 2.1).

    pytest paper2_dreamerv1 --todo 2.1
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, reference, seeded, target

BUFFER = "paper2_dreamerv1.buffer"


@pytest.mark.todo("2.1")
def test_preprocess_images_known_values_and_layout():
    tgt, ref = target(BUFFER), reference(BUFFER)
    with seeded(0):
        frames = torch.randint(0, 256, (2, 3, 8, 6, 3), dtype=torch.uint8).numpy()  # (B, T, H, W, C)
    frames[0, 0, 0, 0] = (0, 128, 255)
    out = tgt.preprocess_obs(frames)
    assert_shape(out, (2, 3, 3, 8, 6), step="2.1",
                 what="preprocess_obs of uint8 frames (2, 3, 8, 6, 3): channels move in front of H and W")
    assert_true(out.dtype == torch.float32, "preprocess_obs must return float32, got "
                                            f"{out.dtype}.", step="2.1")
    assert_close(out[0, 0, :, 0, 0], torch.tensor([-0.5, 128 / 255 - 0.5, 0.5]), step="2.1",
                 what="pixels 0, 128, 255 (they become pixel / 255 - 0.5)")
    assert_close(out, ref.preprocess_obs(frames), step="2.1", what="preprocess_obs(frames)")


@pytest.mark.todo("2.1")
def test_preprocess_vectors_unchanged():
    tgt = target(BUFFER)
    states = np.array([[0.5, -2.0, 7.25]], dtype=np.float64)
    out = tgt.preprocess_obs(states)
    assert_true(isinstance(out, torch.Tensor) and out.dtype == torch.float32,
                "preprocess_obs of a float64 state vector must return a float32 torch tensor.", step="2.1")
    assert_close(out, torch.tensor([[0.5, -2.0, 7.25]]), step="2.1",
                 what="preprocess_obs of a state vector (it is only converted to float32)")


def fill(module, pixels: bool = False):
    """Two episodes of 7 and 9 steps; obs[0] holds the step's index inside its episode."""
    shape = (4, 4, 3) if pixels else (2,)
    buf = module.SequenceBuffer(100, shape, 1, pixels=pixels, seed=3)
    for length in (7, 9):
        make = lambda t: np.full(shape, t, np.uint8 if pixels else np.float32)
        buf.start_episode(make(0))
        for t in range(1, length):
            buf.add(make(t), np.array([0.1 * t], np.float32), float(-t), terminated=False)
    return buf


@pytest.mark.todo("2.1")
def test_sample_tensors_match_reference_and_episode_starts():
    tgt, ref = target(BUFFER), reference(BUFFER)
    batch = fill(tgt).sample(6, 5)
    expected = fill(ref).sample(6, 5)
    for key, shape in (("obs", (6, 5, 2)), ("action", (6, 5, 1)), ("reward", (6, 5)), ("is_first", (6, 5))):
        assert_true(key in batch, f"sample() must return a dict with the key {key!r}; got {sorted(batch)}.",
                    step="2.1")
        assert_shape(batch[key], shape, step="2.1", what=f"sample(6, 5)[{key!r}]")
        assert_true(batch[key].dtype == torch.float32,
                    f"sample()[{key!r}] must be float32 (is_first too: the RSSM multiplies by 1 - is_first), "
                    f"got {batch[key].dtype}.", step="2.1")
        assert_close(batch[key], expected[key], step="2.1", what=f"sample(6, 5)[{key!r}]")
    first = batch["is_first"] > 0.5
    assert_true(bool((batch["obs"][..., 0][first] == 0).all()), "is_first must be 1.0 exactly where an "
                                                                "episode "
                "starts (there the observation is the episode's step 0).", step="2.1")
    assert_close(batch["action"][first], torch.zeros(int(first.sum()), 1), step="2.1",
                 what="the action stored with an episode's first observation (zeros)")


@pytest.mark.todo("2.1")
def test_sample_images_are_scaled_and_channels_first():
    tgt = target(BUFFER)
    batch = fill(tgt, pixels=True).sample(2, 3)
    assert_shape(batch["obs"], (2, 3, 3, 4, 4), step="2.1", what="sample(2, 3)['obs'] of 4x4x3 images")
    steps = batch["obs"][:, :, 0, 0, 0]  # pixel value t / 255 - 0.5
    assert_true(bool(((steps >= -0.5) & (steps <= -0.5 + 9 / 255 + 1e-6)).all()),
                "image observations must be scaled with preprocess_obs (pixel / 255 - 0.5).", step="2.1")
