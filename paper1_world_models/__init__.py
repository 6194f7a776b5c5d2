"""Chapter 1 — World Models (Ha & Schmidhuber, 2018): VAE (V) + MDN-RNN (M) + linear controller (C)."""
