"""Every setting of chapter 6 in one place. Field defaults are the official 5M single-task config.

Sources: Hansen, Su & Wang, "TD-MPC2: Scalable, Robust World Models for Continuous Control" (ICLR 2024),
arXiv:2310.16828 (its appendix lists the hyperparameters) and the authors' code, nicklashansen/tdmpc2:
tdmpc2/config.yaml (every default below) and tdmpc2/common/__init__.py (MODEL_SIZE: the "5" model is
enc_dim 256, mlp_dim 512, latent_dim 512, 2 encoder layers, 5 Q-functions).

Model sizes (trainable parameters on Pendulum's 3-d state and 1-d action, target Qs not counted):
    official 5M: enc 256, mlp 512, latent 512, 5 Qs -> 4.93M     official 1M: mlp 384, latent 128, 2 Qs -> 1.20M
    our `cpu`:   enc 128, mlp 128, latent 64,  5 Qs -> 0.30M     smaller than the smallest official model, so
    that one update (batch 256) and one plan (512 samples x 6 iterations) each take ~55-75 ms on one CPU thread.
The `cpu` preset also holds each action for 2 env steps (as the official DMControl wrapper does) and starts
with 1,000 env steps of random actions instead of max(1000, 5 x episode length) agent steps: a 5,000-step
budget cannot spend 2,000 of them acting at random. Everything else is the official configuration.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Config:
    env: str = "Pendulum-v1"
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch.set_num_threads; 0 = torch's default (one per core)
    action_repeat: int = 2  # each action is held for 2 env steps (official envs/dmcontrol.py)
    # training (config.yaml); every step count is in env steps (frames), action repeat included
    steps: int = 10_000_000
    seed_steps: int = 0  # random actions first; 0 = max(1000, 5 x episode length) agent steps (envs/__init__.py)
    buffer_size: int = 1_000_000
    batch_size: int = 256
    reward_coef: float = 0.1
    value_coef: float = 0.1
    consistency_coef: float = 20.0
    rho: float = 0.5  # temporal weight rho^t of the losses along the horizon (§3.1)
    lr: float = 3e-4
    enc_lr_scale: float = 0.3  # the encoder learns at lr * 0.3
    grad_clip_norm: float = 20.0
    tau: float = 0.01  # Polyak rate of the target Qs, and momentum of the running Q scale
    discount_denom: float = 5.0  # discount = clip((L/5 - 1) / (L/5), 0.95, 0.995) for episode length L
    discount_min: float = 0.95
    discount_max: float = 0.995
    # planning (MPPI, §3.2)
    mpc: bool = True  # act by planning; False = act with the policy prior alone
    iterations: int = 6
    num_samples: int = 512
    num_elites: int = 64
    num_pi_trajs: int = 24
    horizon: int = 3
    min_std: float = 0.05
    max_std: float = 2.0
    temperature: float = 0.5
    # actor (policy prior)
    log_std_min: float = -10.0
    log_std_max: float = 2.0
    entropy_coef: float = 1e-4
    # critic: discrete regression over 101 bins on [-10, 10] in symlog space
    num_bins: int = 101
    vmin: float = -10.0
    vmax: float = 10.0
    # architecture (MODEL_SIZE[5])
    num_enc_layers: int = 2
    enc_dim: int = 256
    mlp_dim: int = 512
    latent_dim: int = 512
    num_q: int = 5
    dropout: float = 0.01  # on the first layer of each Q-function
    simnorm_dim: int = 8  # SimNorm groups of 8
    # evaluation and bookkeeping (official: eval_freq 20k, 10 episodes)
    eval_every: int = 20_000
    eval_episodes: int = 10
    checkpoint_every: int = 20_000


PRESETS: dict[str, dict] = {
    # seconds, for CI: a few hundred steps of a tiny model and a tiny planner
    "smoke": dict(steps=300, seed_steps=200, batch_size=16, enc_dim=32, mlp_dim=32, latent_dim=16, num_q=2,
                  num_samples=32, num_elites=8, num_pi_trajs=4, iterations=2, eval_every=300,
                  eval_episodes=1, checkpoint_every=300, buffer_size=1000, threads=1),
    # a 2-core laptop: Pendulum-v1 swung up within 5,000 env steps and 20 minutes (docs/results/)
    "cpu": dict(steps=5_000, seed_steps=1_000, enc_dim=128, mlp_dim=128, latent_dim=64, eval_every=1_000,
                eval_episodes=2, checkpoint_every=1_000, threads=1),
    "paper": {},
}
