"""Chapter 7's LatentActionModel.calibrate: once the LAM is trained, its batch standardisation gets statistics of the
final encoder, so codes inferred in eval mode (the dynamics' training, eval.py, play.py) are the codes the LAM
learned. Without it, the lagging running averages sent every held-out action of a FrozenLake run to 1-2 codes
(NMI 0.035; with batch statistics the same encoder gave 5 codes and NMI 0.31)."""

from __future__ import annotations

import torch

from solutions.paper7_genie.latent_actions import LatentActionModel


def small_lam() -> LatentActionModel:
    torch.manual_seed(0)
    return LatentActionModel(size=16, channels=3, patch=8, embed=16, heads=2, layers=1, actions=4, action_dim=8,
                             frames=4, beta=0.25)


def test_calibrate_replaces_stale_statistics_with_the_encoders_own() -> None:
    lam, g = small_lam(), torch.Generator().manual_seed(1)
    batches = [torch.randint(0, 256, (5, 4, 16, 16, 3), dtype=torch.uint8, generator=g) for _ in range(3)]
    norm = lam.action_norm
    norm.running_mean.fill_(5.0)  # stale, as after an encoder that drifted while it trained
    norm.running_var.fill_(1e-6)
    lam.train()
    lam.calibrate(batches)
    assert lam.training and norm.momentum == 0.1, "calibrate restores the mode and the momentum it found"
    with torch.no_grad():
        actions = [lam.encode(b).reshape(-1, 8) for b in batches]  # (15, 8) each: 5 clips x 3 steps
    torch.testing.assert_close(norm.running_mean, torch.cat(actions).mean(0), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(norm.running_var, torch.stack([a.var(0) for a in actions]).mean(0), atol=1e-6,
                               rtol=1e-4)


def test_after_calibrating_eval_mode_infers_the_codes_batch_statistics_give() -> None:
    lam, g = small_lam(), torch.Generator().manual_seed(2)
    frames = torch.randint(0, 256, (12, 4, 16, 16, 3), dtype=torch.uint8, generator=g)
    lam.train()
    with_batch_statistics = lam.infer(frames)
    lam.action_norm.running_mean.fill_(5.0)
    lam.eval()
    assert lam.infer(frames).unique().numel() == 1, "stale statistics: every action on one code"
    lam.calibrate([frames])
    assert torch.equal(lam.infer(frames), with_batch_statistics)
