"""Graded tests for the convolutional encoder and decoder (guide, chapter 2, step 2.7).

    pytest paper2_dreamerv1 --todo 2.7
"""

from __future__ import annotations

import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, copy_weights, reference, seeded, target

NETS = "paper2_dreamerv1.networks"
DEPTH = 4  # a narrow conv stack: 4-8-16-32 channels, embedding 32 * 4 = 128


def pair(kind: str, *args):
    ref, tgt = reference(NETS), target(NETS)
    with seeded(0):
        ref_model = getattr(ref, kind)(*args)
    model = getattr(tgt, kind)(*args)
    copy_weights(ref_model, model)
    return ref_model, model


@pytest.mark.todo("2.7")
def test_conv_encoder_matches_reference_with_time_axis():
    ref_model, model = pair("ConvEncoder", 3, DEPTH)
    with seeded(1):
        obs = torch.rand(2, 3, 3, 64, 64) - 0.5  # (B, T, C, H, W)
    out = model(obs)
    assert_shape(out, (2, 3, 32 * DEPTH), step="2.7", what="ConvEncoder(obs (2, 3, 3, 64, 64))")
    assert_close(out, ref_model(obs), step="2.7", atol=1e-5, what="ConvEncoder(obs) (same weights as the "
                                                                  "reference)")
    assert_true(bool((out >= 0).all()), "the encoder's output comes out of a ReLU, so it is never negative.",
                step="2.7")
    single = model(obs[1, 2][None])
    assert_close(single[0], out[1, 2], step="2.7", atol=1e-5,
                 what="the embedding of frame (1, 2) alone vs. inside the (B, T) batch (frames are "
                      "independent)")


@pytest.mark.todo("2.7")
def test_conv_decoder_matches_reference_and_has_no_final_activation():
    ref_model, model = pair("ConvDecoder", 10, 3, DEPTH)
    with seeded(2):
        feat = torch.randn(2, 3, 10)
    out = model(feat)
    assert_shape(out, (2, 3, 3, 64, 64), step="2.7", what="ConvDecoder(feat (2, 3, 10))")
    assert_close(out, ref_model(feat), step="2.7", atol=1e-5, what="ConvDecoder(feat) (same weights as the "
                                                                   "reference)")
    with torch.no_grad():
        model.deconvs[-1].weight.zero_()
        model.deconvs[-1].bias.fill_(-2.0)
    flat = model(feat)
    assert_close(flat, torch.full_like(flat, -2.0), step="2.7", what="the decoder's output when the last "
                                                                     "transposed "
                 "conv has zero weights and bias -2 (it is the Gaussian's mean: no ReLU or sigmoid after "
                 "the last "
                 "layer)")


@pytest.mark.todo("2.7")
def test_conv_pair_gradients():
    _, enc = pair("ConvEncoder", 3, DEPTH)
    _, dec = pair("ConvDecoder", 32 * DEPTH, 3, DEPTH)
    with seeded(3):
        obs = torch.rand(2, 3, 64, 64) - 0.5
    loss = (dec(enc(obs)) - obs).pow(2).mean()
    loss.backward()
    for name, layer in (("the encoder's first conv", enc.convs[0]), ("the decoder's fc", dec.fc)):
        grad = layer.weight.grad
        assert_true(grad is not None and float(grad.abs().sum()) > 0, f"no gradient reached {name}: keep the "
                    "graph (no .detach(), .data or numpy inside forward).", step="2.7")
