"""Every setting of chapter 3 in one place. Field defaults are the paper's Atari setting (`--preset paper`).

Sources: Hafner et al., "Mastering Atari with Discrete World Models" (ICLR 2021), arXiv:2010.02193, §2-3
and Appendix C (Table C.1, hyperparameters), and the authors' danijar/dreamerv2 `configs.yaml` (the
`defaults` block with its `atari` overrides): 32 categoricals of 32 classes, deter and hidden 600,
MLP heads of 4 x 400 ELU units, KL balance 0.8, KL scale 0.1, discount-head loss scale 5, no free nats,
model lr 2e-4, actor lr 4e-5, critic lr 1e-4 (all Adam eps 1e-5, clip 100, weight decay 1e-6),
horizon 15, gamma 0.999, lambda 0.95, REINFORCE for discrete actions with entropy 1e-3, target critic
copied every 100 updates, batch 16 x 50, one update every 16 environment steps (train_every: 16, with
action repeat 4: every 4 agent steps), 50k-step prefill, rewards squashed with tanh.

Step counts (`steps`, `prefill`, `train_every`, `eval_every`) are *environment* steps, action repeat
included, as in the authors' code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Config:
    env: str = "ALE/Boxing-v5"
    obs: str = "pixels"  # "pixels" (64x64 grayscale, as the paper) or "state" (the env's vector)
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch threads; 0 = torch's default
    # environment and schedule (configs.yaml atari)
    steps: int = 10_000_000  # environment steps (frames) in all, action repeat included
    action_repeat: int = 4
    prefill: int = 50_000
    train_every: int = 16  # environment steps between two updates
    pretrain: int = 1  # updates right after the prefill
    reward_tanh: bool = True  # store tanh(r): Atari's clip_rewards: tanh
    buffer_size: int = 2_000_000  # agent steps kept
    # world model (§2, Appendix C)
    deter: int = 600  # h: the GRU's state
    hidden: int = 600  # the RSSM's hidden layers
    stoch: int = 32  # z: this many categorical variables ...
    classes: int = 32  # ... of this many classes each
    units: int = 400  # MLP heads: reward, discount, actor, critic; state encoder/decoder
    layers: int = 4  # hidden layers of every MLP head
    cnn_depth: int = 48
    embed: int = 400  # the state encoder's output (pixels: the conv encoder's 32 * cnn_depth)
    kl_balance: float = 0.8  # alpha of KL balancing (§2, Algorithm 2)
    kl_free: float = 0.0  # free nats, on the batch mean (free_avg: True); none for Atari
    kl_scale: float = 0.1  # beta
    discount_scale: float = 5.0  # loss scale of the discount head
    model_lr: float = 2e-4
    # behaviour (§2: actor and critic learning)
    horizon: int = 15
    imag_starts: int = 0  # imagine from this many random posterior states (0 = all B * T, the paper)
    discount: float = 0.999  # gamma
    lam: float = 0.95
    # rho of the paper's eq. 6: 1 = REINFORCE (discrete, Atari), 0 = dynamics backprop (continuous). The authors'
    # configs.yaml field of the same name weighs the *dynamics* term instead, i.e. it is 1 - rho.
    actor_grad_mix: float = 1.0
    actor_entropy: float = 1e-3  # eta
    actor_lr: float = 4e-5
    critic_lr: float = 1e-4
    target_every: int = 100  # updates between two copies of the critic into the target critic
    adam_eps: float = 1e-5
    # torch's AdamW decays by lr * weight_decay per step; the authors' optimiser by weight_decay itself, so this
    # decay is 1/lr times weaker than theirs (a known deviation; over 10k updates either is below 1 %).
    weight_decay: float = 1e-6
    grad_clip: float = 100.0
    batch: int = 16
    length: int = 50
    # evaluation, logging, saving
    eval_every: int = 250_000  # environment steps
    eval_episodes: int = 1
    log_every: int = 10_000  # environment steps between metric lines
    minutes: float = 0.0  # stop after this many wall minutes (0 = no limit); a checkpoint is saved


PRESETS: dict[str, dict] = {
    # seconds, for CI: a tiny model through every stage, on CartPole from states
    "smoke": dict(env="CartPole-v1", obs="state", steps=300, prefill=150, train_every=10, action_repeat=1,
                  reward_tanh=False, deter=16, hidden=16, stoch=4, classes=4, units=16, layers=1, embed=16,
                  batch=4, length=8, horizon=5, discount=0.99, eval_every=150, eval_episodes=1, log_every=100),
    # a 2-core laptop: CartPole-v1 from state vectors in <= 45 minutes (docs/results/paper3_dreamerv2.md)
    "cpu": dict(env="CartPole-v1", obs="state", steps=50_000, prefill=2500, train_every=5, action_repeat=1,
                reward_tanh=False, deter=128, hidden=128, stoch=16, classes=16, units=128, layers=2, embed=128,
                batch=16, length=32, imag_starts=128, discount=0.99, kl_scale=1.0, model_lr=1e-3,
                actor_lr=3e-4, critic_lr=5e-4, actor_entropy=3e-3, eval_every=2500, eval_episodes=5,
                log_every=1000, minutes=40.0),
    # the Atari lane on a CPU: Boxing from 64x64 grayscale frames, <= 120 minutes
    "atari": dict(steps=400_000, prefill=20_000, train_every=16, deter=200, hidden=200, stoch=16, classes=16,
                  units=200, layers=2, cnn_depth=16, batch=16, length=32, imag_starts=256, model_lr=6e-4,
                  actor_lr=1e-4, critic_lr=2e-4, eval_every=50_000, eval_episodes=3, log_every=10_000,
                  minutes=115.0),
    "paper": {},
}
