"""DreamerV3's world model (Hafner et al. 2023, §2 "World model learning", eq. 1-5; the authors' nets.py
`RSSM`, `MultiEncoder`, `MultiDecoder`, `MLP` and agent.py `WorldModel`).

What changes from chapter 3's DreamerV2 model:
    * every MLP is Linear -> LayerNorm -> SiLU; vector inputs enter as symlog(x), the vector decoder
      predicts symlog(x) with a squared error ("symlog-MSE"); images keep a plain MSE
    * each categorical latent is 99 % the network's softmax and 1 % uniform ("unimix"), so no class ever
      has probability 0 and the KL terms stay bounded
    * the reward head is two-hot over 255 bins (symlog.py), its output layer initialised at zero
    * the KL loss is split into a dynamics loss (trains the prior, beta_dyn = 0.5) and a representation
      loss (trains the posterior, beta_rep = 0.1), each max(1, KL) with the KL summed over the latents
      first ("free bits"), per step
    * the state before an episode's first step is learned (h_0 = tanh(w)), not zeros

    h_t = GRU(h_{t-1}, [z_{t-1}, a_{t-1}])     prior p(z_t | h_t)     posterior q(z_t | h_t, e_t)

A state is a dict: logits and stoch (B, S, K), deter (B, D); the heads read feat = concat(flatten(z), h),
(B, S * K + D). Sequences are batch first: (B, T, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401 (used in TODOs 4.4 and 4.8)
from torch import nn

from common.nets import mlp as _mlp
from common.world_model import Trajectory

from .config import ablations
from .symlog import make_bins, symexp, symlog, twohot_loss, twohot_mean

State = dict[str, torch.Tensor]  # {"logits", "stoch": (B, S, K), "deter": (B, D)}, or (B, T, ...)


def mlp(inp: int, units: int, out: int, layers: int) -> nn.Sequential:
    """`layers` x (Linear -> LayerNorm -> SiLU), then a Linear to `out` (the authors' MLP, norm: layer, act: silu)."""
    return _mlp(inp, units, out, layers=layers, act=nn.SiLU, norm=True)


def zero_init(layer: nn.Linear) -> nn.Linear:
    """Zero weights and bias (the authors' outscale: 0.0): a head that starts by predicting 0 (or uniform)."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def preprocess_obs(obs: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images (..., H, W, C) -> float32 (..., C, H, W) in [-0.5, 0.5]; vectors -> float32."""
    obs = torch.as_tensor(obs)
    if obs.dtype == torch.uint8:
        return (obs.float() / 255.0 - 0.5).movedim(-1, -3)
    return obs.float()


# ---------------------------------------------------------------- the categorical latents
def unimix_logits(logits: torch.Tensor, mix: float = 0.01) -> torch.Tensor:
    """Logits of (1 - mix) * softmax(logits) + mix * uniform over the last axis: (..., K) -> (..., K)."""
    # TODO(4.4): mix the *probabilities* (not the logits) with a uniform distribution over the K classes,
    # then return the log of the mixture. (..., K) -> (..., K). See IMPLEMENTATION_GUIDE.md §4.4.
    raise NotImplementedError("TODO(4.4): mix the *probabilities* (not the logits) with a uniform...")


def onehot_sample(logits: torch.Tensor, sample: bool = True) -> torch.Tensor:
    """A one-hot draw from Cat(softmax(logits)) (or its most likely class when sample=False), with
    straight-through gradients: the value is one-hot, the gradient that of the probabilities. (..., K)."""
    # TODO(4.4): a one-hot vector whose forward value is a draw (or the argmax) and whose gradient is that
    # of softmax(logits), as in chapter 3. (..., K) -> (..., K). See IMPLEMENTATION_GUIDE.md §4.4.
    raise NotImplementedError("TODO(4.4): a one-hot vector whose forward value is a draw (or the argmax)...")


def categorical_kl(lhs_logits: torch.Tensor, rhs_logits: torch.Tensor) -> torch.Tensor:
    """KL(Cat(lhs) || Cat(rhs)) of S independent categoricals: (..., S, K) -> (...), summed over K and S."""
    lhs = lhs_logits.log_softmax(-1)
    return (lhs.exp() * (lhs - rhs_logits.log_softmax(-1))).sum((-2, -1))


def kl_losses(post_logits: torch.Tensor, prior_logits: torch.Tensor, free: float = 1.0
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The dynamics and representation losses (eq. 5), per step: (B, T, S, K) logits -> two (B, T).

        dyn = max(free, KL(sg(q) || p))     trains the prior towards the posterior
        rep = max(free, KL(q || sg(p)))     trains the posterior towards the prior

    Each KL is summed over all S latents *before* the clip ("free bits"), and the clip is per step (not on
    the batch mean as chapter 3's free nats): a step whose KL is below `free` nats gets no gradient.
    """
    # TODO(4.7): two KLs between the same distributions, each with one side's gradient stopped, each
    # clipped below at `free` per step after summing the latents. Returns (dyn, rep), each (B, T).
    # See IMPLEMENTATION_GUIDE.md §4.7.
    raise NotImplementedError("TODO(4.7): two KLs between the same distributions, each with one side's...")


# ---------------------------------------------------------------- the RSSM
class NormGRUCell(nn.Module):
    """The authors' GRU (as chapter 3): one linear layer for the three gates, LayerNorm over them, update bias -1.

    r, c, u = split(LayerNorm(W [x, h]));  c = tanh(sigmoid(r) * c);  u = sigmoid(u - 1);  h' = u c + (1 - u) h
    """

    def __init__(self, inp: int, size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(inp + size, 3 * size, bias=False)
        self.norm = nn.LayerNorm(3 * size)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        reset, cand, update = self.norm(self.linear(torch.cat([x, h], -1))).chunk(3, -1)  # 3 x (B, D)
        cand = torch.tanh(torch.sigmoid(reset) * cand)
        update = torch.sigmoid(update - 1.0)
        return update * cand + (1 - update) * h


def reset(value: torch.Tensor, initial: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """keep * value + (1 - keep) * initial, with keep (B,) broadcast over value's other axes (B, ...)."""
    keep = keep.reshape(-1, *[1] * (value.dim() - 1))
    return keep * value + (1 - keep) * initial


def block(inp: int, out: int) -> nn.Sequential:
    """Linear -> LayerNorm -> SiLU: the RSSM's hidden layers."""
    return nn.Sequential(nn.Linear(inp, out), nn.LayerNorm(out), nn.SiLU())


class RSSM(nn.Module):
    def __init__(self, action_dim: int, embed_dim: int, stoch: int = 32, classes: int = 32, deter: int = 512,
                 hidden: int = 512, unimix: float = 0.01) -> None:
        super().__init__()
        self.stoch, self.classes, self.deter, self.unimix = stoch, classes, deter, unimix
        flat = stoch * classes
        self.img_in = block(flat + action_dim, hidden)  # [z_{t-1}, a_{t-1}] -> x
        self.cell = NormGRUCell(hidden, deter)  # h_t = GRU(x, h_{t-1})
        self.img_out = block(deter, hidden)  # h_t -> y
        self.img_logits = nn.Linear(hidden, flat)  # y -> prior logits (S * K)
        self.obs_out = block(deter + embed_dim, hidden)  # [h_t, e_t] -> y'
        self.obs_logits = nn.Linear(hidden, flat)  # y' -> posterior logits
        self.initial_deter = nn.Parameter(torch.zeros(deter))  # learned h_0 = tanh(w) (initial: learned)

    def logits(self, layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        """(B, hidden) -> unimixed logits (B, S, K)."""
        return unimix_logits(layer(x).unflatten(-1, (self.stoch, self.classes)), self.unimix)

    def initial(self, batch: int) -> State:
        """The learned state before an episode's first step: h_0 = tanh(w), z_0 = the prior's mode at h_0."""
        deter = torch.tanh(self.initial_deter).expand(batch, -1)  # (B, D)
        logits = self.logits(self.img_logits, self.img_out(deter))
        return {"logits": logits, "stoch": onehot_sample(logits, sample=False).detach(), "deter": deter}

    @staticmethod
    def feat(state: State) -> torch.Tensor:
        """The feature every head reads: concat(flatten(z), h), (..., S * K + D)."""
        return torch.cat([state["stoch"].flatten(-2), state["deter"]], dim=-1)

    def img_step(self, state: State, action: torch.Tensor, sample: bool = True) -> State:
        """The prior step (s_{t-1}, a_{t-1}) -> s_t: action (B, A). Returns the prior state."""
        # TODO(4.5): scale the action down to |a| <= 1 (a gradient-free factor), img_in of [z, a], the
        # GRU for h_t, the prior's unimixed logits (B, S, K) (the logits method) and a straight-through sample.
        # Returns {"logits", "stoch", "deter"}. See IMPLEMENTATION_GUIDE.md §4.5.
        raise NotImplementedError("TODO(4.5): scale the action down to |a| <= 1 (a gradient-free...")

    def obs_step(self, state: State, action: torch.Tensor, embed: torch.Tensor,
                 sample: bool = True) -> tuple[State, State]:
        """The posterior step (s_{t-1}, a_{t-1}, e_t) -> (posterior s_t, prior s_t); embed (B, E)."""
        # TODO(4.5): the prior step, then the posterior's unimixed logits from obs_out([h_t, e_t]) and a
        # sample; the posterior shares the prior's deter. Returns (post, prior). IMPLEMENTATION_GUIDE.md §4.5.
        raise NotImplementedError("TODO(4.5): the prior step, then the posterior's unimixed logits from...")

    def observe(self, embed: torch.Tensor, action: torch.Tensor, is_first: torch.Tensor,
                state: State | None = None, sample: bool = True) -> tuple[State, State]:
        """Filter a batch of sequences: posterior and prior states for every step.

        embed (B, T, E); action (B, T, A), action[:, t] = the action taken *before* o_t; is_first (B, T),
        1.0 where an episode starts: there the state is replaced by the learned initial state and the
        action by zeros before the step. Returns post, prior: dicts of (B, T, ...) tensors.
        """
        # TODO(4.6): one obs_step per time step from the previous posterior; at an episode start use
        # the learned initial state (the initial method) and a zero action instead; stack along dim 1.
        # See IMPLEMENTATION_GUIDE.md §4.6.
        raise NotImplementedError("TODO(4.6): one obs_step per time step from the previous posterior; at...")

    def imagine(self, state: State, actions: torch.Tensor, sample: bool = True) -> State:
        """Prior states after each of actions (B, T, A), starting from `state`: dict of (B, T, ...)."""
        states = []
        for t in range(actions.shape[1]):
            state = self.img_step(state, actions[:, t], sample)
            states.append(state)
        return {k: torch.stack([s[k] for s in states], dim=1) for k in states[0]}


# ---------------------------------------------------------------- encoders, decoders, heads
class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of (N, C, H, W) feature maps (the authors' norm: layer in their convs)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


class ConvEncoder(nn.Module):
    """(..., C, 64, 64) in [-0.5, 0.5] -> (..., 16 * 8 * depth): 4 x (conv k4 s2, ChannelNorm, SiLU) to 4x4."""

    def __init__(self, channels: int, depth: int = 32) -> None:
        super().__init__()
        layers, inp = [], channels
        for mult in (1, 2, 4, 8):
            layers += [nn.Conv2d(inp, mult * depth, 4, 2, 1), ChannelNorm(mult * depth), nn.SiLU()]
            inp = mult * depth
        self.convs = nn.Sequential(*layers)
        self.out_dim = 16 * 8 * depth

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        lead = obs.shape[:-3]
        return self.convs(obs.reshape(-1, *obs.shape[-3:])).reshape(*lead, -1)


class ConvDecoder(nn.Module):
    """(..., F) -> the mean image (..., C, 64, 64) in [-0.5, 0.5]: a linear layer to 4x4x(8 depth), then
    transposed convs (k4 s2) that halve the channels and double the size, the last one to C channels."""

    def __init__(self, feat_dim: int, channels: int, depth: int = 32) -> None:
        super().__init__()
        self.depth = depth
        self.fc = nn.Linear(feat_dim, 16 * 8 * depth)
        layers = []
        for mult in (8, 4, 2):
            layers += [nn.ConvTranspose2d(mult * depth, mult * depth // 2, 4, 2, 1), ChannelNorm(mult * depth // 2),
                       nn.SiLU()]
        layers.append(nn.ConvTranspose2d(depth, channels, 4, 2, 1))
        self.deconvs = nn.Sequential(*layers)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        lead = feat.shape[:-1]
        x = self.deconvs(self.fc(feat).reshape(-1, 8 * self.depth, 4, 4))  # (N, C, 64, 64)
        return x.reshape(*lead, *x.shape[1:])


class ScalarHead(nn.Module):
    """A head for one number per state (reward, critic): (..., F) -> (...).

    twohot=True: logits over the bins, trained by two-hot cross-entropy (symlog.py); the output layer
    starts at zero, so the first prediction is 0. twohot=False (the ablation): one output, trained by a
    squared error on symlog(y) (or on y when squash=False).
    """

    def __init__(self, feat_dim: int, units: int, layers: int, bins: torch.Tensor, twohot: bool = True,
                 squash: bool = True) -> None:
        super().__init__()
        self.twohot, self.squash = twohot, squash
        self.net = mlp(feat_dim, units, len(bins) if twohot else 1, layers)
        zero_init(self.net[-1])
        self.register_buffer("bins", bins.clone(), persistent=False)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """The raw output: logits (..., K), or (..., 1) without two-hot."""
        return self.net(feat)

    def mean(self, feat: torch.Tensor) -> torch.Tensor:
        """The prediction in raw units, (...)."""
        out = self(feat)
        if self.twohot:
            return twohot_mean(out, self.bins, self.squash)
        return symexp(out[..., 0]) if self.squash else out[..., 0]

    def loss(self, feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The negative log-likelihood of targets (...) in raw units, (...); the targets get no gradient."""
        return self.nll(self(feat), target)

    def nll(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """loss() from the raw output `out` = self(feat), for two targets scored on one forward pass."""
        if self.twohot:
            return twohot_loss(out, target, self.bins, self.squash)
        target = symlog(target) if self.squash else target
        return (out[..., 0] - target.detach()).pow(2)


# ---------------------------------------------------------------- the world model
class WorldModel(nn.Module):
    """Encoder, RSSM, decoder, reward and continue heads; follows common.world_model's protocol."""

    def __init__(self, obs_shape: tuple[int, ...], action_dim: int, cfg: Any) -> None:
        super().__init__()
        self.obs_shape, self.action_dim, self.cfg = tuple(obs_shape), action_dim, cfg
        off = ablations(cfg)
        self.squash = "symlog" not in off  # symlog'd vector inputs and targets, two-hot in symlog space
        self.free = 0.0 if "free_bits" in off else cfg.free_bits
        self.pixels = len(self.obs_shape) == 3
        if self.pixels:
            self.encoder = ConvEncoder(self.obs_shape[-1], cfg.cnn_depth)
            embed = self.encoder.out_dim
        else:
            embed = cfg.units
            self.encoder = mlp(self.obs_shape[0], cfg.units, embed, cfg.layers)
        self.rssm = RSSM(action_dim, embed, cfg.stoch, cfg.classes, cfg.deter, cfg.hidden,
                         0.0 if "unimix" in off else cfg.unimix)
        self.feat_dim = cfg.stoch * cfg.classes + cfg.deter
        self.decoder = (ConvDecoder(self.feat_dim, self.obs_shape[-1], cfg.cnn_depth) if self.pixels
                        else mlp(self.feat_dim, cfg.units, self.obs_shape[0], cfg.layers))
        self.reward = ScalarHead(self.feat_dim, cfg.units, cfg.layers, make_bins(cfg.bins, cfg.bin_range),
                                 twohot="twohot" not in off, squash=self.squash)
        self.cont = mlp(self.feat_dim, cfg.units, 1, cfg.layers)  # logit of P(the episode goes on)

    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        """Preprocessed observations (..., *obs) -> embeddings (..., E); vectors enter as symlog(x)."""
        if not self.pixels and self.squash:
            obs = symlog(obs)
        return self.encoder(obs)

    def recon_loss(self, feat: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """Squared error of the decoder, summed over one observation's numbers: (B, T, F), (B, T, *obs) ->
        (B, T). Vectors: against symlog(x) (symlog-MSE, eq. 8); images: against the [-0.5, 0.5] pixels."""
        target = symlog(obs) if self.squash and not self.pixels else obs
        err = (self.decoder(feat) - target).pow(2)
        return err.flatten(2).sum(-1)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        """The world-model loss (eq. 4) on a replay batch.

        batch: obs (B, T, *obs) preprocessed, action (B, T, A), reward (B, T), terminated (B, T),
        is_first (B, T). Per step: pred = recon + reward NLL + continue NLL (target 1 - terminated), then
            loss = mean over B * T of  pred + dyn_scale * dyn + rep_scale * rep     (beta_pred = 1)
        Returns {"loss", "recon", "reward_loss", "cont_loss", "dyn", "rep" (batch means), "kl" (the raw
        mean KL(q || p), detached), "post": the posterior states (B, T, ...)}.
        """
        # TODO(4.8): embed, filter with the RSSM, score the decoder (self.recon_loss), the reward head
        # (self.reward.loss) and the continue head (a Bernoulli on its logit) on the posterior features,
        # add the scaled dyn and rep losses; return the dict above. See IMPLEMENTATION_GUIDE.md §4.8.
        raise NotImplementedError("TODO(4.8): embed, filter with the RSSM, score the decoder...")

    # ------------------------------------------------ common.world_model protocol (batch first)
    def _embed(self, obs: torch.Tensor) -> torch.Tensor:
        return self.embed(preprocess_obs(obs).to(self.rssm.initial_deter.device))

    def encode(self, obs: torch.Tensor) -> State:
        """The posterior after the first observation of an episode (learned initial state, zero action)."""
        state = self.rssm.initial(obs.shape[0])
        zero = torch.zeros(obs.shape[0], self.action_dim, device=state["deter"].device)
        return self.rssm.obs_step(state, zero, self._embed(obs), sample=False)[0]

    def observe(self, state: State, action: torch.Tensor, obs: torch.Tensor) -> State:
        return self.rssm.obs_step(state, action.float(), self._embed(obs), sample=False)[0]

    def predict(self, state: State, action: torch.Tensor) -> State:
        return self.rssm.img_step(state, action.float(), sample=False)

    def imagine(self, state: State, actions: torch.Tensor) -> Trajectory:
        states = self.rssm.imagine(state, actions.float(), sample=False)  # (B, T, ...)
        feat = self.rssm.feat(states)
        steps = [{k: v[:, t] for k, v in states.items()} for t in range(actions.shape[1])]
        return Trajectory(states=steps, rewards=self.reward.mean(feat),
                          continues=torch.sigmoid(self.cont(feat)[..., 0]))

    def decode(self, state: State) -> dict[str, torch.Tensor]:
        """{"obs": (B, H, W, C) in [0, 1] for images, (B, D) for vectors; "reward", "continue": (B,)}."""
        feat = self.rssm.feat(state)
        out = self.decoder(feat)
        if self.pixels:
            out = (out + 0.5).clamp(0, 1).movedim(-3, -1)
        elif self.squash:
            out = symexp(out)
        return {"obs": out, "reward": self.reward.mean(feat), "continue": torch.sigmoid(self.cont(feat)[..., 0])}
