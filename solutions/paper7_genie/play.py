"""Play a trained Genie: pick a prompt frame, then choose latent actions one key at a time (§2.3, Figure 1).

    python -m paper7_genie.play --checkpoint runs/.../checkpoint.pt                     # type 0-7, q to stop
    python -m paper7_genie.play --checkpoint runs/.../checkpoint.pt --actions 0,3,3,1 --gif out.gif

The prompt is frame `--frame` of a held-out episode (seed 1,000,000 + `--episode`, never used for training). Writes
the generated frames as a GIF and a strip PNG (OUT.gif, OUT.png), and OUT_actions.png: for the prompt, the next frame
under each of the |A| latent actions side by side. Headless-safe: nothing opens a window.
"""

from __future__ import annotations

if __package__ in (None, ""):  # `python play.py` from inside the folder
    from common.chapter import package_of

    __package__ = package_of(__file__)

import argparse
import sys
from pathlib import Path

import torch

from common.chapter import chapter_name, cli, load_modules, parse_use_solution
from common.checkpoint import CheckpointError, load_checkpoint
from common.config import config_from_dict
from common.video import image_grid, save_image, write_video

from .config import Config
from .data import EVAL_SEED_BASE, record
from .genie import Genie

PAPER = chapter_name(__package__)
MODULES = ("st_transformer", "tokenizer", "latent_actions", "dynamics")


def load_genie(path: str, use_solution: str = "", threads: int = 0) -> tuple[Genie, dict]:
    """(the model of a checkpoint in eval mode, the checkpoint); a bad file is one sentence."""
    try:
        ckpt = load_checkpoint(path, PAPER)
    except CheckpointError as err:
        sys.exit(f"error: {err}")
    cfg = config_from_dict(Config, ckpt["config"])
    if threads or cfg.threads:
        torch.set_num_threads(threads or cfg.threads)
    mods = load_modules(__package__, MODULES, parse_use_solution(use_solution, MODULES))
    model = Genie(cfg, ckpt["channels"], mods)
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


@torch.no_grad()
def action_grid(model: Genie, prompt: torch.Tensor, path: str | Path, generator: torch.Generator | None = None
                ) -> Path:
    """prompt (H, W, C) uint8 -> a PNG: the prompt, then the next frame under each latent action 0..|A|-1."""
    A = model.lam.actions
    codes = torch.arange(A)[:, None]  # (A, 1): one rollout per action
    nxt = model.rollout(prompt[None].expand(A, *prompt.shape), codes, generator=generator)[:, 1]  # (A, H, W, C)
    tiles = torch.cat([prompt[None].float() / 255, nxt], 0).numpy()
    big = tiles.repeat(4, 1).repeat(4, 2)  # x4, nearest neighbour
    return save_image(image_grid(big, nrow=A + 1, pad=4, pad_value=255), path)


def keys(stdin) -> iter:
    """Single key presses on a terminal (no Enter needed), else the characters of the input stream."""
    if stdin.isatty():
        import termios
        import tty

        fd = stdin.fileno()
        old = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            while True:
                yield stdin.read(1)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
    else:
        while ch := stdin.read(1):
            yield ch


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint.pt written by train.py")
    parser.add_argument("--actions", default=None, help="latent actions, e.g. 0,3,3,1 (default: type them)")
    parser.add_argument("--gif", default=None, help="the GIF to write (default: play.gif beside the checkpoint)")
    parser.add_argument("--episode", type=int, default=0, help="held-out episode of the prompt")
    parser.add_argument("--frame", type=int, default=10, help="frame of that episode used as the prompt")
    parser.add_argument("--temperature", type=float, default=None, help="MaskGIT temperature (default: config's)")
    parser.add_argument("--maskgit-steps", type=int, default=None, help="MaskGIT steps (default: config's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--use-solution", default="", help=f"modules taken from solutions/: {','.join(MODULES)}")
    args = parser.parse_args(argv)
    model, ckpt = load_genie(args.checkpoint, args.use_solution, args.threads)
    cfg, A = model.cfg, model.lam.actions
    episode = record(cfg.env, 1, cfg.size, cfg.action_repeat, EVAL_SEED_BASE + args.episode, show=False)
    frames = episode["frames"]
    prompt = torch.from_numpy(frames[min(args.frame, len(frames) - 1)])  # (H, W, C)
    gif = Path(args.gif) if args.gif else Path(args.checkpoint).parent / "play.gif"
    gen = torch.Generator().manual_seed(args.seed)
    grid = action_grid(model, prompt, gif.with_name(gif.stem + "_actions.png"), gen)
    print(f"prompt: frame {args.frame} of held-out episode {args.episode}; next frame under each action: {grid}")

    def write(codes: list[int]) -> None:
        gen.manual_seed(args.seed)  # the same draws every time: a longer rollout extends the shorter one
        video = model.rollout(prompt[None], torch.tensor([codes], dtype=torch.long), args.maskgit_steps,
                              args.temperature, gen)[0].numpy()  # (S + 1, H, W, C)
        big = video.repeat(4, 1).repeat(4, 2)
        write_video(big, gif, fps=4)
        save_image(image_grid(big, nrow=len(video), pad=2), gif.with_suffix(".png"))

    if args.actions is not None:
        codes = [int(c) for c in args.actions.split(",") if c.strip()]
        bad = [c for c in codes if not 0 <= c < A]
        if bad:
            sys.exit(f"error: --actions {args.actions}: latent actions are 0..{A - 1}, got {bad}")
        write(codes)
    else:
        codes = []
        print(f"latent actions: press a key 0-{A - 1} per step, q to stop")
        for ch in keys(sys.stdin):
            if ch in "qQ":
                break
            if ch.isdigit() and int(ch) < A:
                codes.append(int(ch))
                write(codes)  # each step regenerates the whole rollout with the same seed: deterministic
                print(f"step {len(codes)}: actions {','.join(map(str, codes))} -> {gif}", flush=True)
        if not codes:
            print("no action given; only the action grid was written")
            return grid
    print(f"wrote {gif} and {gif.with_suffix('.png')} ({len(codes)} generated frames)")
    return gif


if __name__ == "__main__":
    cli(main)
