"""The video tokenizer of Genie (§2.2, "Video Tokenizer"): an ST-transformer VQ-VAE on patches (ST-ViViT).

    frames (B, T, H, W, C) uint8 -> patches (B, T, N, P*P*C), N = (H/P)(W/P)   (7.4)
    encoder: Linear -> STTransformer -> Linear -> z (B, T, N, D)
    quantise: token = nearest of `vocab` codes e_i; z_q = z + sg(e - z)       (7.5); dead codes restarted (7.6)
    decoder: Linear -> STTransformer -> Linear -> patches -> frames in [0, 1]
    loss = mean (x - x_hat)^2 + mean (sg(z) - e)^2 + beta mean (z - sg(e))^2   (VQ-VAE, van den Oord et al. 2017, eq. 3)

Both transformers are causal in time, so the tokens of frame t depend on frames 1..t only: a single prompt frame
can be tokenised on its own, and a generated frame decoded from the tokens so far.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .st_transformer import STTransformer


def patchify(frames: torch.Tensor, patch: int) -> torch.Tensor:
    """frames (B, T, H, W, C) -> patches (B, T, N, P*P*C), N = (H/P)(W/P), patches row by row."""
    # TODO(7.4): cut every frame into non-overlapping P x P patches, row by row, each flattened as (P, P, C)
    # (see IMPLEMENTATION_GUIDE.md §7.4). H and W are multiples of P.
    raise NotImplementedError("TODO(7.4): cut every frame into non-overlapping P x P patches, row by...")


def unpatchify(patches: torch.Tensor, patch: int, height: int, width: int) -> torch.Tensor:
    """patches (B, T, N, P*P*C) -> frames (B, T, H, W, C): the inverse of patchify."""
    # TODO(7.4): put every patch back at its place; unpatchify of patchify is the identity
    # (see IMPLEMENTATION_GUIDE.md §7.4).
    raise NotImplementedError("TODO(7.4): put every patch back at its place; unpatchify of patchify is...")


def vector_quantize(z: torch.Tensor, codebook: torch.Tensor, beta: float
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(z_q, tokens, loss). z (..., D), codebook (N, D) -> z_q (..., D), tokens (...) long, loss a scalar."""
    # TODO(7.5): the nearest code of every vector; z_q with the codes' value and z's gradient (straight-through);
    # the codebook loss plus beta times the commitment loss, means over every element
    # (see IMPLEMENTATION_GUIDE.md §7.5).
    raise NotImplementedError("TODO(7.5): the nearest code of every vector; z_q with the codes' value...")


@torch.no_grad()
def restart_dead_codes(codebook: torch.Tensor, counts: torch.Tensor, z: torch.Tensor,
                       generator: torch.Generator | None = None) -> int:
    """Move every code with counts == 0 onto a row of z, in place, drawn where the live codes fit worst; returns how
    many moved.

    codebook (N, D); counts (N,) picks of each code since the last restart; z (M, D) recent encoder outputs. Row j
    is drawn (with replacement) with probability proportional to its squared distance to the nearest live code, as
    k-means++ seeds its centres (Arthur & Vassilvitskii 2007); uniformly when no code is live or every distance is 0.
    Nothing moves (returns 0) when no code is dead or M = 0."""
    # TODO(7.6): find the unused codes; weigh every row of z by its squared distance to the nearest used code;
    # overwrite each unused code, in place, with a row drawn with those weights by the generator
    # (see IMPLEMENTATION_GUIDE.md §7.6).
    raise NotImplementedError("TODO(7.6): find the unused codes; weigh every row of z by its squared...")


class VectorQuantizer(nn.Module):
    """A codebook of `vocab` codes of `dim` numbers, its usage counts and its restarts (used by the tokenizer and
    the latent action model). With `normalize`, the codes and the inputs are compared on the unit sphere (the
    caller normalises its inputs; `codes()` the codebook), after Yu et al. 2022 ("Vector-quantized image modeling
    with improved VQGAN"). With `fixed`, the codes are orthonormal (vocab <= dim) and never learn: no two codes can
    merge (the latent action model's guard against collapse, guide "Latent actions, and how they collapse")."""

    def __init__(self, vocab: int, dim: int, beta: float, normalize: bool = False, fixed: bool = False) -> None:
        super().__init__()
        self.codebook = nn.Embedding(vocab, dim)
        self.codebook.weight.data.uniform_(-1 / vocab, 1 / vocab)
        if fixed:
            if vocab > dim:
                raise ValueError(f"a fixed codebook of {vocab} orthonormal codes needs codes of >= {vocab} numbers")
            self.codebook.weight.data.copy_(torch.linalg.qr(torch.randn(dim, vocab))[0].t())  # (vocab, dim) rows
            self.codebook.weight.requires_grad_(False)
        self.vocab, self.beta, self.normalize, self.fixed = vocab, beta, normalize, fixed
        self.register_buffer("counts", torch.zeros(vocab))  # picks of each code since the last restart
        self._recent = torch.zeros(0, dim)

    def codes(self) -> torch.Tensor:
        """The codebook (N, D) as the lookup sees it."""
        return F.normalize(self.codebook.weight, dim=-1) if self.normalize else self.codebook.weight

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (..., D) -> (z_q (..., D), tokens (...), VQ loss); counts picks while training."""
        z_q, tokens, loss = vector_quantize(z, self.codes(), self.beta)
        if self.training:
            self.counts += torch.bincount(tokens.flatten(), minlength=self.vocab).to(self.counts)
            self._recent = z.detach().reshape(-1, z.shape[-1])
        return z_q, tokens, loss

    def restart(self, generator: torch.Generator | None = None) -> int:
        """Dead-code restart (guide 7.6); the counts start again from zero. A fixed codebook never moves."""
        if self.fixed:
            self.counts.zero_()
            return 0
        if self.normalize:  # compare the inputs with the codes as the lookup sees them
            self.codebook.weight.data.copy_(self.codes().detach())
        moved = restart_dead_codes(self.codebook.weight.data, self.counts, self._recent, generator)
        self.counts.zero_()
        return moved


class VideoTokenizer(nn.Module):
    """Frames (B, T, H, W, C) uint8 <-> tokens (B, T, N) long, N = (H/P)(W/P)."""

    def __init__(self, size: int, channels: int, patch: int, embed: int, heads: int, layers: int, vocab: int,
                 code_dim: int, frames: int, beta: float) -> None:
        super().__init__()
        if size % patch:
            raise ValueError(f"the frame side {size} must be a multiple of the patch side {patch}")
        self.size, self.patch, self.tokens = size, patch, (size // patch) ** 2
        pixels = patch * patch * channels
        self.enc_in, self.enc_out = nn.Linear(pixels, embed), nn.Linear(embed, code_dim)
        self.encoder = STTransformer(embed, heads, layers, self.tokens, frames)
        self.vq = VectorQuantizer(vocab, code_dim, beta)
        self.dec_in, self.dec_out = nn.Linear(code_dim, embed), nn.Linear(embed, pixels)
        self.decoder = STTransformer(embed, heads, layers, self.tokens, frames)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, H, W, C) uint8 -> z (B, T, N, D)."""
        x = patchify(frames.float() / 255.0, self.patch) * 2 - 1  # (B, T, N, P*P*C) in [-1, 1]
        return self.enc_out(self.encoder(self.enc_in(x)))

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, T, N, D) -> frames (B, T, H, W, C) floats, about [0, 1] (not clamped)."""
        x = self.dec_out(self.decoder(self.dec_in(codes))) * 0.5 + 0.5
        return unpatchify(x, self.patch, self.size, self.size)

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, H, W, C) uint8 -> tokens (B, T, N) long."""
        return self.vq(self.embed(frames))[1]

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, T, N) -> frames (B, T, H, W, C) floats in [0, 1]."""
        return self.decode_codes(self.vq.codes()[tokens]).clamp(0, 1)

    def loss(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """frames (B, T, H, W, C) uint8 -> {"loss", "recon", "vq", "tokens"}."""
        z_q, tokens, vq = self.vq(self.embed(frames))
        recon = (self.decode_codes(z_q) - frames.float() / 255.0).pow(2).mean()
        return {"loss": recon + vq, "recon": recon, "vq": vq, "tokens": tokens}
