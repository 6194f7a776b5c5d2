"""Classic mistakes of chapter 5 (IRIS), each caught by the graded suite (see __init__.py).

Written from each step's contract before the checks that catch them."""

from __future__ import annotations

from . import Mutation

MUTATIONS: list[Mutation] = []

# 5.1-5.7: tokenizer.py and transformer.py
MUTATIONS += [
]

# 5.8-5.13: world_model.py, sample.py and actor_critic.py
MUTATIONS += [
]
