"""Every setting of chapter 2 in one place. Field defaults are the paper's (`--preset paper`).

Sources: Hafner et al., "Dream to Control: Learning Behaviors by Latent Imagination" (ICLR 2020),
arXiv:1912.01603, §3-4 and Appendix A, and the authors' code danijar/dreamer (`define_config` in
dreamer.py, `RSSM`/`ActionDecoder` in models.py): deter 200, stoch 30, hidden 200 (RSSM), 400 units
(dense heads), min std 0.1, free nats 3, KL scale 1, batch 50 x 50, model lr 6e-4, actor and value lr
8e-5, gradient clip 100, horizon 15, gamma 0.99, lambda 0.95, action repeat 2, exploration noise 0.3,
100 updates every 1000 env steps, 5000 prefill env steps, tanh-Normal actor with init std 5, mean scale 5.

Step counts (`steps`, `prefill`, `train_every`, `eval_every`) are *environment* steps, action repeat
included, as in the authors' code; the agent acts steps / action_repeat times.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Config:
    env: str = "Pendulum-v1"
    obs: str = "pixels"  # "pixels" (64x64 render, as the paper) or "state" (the env's vector)
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch threads; 0 = torch's default
    # environment and schedule (dreamer.py define_config)
    steps: int = 5_000_000  # environment steps in all, action repeat included
    action_repeat: int = 2
    prefill: int = 5000  # environment steps of uniformly random actions before learning starts
    train_every: int = 1000  # environment steps between two training phases ...
    train_steps: int = 100  # ... of this many gradient updates
    pretrain: int = 100  # updates right after the prefill
    reward_scale: float = 1.0  # rewards are multiplied by this before they are stored (1 = the paper)
    expl_noise: float = 0.3  # std of the Gaussian added to the actor's sample while collecting
    buffer_size: int = 1_000_000  # agent steps kept (the authors keep every episode)
    # model (models.py RSSM, ConvEncoder, ConvDecoder, DenseDecoder)
    deter: int = 200  # h: the GRU's deterministic state
    stoch: int = 30  # z: the Gaussian stochastic state
    hidden: int = 200  # the RSSM's hidden layers
    units: int = 400  # dense heads: reward (2 layers), value (3), actor (4); state encoder/decoder (2)
    cnn_depth: int = 32
    embed: int = 1024  # state encoder's output; the conv encoder's is fixed at 32 * cnn_depth = 1024
    min_std: float = 0.1  # std = softplus(raw) + 0.1 for prior and posterior
    free_nats: float = 3.0  # KL below 3 nats (batch mean) carries no gradient (§4, eq. 10)
    kl_scale: float = 1.0
    # training (dreamer.py define_config)
    batch: int = 50
    length: int = 50
    model_lr: float = 6e-4
    actor_lr: float = 8e-5
    value_lr: float = 8e-5
    adam_eps: float = 1e-7  # TF/Keras Adam's default epsilon (the authors' tools.Adam sets none)
    grad_clip: float = 100.0
    # behaviour (§3, eq. 5-8)
    horizon: int = 15
    imag_starts: int = 0  # imagine from this many random posterior states (0 = all B * T, the paper)
    discount: float = 0.99
    lam: float = 0.95  # lambda of the lambda-return (eq. 6)
    actor_init_std: float = 5.0
    actor_mean_scale: float = 5.0
    actor_entropy: float = 0.0  # entropy bonus of the actor loss: none in DreamerV1 (V2 adds one)
    # evaluation, logging, saving
    eval_every: int = 10_000  # environment steps
    eval_episodes: int = 1
    log_every: int = 1000  # environment steps between metric lines
    minutes: float = 0.0  # stop after this many wall minutes (0 = no limit); a checkpoint is saved


PRESETS: dict[str, dict] = {
    # seconds, for CI: a tiny model through every stage
    "smoke": dict(obs="state", steps=400, prefill=200, train_every=100, train_steps=2, pretrain=2,
                  deter=16, stoch=4, hidden=16, units=16, embed=16, batch=4, length=8, horizon=5,
                  eval_every=200, eval_episodes=1, log_every=200),
    # a 2-core laptop, Pendulum-v1 from state vectors in <= 60 minutes (docs/results/paper2_dreamerv1.md):
    # a smaller model (100 units, deter 100, stoch 16), small batches (16 x 32, imagining from 128 of the
    # 512 posterior states), higher learning rates for the few thousand updates a CPU affords, and an
    # update ratio of 25 updates per 100 env steps, and an entropy bonus for the actor (without it the actor
    # saturated at a constant +-1 torque in every dev run: Pendulum's "hold it sideways" local optimum).
    "cpu": dict(obs="state", steps=80_000, prefill=2000, train_every=100, train_steps=25, pretrain=100,
                deter=100, stoch=16, hidden=100, units=100, embed=100, batch=16, length=32, imag_starts=128,
                model_lr=1e-3, actor_lr=2e-4, value_lr=1e-3, actor_entropy=1.0, eval_every=2000, eval_episodes=5,
                log_every=1000, minutes=55.0),
    "paper": {},
}
