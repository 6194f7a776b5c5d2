"""The Recurrent State-Space Model, Dreamer's world model core (Hafner et al. 2019 "PlaNet" §3,
used unchanged by Dreamer: "Dream to Control" §4 and eq. 9-10; the authors' models.py `RSSM`).

The latent state s_t = (h_t, z_t) has a deterministic part h (a GRU's state, `deter` = 200 numbers) and
a stochastic part z (a diagonal Gaussian sample, `stoch` = 30 numbers):

    deterministic  h_t = f(h_{t-1}, z_{t-1}, a_{t-1})          the GRU: the "recurrent" in RSSM
    prior          p(z_t | h_t)          = N(mu, sigma)        imagination: no observation needed
    posterior      q(z_t | h_t, e_t)     = N(mu', sigma')      observation: e_t = encoder(o_t)

A state is a dict of tensors: mean, std, stoch (B, S) and deter (B, D); the feature the heads read is
concat(stoch, deter) (B, S + D). Sequences are batch first: (B, T, ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: F401 (used in TODOs 2.2-2.4)
from torch import nn

State = dict[str, torch.Tensor]  # {"mean", "std", "stoch": (B, S), "deter": (B, D)}, or (B, T, ...)


def gaussian_stats(x: torch.Tensor, min_std: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a layer's output (..., 2S) into a mean (..., S) and a standard deviation (..., S).

    The first half is the mean as it is; the second half goes through softplus (so it is positive)
    plus `min_std` (so the distribution never collapses; models.py: softplus(std) + 0.1).
    """
    # TODO(2.2): Gaussian statistics; see IMPLEMENTATION_GUIDE.md §2.2. In: x (..., 2S). Out: mean, std, each
    # (..., S). The mean is the first half of the last axis as it is; the std comes from the second half, made
    # positive by a softplus, plus its floor min_std.
    raise NotImplementedError("TODO(2.2): Gaussian statistics; see IMPLEMENTATION_GUIDE.md §2.2.")


def sample_stoch(mean: torch.Tensor, std: torch.Tensor, sample: bool = True) -> torch.Tensor:
    """z = mean + std * eps with eps ~ N(0, I) (reparameterised, so gradients reach mean and std);
    sample=False returns the mean (used by the tests and for deterministic pictures)."""
    return mean + std * torch.randn_like(std) if sample else mean


class RSSM(nn.Module):
    def __init__(self, action_dim: int, embed_dim: int, stoch: int = 30, deter: int = 200, hidden: int = 200,
                 min_std: float = 0.1) -> None:
        super().__init__()
        self.stoch, self.deter, self.min_std = stoch, deter, min_std
        self.img_in = nn.Linear(stoch + action_dim, hidden)  # models.py img1: [z_{t-1}, a_{t-1}] -> x
        self.gru = nn.GRUCell(hidden, deter)  # h_t = GRU(x, h_{t-1})
        self.img_out = nn.Linear(deter, hidden)  # img2
        self.img_stats = nn.Linear(hidden, 2 * stoch)  # img3: prior mean and raw std
        self.obs_out = nn.Linear(deter + embed_dim, hidden)  # obs1: [h_t, e_t] -> x
        self.obs_stats = nn.Linear(hidden, 2 * stoch)  # obs2: posterior mean and raw std

    def initial(self, batch: int) -> State:
        """The state before the first step of an episode: all zeros."""
        p = self.img_in.weight
        zeros = lambda n: torch.zeros(batch, n, device=p.device, dtype=p.dtype)
        return {"mean": zeros(self.stoch), "std": zeros(self.stoch), "stoch": zeros(self.stoch),
                "deter": zeros(self.deter)}

    @staticmethod
    def feat(state: State) -> torch.Tensor:
        """The feature every head reads: concat(z, h), (..., S + D)."""
        return torch.cat([state["stoch"], state["deter"]], dim=-1)

    def img_step(self, state: State, action: torch.Tensor, sample: bool = True) -> State:
        """The prior (imagination) step: (s_{t-1}, a_{t-1}) -> s_t without an observation.

        state: (B, ...) as above; action (B, A). Returns the prior state {mean, std, stoch, deter}.
        """
        # TODO(2.3): the prior step; see IMPLEMENTATION_GUIDE.md §2.3. In: state {stoch (B, S), deter (B, D),
        # ...}, action (B, A). Out: the prior state {mean, std, stoch, deter} of the next step. The GRU moves
        # deter on, reading the previous stoch and action through img_in (ELU); the Gaussian over stoch is
        # read from the new deter through img_out (ELU), img_stats and gaussian_stats; stoch comes from
        # sample_stoch.
        raise NotImplementedError("TODO(2.3): the prior step; see IMPLEMENTATION_GUIDE.md §2.3.")

    def obs_step(self, state: State, action: torch.Tensor, embed: torch.Tensor,
                 sample: bool = True) -> tuple[State, State]:
        """The posterior (observation) step: (s_{t-1}, a_{t-1}, e_t) -> (posterior s_t, prior s_t).

        The posterior keeps the prior's h_t and replaces z_t by a sample of q(z_t | h_t, e_t).
        embed: (B, E), the encoder's output for o_t.
        """
        # TODO(2.4): the posterior step; see IMPLEMENTATION_GUIDE.md §2.4. In: state, action (B, A), embed
        # (B, E). Out: (post, prior), prior being img_step's. post keeps the prior's deter and replaces the
        # Gaussian over stoch by one read from that deter and embed together (obs_out with ELU, obs_stats,
        # gaussian_stats), sampled like the prior. The prior never sees embed.
        raise NotImplementedError("TODO(2.4): the posterior step; see IMPLEMENTATION_GUIDE.md §2.4.")

    def observe(self, embed: torch.Tensor, action: torch.Tensor, is_first: torch.Tensor,
                state: State | None = None, sample: bool = True) -> tuple[State, State]:
        """Filter a batch of sequences: posterior and prior states for every step.

        embed (B, T, E); action (B, T, A), action[:, t] = the action taken *before* o_t; is_first (B, T)
        1.0 where an episode starts. At such a step the state and the action are reset to zeros before
        obs_step, so a chunk that runs into the next episode does not carry the old one's memory.
        Returns post, prior: dicts of (B, T, ...) tensors.
        """
        # TODO(2.5): filtering with resets; see IMPLEMENTATION_GUIDE.md §2.5. In: embed (B, T, E), action
        # (B, T, A), is_first (B, T). Out: post, prior, dicts of (B, T, ...) tensors. Each step runs obs_step
        # from the previous posterior (the initial state before the first step); where is_first is 1, the
        # state and the action are zeroed first, so a new episode starts from a blank memory.
        raise NotImplementedError("TODO(2.5): filtering with resets; see IMPLEMENTATION_GUIDE.md §2.5.")

    def imagine(self, state: State, actions: torch.Tensor, sample: bool = True) -> State:
        """Prior states after each of actions (B, T, A), starting from `state`: dict of (B, T, ...)."""
        states = []
        for t in range(actions.shape[1]):
            state = self.img_step(state, actions[:, t], sample)
            states.append(state)
        return {k: torch.stack([s[k] for s in states], dim=1) for k in states[0]}


def kl_loss(post: State, prior: State, free_nats: float = 3.0) -> tuple[torch.Tensor, torch.Tensor]:
    """KL(q || p) between the posterior and the prior, with free nats (§4 eq. 10; dreamer.py `_train`).

    Per step, KL of two diagonal Gaussians summed over the S dimensions:
        sum_j log(s_p / s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2
    then averaged over every batch and time step, and only then clipped from below at `free_nats`:
    while the mean KL is under 3 nats it costs nothing and gives no gradient.
    Returns (loss, kl): the clipped value to minimise and the raw mean KL, for logging.
    """
    # TODO(2.6): the KL with free nats; see IMPLEMENTATION_GUIDE.md §2.6. In: post, prior with mean, std
    # (B, T, S). Out: (loss, kl), both scalars: kl is the closed-form KL(post || prior) summed over S and
    # averaged over B and T; loss is kl floored at free_nats. Floor the mean, not each step; gradients reach
    # both post and prior.
    raise NotImplementedError("TODO(2.6): the KL with free nats; see IMPLEMENTATION_GUIDE.md §2.6.")
