"""Look inside any chapter's checkpoint: its dreams, its reconstructions, its prediction error, its own figures.

    python -m common.visualize --checkpoint runs/.../best.pt [--out DIR] [--episodes 2]

The chapter is read from the checkpoint. Into DIR (default: <checkpoint name>_visualize/ beside it) go, as far
as the model can (common.world_model.capabilities):

    dream.gif / dream.png      the chapter's agent plays an episode; the model watches its first steps, then
                               imagines the rest from the actions alone (common.dreams.draw_dream); chapter 7, which
                               has no agent: a held-out random-policy clip generated from its first frame with the
                               latent actions the LAM infers from it
    reconstruction.png         pixels: real frames (top) and the model's decoding of what it has seen (bottom)
    prediction_error.png       open-loop error against horizon on held-out random episodes (common.prediction)
    the chapter's own figures  chapter 5: eval.py --report's codebook use; chapter 6: its reward head; chapter 7:
                               the next frame under each latent action, latent vs true actions (eval.py)
    README.md, index.html      what each file shows
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path

import numpy as np
import torch

from .any_model import Opened, open_checkpoint
from .checkpoint import CheckpointError
from .compare_plots import draw_prediction
from .dreams import draw_dream
from .prediction import default_hold, held_out_episode, prediction_error
from .video import image_grid, save_image, to_uint8
from .world_model import METHODS, capabilities

DREAM_SEED = 1_000_000  # the first of the chapters' eval.py episodes


@torch.no_grad()
def reconstruction(opened: Opened, episode: dict[str, np.ndarray], path: Path, frames: int = 8) -> Path:
    """Real frames above the model's decoding of its posterior after seeing each of them."""
    model, obs, actions = opened.model, episode["obs"], episode["action"]
    picks = np.linspace(0, len(obs) - 1, min(frames, len(obs))).astype(int)
    state = model.encode(torch.as_tensor(obs[:1]))
    decoded = {0: model.decode(state)["obs"][0]}
    for t in range(1, picks[-1] + 1):
        state = model.observe(state, torch.as_tensor(actions[t - 1:t]), torch.as_tensor(obs[t:t + 1]))
        if t in picks:
            decoded[t] = model.decode(state)["obs"][0]
    recon = np.stack([to_uint8(decoded[t]).reshape(obs.shape[1:]) for t in picks])
    return save_image(image_grid(np.concatenate([obs[picks], recon]), nrow=len(picks)), path)


def visualize(path: str | Path, out: Path | None = None, episodes: int = 2) -> Path:
    """Write the files of the module docstring for the checkpoint at `path`; returns the folder."""
    opened = open_checkpoint(path)
    path = Path(path)
    out = out or path.with_name(f"{path.stem}_visualize")
    out.mkdir(parents=True, exist_ok=True)
    caps = capabilities(opened.model)
    items: list[tuple[str, str]] = []  # (file or "", what it shows / why it is missing)
    name = type(opened.model).__name__
    can_dream = all(caps[m] for m in ("encode", "observe", "imagine", "decode"))
    episode = None
    if opened.play is not None:
        episode = opened.play(DREAM_SEED, opened.dream_context + opened.dream_horizon)
    if not can_dream:
        items.append(("", f"no dream or reconstruction: {name} lacks "
                          f"{', '.join(m for m in ('encode', 'observe', 'imagine', 'decode') if not caps[m])}"))
    elif episode is None:
        items.append(("", "no dream: this checkpoint holds no agent to play an episode"))
    else:
        context = opened.dream_context
        draw_dream(opened.model, episode, out / "dream", opened.env_id, context, opened.dream_horizon)
        watched = "its first frame" if context == 1 else f"{context} steps"
        what = (f"{opened.episode_note} (seed {DREAM_SEED}): the model watches {watched}, then dreams the rest from "
                "the actions alone")
        shown = {"dream.gif": "real beside imagined, frame by frame" if opened.obs == "pixels" else
                 "real beside imagined states, drawn by the env's renderer",
                 "dream.png": "every few frames of that video" if opened.obs == "pixels" else
                 "each state dimension, the reward and P(episode goes on), real against the model"}
        items += [(file, f"{what}; {text}") for file, text in shown.items() if (out / file).exists()]
    if can_dream and opened.obs == "pixels":
        hold = default_hold(opened.env_id)
        frames = episode if episode is not None else held_out_episode(opened, 0, hold, max_steps=64)
        reconstruction(opened, frames, out / "reconstruction.png")
        items.append(("reconstruction.png", "real frames (top row) and the decoding of the model's state after "
                                            "seeing each of them (bottom row)"))
    elif can_dream:
        items.append(("", "no reconstruction grid for state vectors: the observed part of the dream figure (left "
                          "of its line) is the reconstruction"))
    if caps["encode"] and caps["observe"] and caps["imagine"]:
        entry = prediction_error(opened, episodes=episodes)
        (out / "prediction_error.json").write_text(json.dumps(entry, indent=1) + "\n")
        draw_prediction(f"{opened.paper} on {opened.env_id} ({opened.obs})", {opened.paper: [entry]},
                        out / "prediction_error.png")
        items.append(("prediction_error.png", f"open-loop error against horizon on {episodes} held-out random-action "
                                              "episodes, beside holding the last observation (numbers: "
                                              "prediction_error.json)"))
    for caption, file in opened.extras(out).items():
        items.append((file.name, caption))
    write_index(out, opened, path, caps, items)
    return out


def write_index(out: Path, opened: Opened, path: Path, caps: dict[str, bool], items: list[tuple[str, str]]) -> None:
    title = f"{opened.paper}: {path}"
    facts = [f"env {opened.env_id} ({opened.obs}), action repeat {opened.action_repeat}, trained for "
             f"{opened.step:,} {opened.step_unit}", "protocol methods: " + ", ".join(
                 f"{m} {'yes' if caps[m] else 'no'}" for m in METHODS)]
    md = [f"# {title}", "", *[f"- {f}" for f in facts], ""]
    page = [f"<h1>{html.escape(title)}</h1>", "<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in facts) + "</ul>"]
    for file, text in items:
        if not file:
            md.append(f"- {text}")
            page.append(f"<p><i>{html.escape(text)}</i></p>")
            continue
        md += [f"## {file}", "", text, "", f"![{file}]({file})" if file.endswith((".png", ".gif")) else
               f"[{file}]({file})", ""]
        body = (f'<img src="{file}">' if file.endswith((".png", ".gif")) else f'<a href="{file}">{file}</a>')
        page.append(f"<h2>{html.escape(file)}</h2><p>{html.escape(text)}</p>{body}")
    (out / "README.md").write_text("\n".join(md).rstrip() + "\n")
    (out / "index.html").write_text("<!doctype html><meta charset='utf-8'><title>" + html.escape(title)
                                    + "</title><body style='font-family:sans-serif'>" + "\n".join(page) + "</body>\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.visualize", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint.pt or best.pt of any chapter")
    parser.add_argument("--out", type=Path, default=None, help="folder (default: <checkpoint name>_visualize/)")
    parser.add_argument("--episodes", type=int, default=2, help="held-out episodes for the prediction error")
    args = parser.parse_args(argv)
    try:
        out = visualize(args.checkpoint, args.out, args.episodes)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {out}/index.html and README.md ({len(list(out.iterdir()))} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
