"""Every setting of chapter 1 in one place. Field defaults are the paper's (`--preset paper`).

Sources: Ha & Schmidhuber, "World Models" (2018), arXiv:1803.10122, §A.1-A.3 and the authors' code
(hardmaru/WorldModelsExperiments, carracing/): VAE z=32, KL tolerance 0.5 nats per dim, LSTM 256,
5 mixtures, temperature 1.0 for CarRacing, CMA-ES population 64, 16 rollouts per candidate.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Config:
    env: str = "CarRacing-v3"
    seed: int = 0
    device: str = "cpu"  # where V and M train ("cuda" if you have one); C always drives on the CPU
    workers: int = 0  # 0 = one per CPU core
    # collection (§A.1: 10,000 random rollouts)
    rollouts: int = 10_000
    rollout_steps: int = 1000
    # V: the VAE (§A.1)
    z_dim: int = 32
    kl_tolerance: float = 0.5  # free bits: KL below 0.5 nats per dimension is not penalised
    vae_epochs: int = 10
    vae_batch: int = 100
    vae_lr: float = 1e-4
    # M: the MDN-RNN (§A.2)
    hidden: int = 256
    n_mix: int = 5
    rnn_epochs: int = 20
    rnn_batch: int = 100
    rnn_seq: int = 999
    rnn_lr: float = 1e-3
    grad_clip: float = 1.0
    temperature: float = 1.0  # tau, used only when dreaming
    # C: controller + CMA-ES (§A.3)
    controller_input: str = "zh"  # "zh" = [z, h] (the paper), "z" = z alone (the ablation)
    popsize: int = 64
    rollouts_per_candidate: int = 16
    generations: int = 2000
    sigma0: float = 0.1
    weight_decay: float = 0.01  # fitness -= weight_decay * mean(theta^2) (authors' ES wrapper, sign fixed)
    episode_steps: int = 1000
    patience: int = 0  # end an episode after this many steps without positive reward (0 = never)
    eval_every: int = 25  # generations between evaluations of the CMA-ES mean
    eval_episodes: int = 100  # the paper averages 100 random tracks
    minutes: float = 0.0  # stop evolving after this many wall minutes of the whole run (0 = no limit)
    cma_minutes: float = 0.0  # ...but CMA-ES always gets at least this many, however long the earlier stages took


PRESETS: dict[str, dict] = {
    # seconds, for CI: a few short rollouts through every stage
    "smoke": dict(rollouts=4, rollout_steps=60, vae_epochs=1, vae_batch=32, rnn_epochs=1, rnn_batch=4,
                  rnn_seq=20, popsize=4, rollouts_per_candidate=1, generations=1, episode_steps=60,
                  eval_every=1, eval_episodes=1, hidden=32, workers=1),
    # 10-15 minutes on 2 cores: a small V and M, then a controller you can watch improve (not a good driver)
    "short": dict(rollouts=24, rollout_steps=300, vae_epochs=2, vae_batch=64, vae_lr=1e-3, rnn_epochs=10,
                  rnn_batch=32, rnn_seq=60, popsize=8, rollouts_per_candidate=1, generations=1000,
                  episode_steps=400, patience=40, eval_every=10, eval_episodes=2, minutes=13, cma_minutes=6),
    # a 2-core laptop, an 80-minute budget, 30 of them kept for CMA-ES (docs/results/paper1_world_models.md)
    "cpu": dict(rollouts=100, rollout_steps=500, vae_epochs=3, vae_batch=64, vae_lr=1e-3, rnn_epochs=20,
                rnn_batch=32, rnn_seq=100, popsize=16, rollouts_per_candidate=1, generations=1000,
                patience=60, eval_every=20, eval_episodes=4, minutes=80, cma_minutes=30),
    "paper": {},
}
