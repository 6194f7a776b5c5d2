"""The discrete autoencoder of IRIS (§2.1): a 64x64 frame becomes a 4x4 grid of codebook indices, 16 tokens.

    encoder E: frame (B, 3, 64, 64) -> z (B, 16, D)        a vector per 16x16 patch of the frame
    lookup:    token_k = argmin_i ||z_k - e_i||^2          the nearest of the N codes e_i (N = vocab)
    decoder D: codes e_tokens (B, 16, D) -> frame (B, 3, 64, 64)

Training (VQ-VAE, van den Oord et al. 2017, eq. 3; IRIS Appendix A):
    loss = |x - D(z_q)|_1  +  ||sg(z) - e||^2  +  beta ||z - sg(e)||^2
with z_q = z + sg(e - z) (straight-through: the decoder sees the code, the encoder gets its gradient).
`foreground_weight` w > 0 (ours, not the paper's; 0 by default) weights the L1 term of each pixel that is not the
batch's static background by 1 + w, so that a paddle or a ball of a few pixels counts (docs/results/paper5_iris.md).
Frames are floats in [0, 1], (B, 3, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def nearest_code(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """The index of the nearest code for each vector. z (..., D), codebook (N, D) -> tokens (...) long."""
    # TODO(5.1): the index of the closest code (squared distance) for every vector of z.
    # See IMPLEMENTATION_GUIDE.md §5.1.
    raise NotImplementedError("TODO(5.1): the index of the closest code (squared distance) for every...")


def straight_through(z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """z_q: the value of `codes`, the gradient of `z`. Both (..., D)."""
    # TODO(5.2): the value of the codes, the gradient of z: the decoder's gradient reaches the encoder
    # unchanged and none reaches the codes. See IMPLEMENTATION_GUIDE.md §5.2.
    raise NotImplementedError("TODO(5.2): the value of the codes, the gradient of z: the decoder's...")


def vq_losses(z: torch.Tensor, codes: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(codebook loss, commitment loss), scalars: the codes move to z; z is held near its codes (weight beta)."""
    # TODO(5.3): (codebook loss, commitment loss), two scalar mean squared errors between z and the codes that
    # train opposite sides, beta on the commitment. See IMPLEMENTATION_GUIDE.md §5.3.
    raise NotImplementedError("TODO(5.3): (codebook loss, commitment loss), two scalar mean squared...")


@torch.no_grad()
def restart_dead_codes(codebook: torch.Tensor, counts: torch.Tensor, z: torch.Tensor,
                       generator: torch.Generator | None = None) -> int:
    """Move every code with counts == 0 onto a random encoder output; returns how many moved.

    codebook (N, D) is changed in place; counts (N,) how often each code was picked since the last restart;
    z (M, D) recent encoder outputs (the same space as the codes). Nothing moves (returns 0) when no code
    is dead or z is empty (M = 0: no batch seen yet)."""
    # TODO(5.4): every unused code jumps onto a randomly drawn row of z (draws from `generator`); returns how
    # many moved. See IMPLEMENTATION_GUIDE.md §5.4.
    raise NotImplementedError("TODO(5.4): every unused code jumps onto a randomly drawn row of z (draws...")


class Tokenizer(nn.Module):
    """Conv encoder to a 4x4 grid, a codebook of `vocab` codes of `code_dim` numbers, conv decoder."""

    def __init__(self, vocab: int, code_dim: int, channels: int, tokens_side: int = 4, image: int = 64,
                 normalize: bool = True, beta: float = 1.0, foreground_weight: float = 0.0) -> None:
        super().__init__()
        downs = (image // tokens_side).bit_length() - 1  # stride-2 convs from 64 to 4: four
        if tokens_side * 2 ** downs != image:
            raise ValueError(f"the frame side {image} must be tokens_side ({tokens_side}) times a power of two")
        widths = [channels * min(2 ** i, 4) for i in range(downs)]  # C, 2C, 4C, 4C
        enc, width = [], 3
        for out in widths:  # (B, 3, 64, 64) -> (B, 4C, 4, 4): each stride-2 conv halves the side
            enc += [nn.Conv2d(width, out, 4, 2, 1), nn.GroupNorm(1, out), nn.SiLU()]
            width = out
        self.encoder = nn.Sequential(*enc, nn.Conv2d(width, code_dim, 1))  # (B, D, 4, 4)
        dec = [nn.Conv2d(code_dim, width, 3, 1, 1), nn.SiLU()]
        for out in widths[-2::-1] + widths[:1]:  # (B, 4C, 4, 4) -> (B, C, 64, 64), the mirror image
            dec += [nn.ConvTranspose2d(width, out, 4, 2, 1), nn.GroupNorm(1, out), nn.SiLU()]
            width = out
        self.decoder = nn.Sequential(*dec, nn.Conv2d(width, 3, 3, 1, 1))
        self.codebook = nn.Embedding(vocab, code_dim)
        self.codebook.weight.data.uniform_(-1 / vocab, 1 / vocab)  # the authors' initialisation
        self.vocab, self.side, self.normalize, self.beta = vocab, tokens_side, normalize, beta
        self.foreground_weight = foreground_weight
        self.register_buffer("counts", torch.zeros(vocab))  # picks of each code since the last restart

    def codes(self) -> torch.Tensor:
        """The codebook as the lookup sees it (N, D): L2-normalised when `normalize`."""
        return F.normalize(self.codebook.weight, dim=-1) if self.normalize else self.codebook.weight

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, 3, H, W) in [0, 1] -> z (B, 16, D), one vector per patch, row by row."""
        z = self.encoder(frames * 2 - 1).flatten(2).transpose(1, 2)  # (B, 16, D)
        return F.normalize(z, dim=-1) if self.normalize else z

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (..., 3, H, W) in [0, 1] -> tokens (..., 16) long."""
        lead = frames.shape[:-3]
        return nearest_code(self.embed(frames.reshape(-1, *frames.shape[-3:])), self.codes()).reshape(*lead, -1)

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (B, 16, D) -> frames (B, 3, H, W) in [0, 1] (not clamped while training)."""
        grid = codes.transpose(1, 2).reshape(len(codes), -1, self.side, self.side)  # (B, D, 4, 4)
        return self.decoder(grid) * 0.5 + 0.5

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (..., 16) -> frames (..., 3, H, W) in [0, 1]."""
        lead = tokens.shape[:-1]
        frames = self.decode_codes(self.codes()[tokens.reshape(-1, tokens.shape[-1])]).clamp(0, 1)
        return frames.reshape(*lead, *frames.shape[1:])

    def loss(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """frames (B, 3, H, W) in [0, 1] -> {"loss", "recon", "codebook", "commitment", "tokens" (B, 16)}."""
        z = self.embed(frames)  # (B, 16, D)
        tokens = nearest_code(z.detach(), self.codes().detach())  # (B, 16)
        codes = self.codes()[tokens]  # (B, 16, D), differentiable w.r.t. the codebook
        err = (frames - self.decode_codes(straight_through(z, codes))).abs()  # (B, 3, H, W): L1 (Appendix A)
        if self.foreground_weight:  # ours, not the paper's: pixels off the batch's static background count 1 + w times
            moving = ((frames - frames.median(0).values).abs().amax(1, keepdim=True) > 0.05).float()  # (B, 1, H, W)
            weight = 1 + self.foreground_weight * moving
            recon = (err * weight).mean() / weight.mean()
        else:
            recon = err.mean()
        codebook, commitment = vq_losses(z, codes, self.beta)
        self.counts += torch.bincount(tokens.flatten(), minlength=self.vocab).to(self.counts)
        self._recent = z.detach().reshape(-1, z.shape[-1])  # what restart() copies dead codes onto
        return {"loss": recon + codebook + commitment, "recon": recon, "codebook": codebook,
                "commitment": commitment, "tokens": tokens}

    def restart(self, generator: torch.Generator | None = None) -> int:
        """Dead-code restart (§5.4 of the guide): codes unused since the last call jump onto recent z's."""
        recent = getattr(self, "_recent", torch.zeros(0, self.codebook.weight.shape[1]))
        moved = restart_dead_codes(self.codebook.weight.data, self.counts, recent, generator)
        self.counts.zero_()
        return moved
