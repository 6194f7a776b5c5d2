"""V: the convolutional variational autoencoder of World Models (Ha & Schmidhuber 2018, §A.1, Fig. 22).

A 64x64x3 frame is squeezed into z (32 numbers). Encoder: four stride-2 convolutions (32-64-128-256
channels, kernel 4, ReLU). Decoder: a dense layer to 1024 units seen as a 1x1 image, then four stride-2
transposed convolutions (kernels 5-5-6-6) back to 64x64x3, sigmoid at the end.

    x (B, 3, 64, 64) --enc--> mu, logvar (B, 32) --reparam--> z (B, 32) --dec--> x_hat (B, 3, 64, 64)
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvVAE(nn.Module):
    def __init__(self, z_dim: int = 32) -> None:
        super().__init__()
        self.z_dim = z_dim
        # (B,3,64,64) -> (B,32,31,31) -> (B,64,14,14) -> (B,128,6,6) -> (B,256,2,2)
        self.enc = nn.ModuleList([nn.Conv2d(3, 32, 4, 2), nn.Conv2d(32, 64, 4, 2),
                                  nn.Conv2d(64, 128, 4, 2), nn.Conv2d(128, 256, 4, 2)])
        self.fc_mu = nn.Linear(2 * 2 * 256, z_dim)
        self.fc_logvar = nn.Linear(2 * 2 * 256, z_dim)
        self.fc_dec = nn.Linear(z_dim, 1024)
        # (B,1024,1,1) -> (B,128,5,5) -> (B,64,13,13) -> (B,32,30,30) -> (B,3,64,64)
        self.dec = nn.ModuleList([nn.ConvTranspose2d(1024, 128, 5, 2), nn.ConvTranspose2d(128, 64, 5, 2),
                                  nn.ConvTranspose2d(64, 32, 6, 2), nn.ConvTranspose2d(32, 3, 6, 2)])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, 3, 64, 64) floats in [0, 1] -> mu, logvar: (B, z_dim) each."""
        # TODO(1.1): the encoder; see IMPLEMENTATION_GUIDE.md §1.1. In: x (B, 3, 64, 64). Out: mu, logvar,
        # each (B, z_dim), read by the two linear heads from the (B, 1024) output of the four convs of
        # self.enc, each followed by a ReLU (the last one too) and flattened in PyTorch's (C, H, W) order.
        # Every image is encoded on its own: nothing may mix the batch.
        raise NotImplementedError("TODO(1.1): the encoder; see IMPLEMENTATION_GUIDE.md §1.1.")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, z_dim) -> x_hat: (B, 3, 64, 64) in (0, 1)."""
        # TODO(1.3): the decoder; see IMPLEMENTATION_GUIDE.md §1.3. In: z (B, z_dim). Out: x_hat
        # (B, 3, 64, 64), every value strictly in (0, 1). The 1024 numbers of fc_dec are a 1x1 image with 1024
        # channels that the four transposed convs of self.dec grow to 64x64: no activation on fc_dec's output,
        # ReLU between the transposed convs, a sigmoid after the last one only.
        raise NotImplementedError("TODO(1.3): the decoder; see IMPLEMENTATION_GUIDE.md §1.3.")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(logvar / 2) and eps ~ N(0, I) (Kingma & Welling 2014).

    `eps` may be given (tests pass fixed noise); otherwise draw it. Gradients must reach mu and logvar.
    """
    # TODO(1.2): the reparameterisation trick; see IMPLEMENTATION_GUIDE.md §1.2. In: mu, logvar (B, Z) and
    # optional noise eps (B, Z), used as given, else drawn here: a fresh standard normal for every entry, so
    # the Z dimensions are independent. Out: z (B, Z), a sample of N(mu, sigma^2) written as a function of eps
    # so that gradients reach mu and logvar. logvar is the log of the variance, not of sigma.
    raise NotImplementedError("TODO(1.2): the reparameterisation trick; see IMPLEMENTATION_GUIDE.md §1.2.")


def vae_loss(x_hat: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             kl_tolerance: float = 0.5) -> dict[str, torch.Tensor]:
    """The loss of the authors' code, per image, averaged over the batch.

    recon = sum over pixels of (x_hat - x)^2                                   (an L2 "log-likelihood")
    kl    = -0.5 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))               (KL(q(z|x) || N(0, I)))
    kl    = max(kl, kl_tolerance * z_dim)                                      (free bits, per image)
    loss  = mean_B(recon) + mean_B(kl)
    Returns {"loss", "recon", "kl"} where "kl" is the raw (unclipped) batch-mean KL, for logging.
    """
    # TODO(1.4): the VAE loss with free bits; see IMPLEMENTATION_GUIDE.md §1.4. Per image: recon, the squared
    # error summed over all pixels, and kl, the KL of N(mu, sigma^2) from N(0, I), both (B,). Each image's KL
    # is floored at kl_tolerance * z_dim before the batch mean (below the floor it carries no gradient: those
    # nats are free). Out: the dict of the docstring; its "kl" is the unfloored batch mean.
    raise NotImplementedError("TODO(1.4): the VAE loss with free bits; see IMPLEMENTATION_GUIDE.md §1.4.")
