"""Shared, complete code that every chapter of "World Models from Scratch" imports.

Nothing here is a student exercise: `envs` makes gymnasium environments (state or pixels, resized,
cropped, with action repeat), `replay` stores episodes and samples `(B, T)` sequences, `video` writes
GIFs/MP4s and image grids, `logger` keeps run folders, metrics and plots, `stats` summarises results over
seeds, `checkpoint` saves and loads runs safely, `nets` holds the plain MLP, `world_model` is the small
protocol that lets one tool draw the "dreams" of any paper's model, `bench` times a chapter, `results`
keeps the README's results table, and `config`, `chapter`, `templates`, `grading` run the course itself.
Import the submodule you need (`from common.replay import EpisodeReplay`); this file imports nothing.
"""
