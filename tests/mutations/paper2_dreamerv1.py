"""Classic mistakes of chapter 2 (DreamerV1), each caught by the graded suite (see __init__.py)."""

from __future__ import annotations

from . import Mutation

MUTATIONS: list[Mutation] = [
    Mutation(id="kl-without-free-nats", step="2.6", file="rssm.py",
             find="return kl.clamp(min=free_nats), kl",
             replace="return kl, kl",
             why="the free nats are what stop the KL from collapsing the posterior onto an uninformative "
                 "prior"),
    Mutation(id="kl-free-nats-per-step", step="2.6", file="rssm.py",
             find="    kl = kl.mean()\n    return kl.clamp(min=free_nats), kl",
             replace="    return kl.clamp(min=free_nats).mean(), kl.mean()",
             why="Dreamer clips the batch-mean KL, not every step's KL (that would give free nats per step)"),
    Mutation(id="lambda-return-bootstrap-off-by-one", step="2.10", file="actor_critic.py",
             find="next_values = torch.cat([value[:, 1:], bootstrap[:, None]], dim=1)",
             replace="next_values = value",
             why="the lambda-return of step t bootstraps from the value of the *next* state, v_{t+1}"),
    Mutation(id="value-target-without-stop-gradient", step="2.12", file="actor_critic.py",
             find="target = returns.detach()",
             replace="target = returns",
             why="value targets are fixed numbers (eq. 8); their gradient would drag the targets toward the "
                 "predictions"),
    Mutation(id="actor-optimiser-steps-world-model", step="2.13", file="agent.py",
             find="self.actor_opt = adam(self.actor.parameters(), cfg.actor_lr)",
             replace="self.actor_opt = adam([*self.actor.parameters(), *self.wm.parameters()], cfg.actor_lr)",
             why="the actor's gradients flow through the world model, but only the model loss may change it"),
    Mutation(id="no-reset-at-episode-start", step="2.5", file="rssm.py",
             find="            state = {k: v * mask for k, v in state.items()}\n",
             replace="",
             why="a sampled chunk can run into the next episode; without a reset the new episode inherits "
                 "the "
                 "old one's memory"),
    Mutation(id="min-std-forgotten", step="2.2", file="rssm.py",
             find="return mean, F.softplus(raw) + min_std",
             replace="return mean, F.softplus(raw)",
             why="without a floor the std can shrink to zero and the KL and log-probs blow up"),
    Mutation(id="imagine-from-attached-posterior", step="2.11", file="actor_critic.py",
             find="state = {k: v.detach().reshape(-1, v.shape[-1]) for k, v in start.items()}",
             replace="state = {k: v.reshape(-1, v.shape[-1]) for k, v in start.items()}",
             why="the actor's loss must not reach the encoder and posterior through the imagination starts"),
    Mutation(id="imagination-includes-start-state", step="2.11", file="actor_critic.py",
             find="    feats = []\n    for _ in range(horizon):",
             replace="    feats = [rssm.feat(state)]\n    for _ in range(horizon - 1):",
             why="the official code scores the H states *after* the start; the start's reward was already "
                 "seen"),
    Mutation(id="decoder-sigmoid-output", step="2.7", file="networks.py",
             find="            if i < len(self.deconvs) - 1:\n                x = F.relu(x)",
             replace="            x = F.relu(x) if i < len(self.deconvs) - 1 else torch.sigmoid(x)",
             why="the decoder outputs the mean of a unit Gaussian in [-0.5, 0.5] pixel space, not "
                 "probabilities"),
    Mutation(id="loss-adds-log-likelihoods", step="2.8", file="agent.py",
             find="loss = self.kl_scale * kl_clipped - obs_ll - reward_ll",
             replace="loss = self.kl_scale * kl_clipped + obs_ll + reward_ll",
             why="log-likelihoods are maximised, so they enter a loss with a minus sign"),
    Mutation(id="actor-loss-detached-returns", step="2.12", file="actor_critic.py",
             find="return -(weights * returns).mean()",
             replace="return -(weights * returns.detach()).mean()",
             why="Dreamer's actor learns from the analytic gradient of the returns through the dynamics"),
]
