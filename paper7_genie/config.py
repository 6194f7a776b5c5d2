"""Every setting of chapter 7 in one place. Field defaults are the paper's settings (`--preset paper`).

Sources: Bruce et al., "Genie: Generative Interactive Environments" (ICML 2024), arXiv:2402.15391, §2 (the three
components), §3 (training: 16 frames, MaskGIT decoding with 25 steps and temperature 2, |A| = 8 latent actions), and
the appendix's small reproducible case study on CoinRun (64x64 frames; tokenizer: 8 + 8 ST blocks of width 512, 8
heads, 1024 codes of 32 numbers on 4x4 patches; latent action model: 8 + 8 blocks of width 512, codes of 32 numbers
on 16x16 patches; dynamics: 12 blocks of width 512, 8 heads). The paper's 11B model differs mainly in size (160x90
frames, 10.1B dynamics). Where a number below is ours, not the paper's, the comment says so.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Config:
    env: str = "ALE/Breakout-v5"  # the videos: a random policy on a gymnasium env (data.py)
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch threads; 0 = torch's default
    # data (ours: the paper trains on 30k hours of Internet videos; CoinRun videos of a random agent in the appendix)
    data: str = ""  # a data set written by data.py; "" = generate one into the run folder
    episodes: int = 400  # random-policy episodes to record when generating
    size: int = 64  # frames are size x size RGB (CoinRun study: 64x64)
    action_repeat: int = 4  # Atari frame skip (the agent acts every 4th frame)
    seq_len: int = 16  # frames per training clip (§3: 16 frames)
    # training schedule: tokenizer first, then the latent action model, then the dynamics (§2.2, "Training")
    steps: int = 300_000  # updates of all three stages together (ours)
    tokenizer_share: float = 0.3  # the first 30% of the steps train the tokenizer
    lam_share: float = 0.2  # the next 20% the latent action model; the rest the dynamics
    batch: int = 48  # clips per update (ours: the paper's batch sizes are for TPU pods, 512 for the 11B dynamics)
    lr: float = 3e-4  # AdamW peak learning rate of the paper's tokenizer optimiser (appendix); it also warms up
    weight_decay: float = 1e-4  # (appendix) and decays the rate by a cosine; we keep it constant (ours)
    grad_clip: float = 1.0
    # spatiotemporal transformer (§2.1), shared sizes
    embed: int = 512
    heads: int = 8
    # video tokenizer (§2.2, appendix: 1024 codes, patch 4, latent 32)
    tok_layers: int = 8  # encoder and decoder each
    patch: int = 4
    vocab: int = 1024
    code_dim: int = 32
    beta: float = 0.25  # commitment weight (VQ-VAE's value; ours)
    restart_every: int = 250  # tokenizer updates between dead-code restarts (0 = never; our guard, guide 7.6)
    # latent action model (§2.2: |A| = 8; appendix: patch 16, latent 32)
    lam_layers: int = 8
    lam_patch: int = 16
    actions: int = 8  # |A|
    action_dim: int = 32
    information: float = 0.1  # weight of the information loss, our guard against collapse (guide 7.9)
    # dynamics model (§2.2: MaskGIT; appendix: 12 blocks)
    dyn_layers: int = 12
    mask_min: float = 0.5  # the Bernoulli masking rate is drawn from U(mask_min, 1) (§2.2)
    maskgit_steps: int = 25  # §3: 25 MaskGIT steps per frame
    temperature: float = 2.0  # §3: sampling temperature 2
    # evaluation, logging, saving
    horizon: int = 4  # ΔtPSNR at t = 4 (§3, "Metrics")
    checkpoint_every: int = 2000
    log_every: int = 50


PRESETS: dict[str, dict] = {
    # seconds, for CI: CartPole at 16x16, a tiny model through every stage
    "smoke": dict(env="CartPole-v1", episodes=6, size=16, action_repeat=1, seq_len=6, steps=24, batch=4,
                  embed=16, heads=2, tok_layers=1, patch=4, vocab=16, code_dim=8, restart_every=4, lam_layers=1,
                  lam_patch=8, actions=4, action_dim=8, dyn_layers=1, maskgit_steps=3, temperature=1.0,
                  checkpoint_every=4, log_every=2),
    # one core at one torch thread, <= 100 minutes in all (data + tokenizer + LAM + dynamics): Breakout at 32x32,
    # 8-frame clips, width 64, 2 + 2 blocks for the tokenizer and the LAM, 4 for the dynamics; 3,000 tokenizer,
    # 6,000 LAM (cheap: 16 patches a frame) and 4,000 dynamics updates
    "cpu": dict(episodes=120, size=32, seq_len=8, steps=13_000, tokenizer_share=0.23, lam_share=0.46, batch=16,
                lr=1e-3, embed=64, heads=4, tok_layers=2, patch=4, vocab=128, code_dim=16, lam_layers=2,
                lam_patch=8, action_dim=16, dyn_layers=4, maskgit_steps=8, temperature=1.0,
                checkpoint_every=500, threads=1),
    "paper": {},
}
