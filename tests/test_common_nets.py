"""common.nets: the shared MLP."""

from __future__ import annotations

import torch
from torch import nn

from common.nets import mlp


def test_mlp_layers_and_shapes():
    net = mlp(5, 16, 3, layers=2)
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.ELU, nn.Linear, nn.ELU, nn.Linear]
    assert net(torch.zeros(7, 5)).shape == (7, 3)
    assert sum(p.numel() for p in net.parameters()) == (5 * 16 + 16) + (16 * 16 + 16) + (16 * 3 + 3)


def test_mlp_norm_act_and_no_hidden_layer():
    net = mlp(4, 8, 2, layers=3, act=nn.SiLU, norm=True)
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.LayerNorm, nn.SiLU] * 3 + [nn.Linear]
    assert [type(m) for m in mlp(4, 8, 2, layers=0)] == [nn.Linear]


def test_gradients_reach_every_layer_and_a_few_steps_fit_a_linear_map():
    torch.manual_seed(0)
    net = mlp(3, 32, 1, layers=2, norm=True)
    x = torch.randn(128, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    (net(x) - y).pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        loss = (net(x) - y).pow(2).mean()
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.2 * losses[0]
