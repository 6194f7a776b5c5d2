"""Every setting of chapter 4 in one place. Field defaults are the paper's (`--preset paper`).

Which version. DreamerV3 has two official code versions; this chapter follows ONE: the **2023 arXiv code**
(Hafner et al., "Mastering Diverse Domains through World Models", arXiv:2301.04104, v1 of January 2023,
Appendix B/W hyperparameters; danijar/dreamerv3 `configs.yaml` of early 2023). Its numbers:

    world model   32 categoricals x 32 classes, 1 % unimix, learned initial state, LayerNorm + SiLU MLPs,
                  symlog'd vector inputs, symlog-MSE vector decoder, MSE image decoder, reward and critic
                  two-hot over 255 bins in [-20, 20] of symlog space (zero-initialised output layers),
                  continue head (Bernoulli), beta_pred 1, beta_dyn 0.5, beta_rep 0.1, free bits 1 (applied
                  to each step's KL after summing the 32 latents), Adam lr 1e-4, eps 1e-8, grad clip 1000
    behaviour     horizon 15, gamma 1 - 1/333 = 0.997, lambda 0.95; critic two-hot, regularised towards a
                  slow critic (EMA, fraction 0.02 every update, weight 1); returns normalised by
                  max(1, S), S = EMA (decay 0.99) of the 95th minus the 5th percentile; actor entropy
                  3e-4; REINFORCE for discrete actions, backpropagation through the dynamics for continuous
                  ones; actor and critic Adam lr 3e-5, eps 1e-5, grad clip 100
    data          batch 16 x 64, train ratio 512 (dmc proprio: 512 replayed steps per env step)

The 2025 Nature code (danijar/dreamerv3 today) differs in: the LaProp optimiser (lr 4e-5, eps 1e-20) with
adaptive gradient clipping (AGC 0.3) instead of Adam + global-norm clipping; RMSNorm instead of LayerNorm;
a block-diagonal GRU (8 blocks, deter 8192) and 64 classes; loss scales beta_dyn 1.0 (not 0.5) and a
replay-value loss 0.3; "symexp two-hot" (bins spaced by symexp, the two-hot weights computed in raw space)
instead of two-hot in symlog space; REINFORCE for continuous actions too (no dynamics backpropagation);
a policy output scale of 0.01 and a bounded-normal policy.

Ablations (`--ablate symlog,twohot,return_norm,free_bits,unimix`, any comma subset), each the plain thing:
    symlog       no symlog anywhere: raw vector inputs, plain MSE decoder, two-hot bins in raw units
    twohot       reward and critic heads predict one number, trained by squared error (in symlog space
                 unless symlog is ablated too)
    return_norm  advantages are not scaled (S = 1)
    free_bits    no free bits: the KL terms are never clipped
    unimix       no 1 % uniform mixture in the latents or the discrete actor

Step counts (`steps`, `prefill`, `train_every`, `eval_every`) are environment steps, action repeat included.
"""

from __future__ import annotations

from dataclasses import dataclass

ABLATIONS = ("symlog", "twohot", "return_norm", "free_bits", "unimix")


@dataclass
class Config:
    env: str = "CartPole-v1"
    obs: str = "state"  # "state" (the env's vector) or "pixels" (64x64 RGB renders)
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch threads; 0 = torch's default
    ablate: str = ""  # comma separated subset of ABLATIONS (see the docstring)
    # environment and schedule
    steps: int = 1_000_000  # environment steps, action repeat included
    action_repeat: int = 1
    prefill: int = 5000
    train_every: int = 2  # env steps per update: batch * length / train_every = 512 (the train ratio)
    pretrain: int = 1  # updates right after the prefill
    buffer_size: int = 1_000_000
    # world model (§2, Appendix: "small" model size of dmc_proprio; xlarge: deter 4096, units 1024, 5 layers)
    deter: int = 512  # h: the GRU's state
    hidden: int = 512  # the RSSM's hidden layers
    stoch: int = 32  # z: this many categorical variables ...
    classes: int = 32  # ... of this many classes each
    units: int = 512  # every MLP: encoder, decoder, heads, actor, critic
    layers: int = 2
    cnn_depth: int = 32
    unimix: float = 0.01  # latents and discrete actions: 1 % of a uniform mixed into the probabilities
    bins: int = 255  # two-hot bins in [-bin_range, bin_range] of symlog space
    bin_range: float = 20.0
    free_bits: float = 1.0  # nats, on each step's KL summed over the latents
    dyn_scale: float = 0.5  # beta_dyn
    rep_scale: float = 0.1  # beta_rep
    model_lr: float = 1e-4
    model_eps: float = 1e-8
    model_clip: float = 1000.0
    # behaviour (§3)
    horizon: int = 15
    imag_starts: int = 0  # imagine from this many random posterior states (0 = all B * T, the paper)
    discount: float = 0.997  # gamma = 1 - 1/333
    lam: float = 0.95
    actor_entropy: float = 3e-4  # eta
    min_std: float = 0.1  # continuous actor: std in [min_std, max_std]
    max_std: float = 1.0
    retnorm_decay: float = 0.99
    retnorm_low: float = 5.0  # percentiles
    retnorm_high: float = 95.0
    slow_fraction: float = 0.02  # slow critic: EMA fraction per update
    slow_reg: float = 1.0  # weight of the slow-critic regulariser
    actor_lr: float = 3e-5
    critic_lr: float = 3e-5
    ac_eps: float = 1e-5
    ac_clip: float = 100.0
    batch: int = 16
    length: int = 64
    # evaluation, logging, saving
    eval_every: int = 10_000  # environment steps
    eval_episodes: int = 5
    log_every: int = 2000  # environment steps between metric lines
    minutes: float = 0.0  # stop after this many wall minutes (0 = no limit); a checkpoint is saved


PRESETS: dict[str, dict] = {
    # seconds, for CI: a tiny model through every stage
    "smoke": dict(steps=300, prefill=150, train_every=10, deter=16, hidden=16, stoch=4, classes=4, units=16,
                  layers=1, cnn_depth=4, bins=15, batch=4, length=8, horizon=5, eval_every=150, eval_episodes=1,
                  log_every=100),
    # a 2-core laptop: the SAME preset for CartPole-v1 and Pendulum-v1 from states, <= 45 minutes a run
    # (docs/results/paper4_dreamerv3.md); only --env differs. What it changes, and why: a smaller model
    # (128 units, deter 128, 16 x 16 latents), batches of 16 x 32 imagining from 128 of their 512 states,
    # one update per 4 env steps (train ratio 128, not 512), and learning rates 10x the paper's for the
    # ~6-10k updates a CPU affords in 45 minutes. Every robustness trick and loss scale stays as published.
    # Pixels only: a CNN of depth 16, not 32 (a quarter of the work; 32 took about 3 s per update in our run).
    "cpu": dict(steps=40_000, prefill=2000, train_every=4, deter=128, hidden=128, stoch=16, classes=16, units=128,
                layers=2, cnn_depth=16, batch=16, length=32, imag_starts=128, model_lr=1e-3, actor_lr=3e-4,
                critic_lr=3e-4, eval_every=2000, eval_episodes=5, log_every=1000, minutes=44.0),
    "paper": {},
}


def ablations(cfg: Config) -> set[str]:
    """The set of switched-off tricks of `cfg.ablate`; an unknown name is a ValueError naming the known ones."""
    names = {a.strip() for a in cfg.ablate.split(",") if a.strip()}
    unknown = sorted(names - set(ABLATIONS))
    if unknown:
        raise ValueError(f"--ablate got {', '.join(unknown)}; choose from {', '.join(ABLATIONS)}")
    return names
