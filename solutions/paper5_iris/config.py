"""Every setting of chapter 5 in one place. Field defaults are the paper's Atari 100k setting (`--preset paper`).

Sources: Micheli, Alonso & Fleuret, "Transformers are Sample-Efficient World Models" (ICLR 2023),
arXiv:2209.00588, §2 and Appendix A-B (Tables 2-4), and the authors' configs (eloialonso/iris, config/):
frames 64x64 RGB, frame skip 4; tokenizer: 16 tokens (4x4) per frame, vocabulary 512, code dimension 512,
L1 + commitment (beta 1.0) + perceptual loss; world model: a GPT of 10 layers, 4 heads, width 256, 20
blocks of 17 tokens (16 frame tokens + 1 action), dropout 0.1; actor-critic: conv + LSTM 512 on
reconstructed frames, burn-in 20, imagination horizon 20, gamma 0.995, lambda 0.95, entropy 0.001;
training: 200 collected steps per epoch, then 200 updates of each component, batch 256 frames / 64
sequences / 64 sequences, Adam lr 1e-4 (world model AdamW, weight decay 0.01), grad clip 10; the
tokenizer starts after 5 epochs, the world model after 25, the actor-critic after 50; episodes end on a
lost life while training; collection samples the policy with epsilon 0.01.

Not here: the perceptual (LPIPS) loss needs VGG weights this course cannot download. In its place the
codes are L2-normalised (`normalize_codes`) and unused codes are restarted (`restart_every`), the two
guards against codebook collapse the guide explains (§5.4).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Config:
    env: str = "ALE/Breakout-v5"
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch threads; 0 = torch's default
    # environment and schedule (config/trainer.yaml)
    action_repeat: int = 4  # frame skip
    life_loss: bool = True  # a lost life ends a *training* episode (evaluation plays whole games)
    epochs: int = 500  # collection epochs: epochs * collect agent steps in all (100k)
    collect: int = 200  # agent steps collected per epoch
    epsilon: float = 0.01  # collection: a uniformly random action with this probability
    tokenizer_start: int = 5  # epoch after which each component starts training
    world_model_start: int = 25
    actor_critic_start: int = 50
    tokenizer_updates: int = 200  # updates per epoch of each component
    world_model_updates: int = 200
    actor_critic_updates: int = 200
    tokenizer_stop: int = 0  # 0 = train the tokenizer every epoch; N = freeze it after epoch N (then tokens are cached)
    buffer_size: int = 100_000
    # tokenizer (Table 2)
    vocab: int = 512
    tokens_side: int = 4  # a frame becomes tokens_side^2 = 16 tokens
    code_dim: int = 512
    channels: int = 64  # encoder/decoder width
    beta: float = 1.0  # commitment weight: ||z - sg(e)||^2 (the codebook term sg(z) - e has weight 1)
    normalize_codes: bool = True  # L2-normalise z and codes before the lookup (our guard, not the paper's)
    restart_every: int = 200  # updates between dead-code restarts (0 = never; our guard, not the paper's)
    foreground_weight: float = 0.0  # L1 weight 1 + w off the static background (0 = the paper's L1; ours)
    tokenizer_batch: int = 256  # frames
    tokenizer_lr: float = 1e-4
    # world model (Table 3)
    embed: int = 256
    layers: int = 10
    heads: int = 4
    max_blocks: int = 20  # context: 20 blocks of 17 tokens
    dropout: float = 0.1
    world_model_batch: int = 64  # sequences of max_blocks steps
    world_model_lr: float = 1e-4
    weight_decay: float = 0.01
    # actor-critic (Table 4)
    ac_channels: tuple[int, ...] = (32, 32, 64, 64)
    lstm: int = 512
    burn_in: int = 20
    horizon: int = 20
    gamma: float = 0.995
    lam: float = 0.95
    entropy: float = 0.001
    actor_critic_batch: int = 64
    actor_critic_lr: float = 1e-4
    temperature: float = 1.0  # sampling temperature of the imagined frame tokens
    grad_clip: float = 10.0
    # evaluation, logging, saving
    eval_every: int = 50  # epochs
    eval_episodes: int = 8
    report_frames: int = 2000  # held-out frames of the world-model report (eval.py --report)
    minutes: float = 0.0  # stop after this many wall minutes (0 = no limit); a checkpoint is saved


PRESETS: dict[str, dict] = {
    # seconds, for CI: a tiny model through every stage
    "smoke": dict(epochs=4, collect=40, tokenizer_start=0, world_model_start=1, actor_critic_start=2,
                  tokenizer_updates=2, world_model_updates=2, actor_critic_updates=2, vocab=16, code_dim=8,
                  channels=8, restart_every=2, tokenizer_batch=8, embed=16, layers=1, heads=2, max_blocks=4,
                  world_model_batch=2, ac_channels=(4, 4, 8, 8), lstm=16, burn_in=2, horizon=3,
                  actor_critic_batch=2, eval_every=1, eval_episodes=1, report_frames=40),
    # a 2-core laptop, <= 120 minutes on Breakout (docs/results/paper5_iris.md): the paper's schedule over 100
    # epochs (20k agent steps) with fewer, smaller updates; a 3-layer GPT of width 128 over 11 blocks; 10-step dreams
    "cpu": dict(epochs=100, collect=200, tokenizer_start=2, world_model_start=8, actor_critic_start=20,
                tokenizer_updates=40, world_model_updates=40, actor_critic_updates=12, tokenizer_stop=60,
                code_dim=32, channels=16, tokenizer_batch=32, tokenizer_lr=1e-3, embed=128, layers=3,
                max_blocks=11, world_model_batch=12, world_model_lr=5e-4, ac_channels=(16, 16, 32, 32),
                lstm=128, burn_in=8, horizon=10, actor_critic_batch=16, actor_critic_lr=3e-4, eval_every=20,
                eval_episodes=4, minutes=115.0),
    "paper": {},
}
