"""Genie (Bruce et al., 2024): spatiotemporal transformer, video tokenizer, latent actions, MaskGIT dynamics."""
