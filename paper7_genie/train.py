"""Train Genie on videos of a random policy (Bruce et al. 2024, §2.2 "Training"): the three components in order.

  1. data        a data set from data.py (--data), or `episodes` random-policy episodes recorded into the run folder
  2. tokenizer   the ST-transformer VQ-VAE on clips of `seq_len` frames               (first tokenizer_share of --steps)
  3. LAM         the latent action model on the same clips' pixels                      (next lam_share)
  4. dynamics    MaskGIT on the tokenizer's tokens and the LAM's (stop-gradient) actions  (the rest)
The paper trains the LAM and the dynamics together; the dynamics never sends a gradient into the LAM (sg), so
training them one after the other optimises the same losses, with the LAM's final actions. checkpoint.pt is saved
every `checkpoint_every` steps and at the end of each stage; Ctrl-C saves too and `--resume RUN_DIR` goes on. At the
end: curve.png, actions.png (the next frame under each latent action) and dream.gif (a real clip beside the
clip generated from its first frame with the latent actions inferred from it, drawn by common.world_model).

    python -m paper7_genie.train                                  # the cpu preset: Breakout at 32x32
    python -m paper7_genie.train --preset smoke                   # seconds
    python -m paper7_genie.train --data data/breakout32.npz       # a data set made by data.py
    python train.py --use-solution st_transformer,tokenizer       # the reference's modules, the rest yours
"""

from __future__ import annotations

if __package__ in (None, ""):  # `python train.py` from inside the folder
    from common.chapter import package_of

    __package__ = package_of(__file__)

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common.chapter import chapter_name, cli, finish, load_modules, parse_use_solution, save_on_ctrl_c, start_run
from common.checkpoint import save_checkpoint
from common.config import chapter_parser, config_to_dict, parse_chapter_args
from common.logger import RunLogger, plot_curves
from common.world_model import render_dream

from .config import PRESETS, Config
from .data import Clips, load, record, save
from .genie import Genie, GenieWorldModel

PAPER = chapter_name(__package__)
MODULES = ("st_transformer", "tokenizer", "latent_actions", "dynamics")
CALIBRATE = 50  # batches that re-estimate the LAM's standardisation once it is trained (latent_actions.calibrate)
CURVES = [("tokenizer reconstruction (MSE)", ["tok_recon"]), ("tokenizer codes in batch", ["tok_codes"]),
          ("LAM next-frame squared error (per frame)", ["lam_recon"]), ("LAM codes in batch", ["lam_codes"]),
          ("LAM log|A| - I(actions; codes)", ["lam_info"]),
          ("dynamics cross-entropy", ["dyn_loss"]), ("masked-token accuracy", ["dyn_acc", "dyn_copy"])]


def parse_args(argv=None):
    parser = chapter_parser(Config, PRESETS, __doc__, __package__, MODULES)  # --out, --resume, --use-solution
    return parse_chapter_args(parser, Config, PRESETS, argv)


def stages(cfg: Config) -> tuple[int, int]:
    """(last step of the tokenizer stage, last step of the LAM stage); the dynamics trains from there to cfg.steps."""
    tok = max(1, round(cfg.steps * cfg.tokenizer_share))
    return tok, max(tok + 1, tok + round(cfg.steps * cfg.lam_share))


def get_data(cfg: Config, run_dir: Path) -> dict[str, np.ndarray]:
    """cfg.data, or the run's own data.npz (recorded now if it is not there yet)."""
    path = Path(cfg.data) if cfg.data else run_dir / "data.npz"
    if cfg.data and not path.is_file():
        raise SystemExit(f"error: --data {cfg.data}: no such file (make one with python -m {__package__}.data)")
    if path.is_file():
        data = load(path)
        if str(data["env"]) != cfg.env:
            print(f"note: {path} holds {data['env']} videos; --env {cfg.env} is ignored")
        return data
    print(f"recording {cfg.episodes} episodes of {cfg.env} with a random policy into {path} ...")
    return load(save(record(cfg.env, cfg.episodes, cfg.size, cfg.action_repeat, cfg.seed), path))


class Run:
    """Model, optimisers, data and progress of one run, and how to save them."""

    def __init__(self, cfg: Config, run_dir: Path, use_solution: set[str]) -> None:
        self.cfg, self.dir = cfg, run_dir
        self.mods = load_modules(__package__, MODULES, use_solution)
        self.data = get_data(cfg, run_dir)
        if self.data["frames"].shape[1] != cfg.size:
            raise SystemExit(f"error: the data set's frames are {self.data['frames'].shape[1]} pixels wide, the "
                             f"config's --size is {cfg.size}")
        self.clips = Clips(self.data, cfg.seq_len)
        self.device = torch.device(cfg.device)
        self.model = Genie(cfg, self.data["frames"].shape[-1], self.mods).to(self.device)
        make = lambda m: torch.optim.AdamW(m.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)  # noqa: E731
        self.optims = {"tokenizer": make(self.model.tokenizer), "lam": make(self.model.lam),
                       "dynamics": make(self.model.dynamics)}
        self.step, self.cpu_offset = 0, 0.0

    def cpu_minutes(self) -> float:
        return (self.cpu_offset + time.process_time()) / 60

    def save(self) -> None:
        save_checkpoint(self.dir / "checkpoint.pt", paper=PAPER, step=self.step, config=config_to_dict(self.cfg),
                        model=self.model.state_dict(), optims={k: o.state_dict() for k, o in self.optims.items()},
                        channels=int(self.data["frames"].shape[-1]), num_actions=int(self.data["num_actions"]),
                        cpu_seconds=self.cpu_minutes() * 60)

    def load(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        for k, o in self.optims.items():
            o.load_state_dict(ckpt["optims"][k])
        self.step, self.cpu_offset = ckpt["step"], ckpt["cpu_seconds"]


def update(run: Run, stage: str, frames: torch.Tensor, gen: torch.Generator) -> dict[str, float]:
    """One gradient update of `stage` on frames (B, T, H, W, C) uint8; returns the figures to log."""
    cfg, m = run.cfg, run.model
    if stage == "tokenizer":
        module = m.tokenizer.train()
        out = module.loss(frames)
        logs = {"tok_recon": out["recon"], "tok_vq": out["vq"], "tok_codes": out["tokens"].unique().numel()}
    elif stage == "lam":
        module = m.lam.train()
        out = module.loss(frames, cfg.information)
        logs = {"lam_recon": out["recon"], "lam_vq": out["vq"], "lam_info": out["information"],
                "lam_codes": out["codes"].unique().numel()}
    else:
        module = m.dynamics.train()
        m.tokenizer.eval(), m.lam.eval()
        with torch.no_grad():
            tokens, actions = m.tokenizer.encode(frames), m.lam.vectors(m.lam.infer(frames))
        out = module.loss(tokens, actions, cfg.mask_min, gen)
        logs = {"dyn_loss": out["loss"], "dyn_acc": out["accuracy"], "dyn_copy": out["copy_accuracy"]}
    opt = run.optims[stage]
    opt.zero_grad(set_to_none=True)
    out["loss"].backward()
    torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.grad_clip)
    opt.step()
    if stage in ("tokenizer", "lam") and cfg.restart_every and (run.step + 1) % cfg.restart_every == 0:
        logs[f"{'tok' if stage == 'tokenizer' else 'lam'}_restarted"] = module.vq.restart(gen)
    return {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in logs.items()}


def train(run: Run, log: RunLogger) -> None:
    cfg = run.cfg
    tok_end, lam_end = stages(cfg)
    rng = np.random.default_rng([cfg.seed, run.step])
    gen = torch.Generator().manual_seed(cfg.seed * 100_003 + run.step)
    recent: list[dict[str, float]] = []
    while run.step < cfg.steps:
        stage = "tokenizer" if run.step < tok_end else "lam" if run.step < lam_end else "dynamics"
        frames, _ = run.clips.sample(cfg.batch, rng)  # the logged actions are never used for training
        recent.append(update(run, stage, frames.to(run.device), gen))
        run.step += 1
        if run.step == lam_end:  # the LAM is trained: its standardisation's statistics for the final encoder
            run.model.lam.calibrate(run.clips.sample(cfg.batch, rng)[0].to(run.device) for _ in range(CALIBRATE))
        log.update()
        if run.step % cfg.log_every == 0 or run.step in (tok_end, lam_end, cfg.steps):
            keys = {k for r in recent for k in r}
            log.log(run.step, stage=stage, minutes=log.wall() / 60,
                    **{k: float(np.mean([r[k] for r in recent if k in r])) for k in keys})
            recent = []
        if run.step % cfg.checkpoint_every == 0 or run.step in (tok_end, lam_end, cfg.steps):
            run.save()
            plot_curves(log.path, CURVES, run.dir / "curve.png", title=f"Genie on {cfg.env}", ncols=4)


def pictures(run: Run) -> None:
    """actions.png (the next frame under each latent action, for one prompt) and dream.gif (real vs generated)."""
    from .play import action_grid

    cfg, m = run.cfg, run.model.eval()
    frames, _ = run.clips.get(run.clips.begins[:1])  # (1, T, H, W, C)
    gen = torch.Generator().manual_seed(cfg.seed)
    action_grid(m, frames[0, 0], run.dir / "actions.png", gen)
    codes = m.lam.infer(frames)[0]  # (T-1,): the latent actions of the real clip
    render_dream(GenieWorldModel(m, gen), frames[0].numpy(), F.one_hot(codes, m.lam.actions).numpy(), context=1,
                 path=run.dir / "dream.gif", fps=4, scale=4)


def main(argv=None) -> Path:
    cfg, args = parse_args(argv)
    use_solution = parse_use_solution(args.use_solution, MODULES)
    cfg, run_dir, ckpt = start_run(PAPER, Config, cfg, args.resume, args.out)  # --resume keeps its config
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run = Run(cfg, run_dir, use_solution)
    if ckpt is not None:
        run.load(ckpt)
    sizes = {k: sum(p.numel() for p in getattr(run.model, k).parameters()) for k in ("tokenizer", "lam", "dynamics")}
    print(f"run folder: {run_dir}  (step {run.step}/{cfg.steps}; {len(run.clips):,} clips of {cfg.seq_len} frames; "
          f"parameters: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()) + ")")
    log = RunLogger(run_dir, total=cfg.steps, desc="Genie", initial=run.step)
    with log, save_on_ctrl_c(run_dir, run.save):
        if ckpt is None:
            run.save()  # a checkpoint from the start: Ctrl-C at any time leaves one
        train(run, log)
        pictures(run)
    summary = {"run_dir": str(run_dir), "steps": run.step, "minutes": round(log.wall() / 60, 2),
               "cpu_minutes": round(run.cpu_minutes(), 2)}
    finish(run_dir, summary, __package__, log.wall() / 60, f" ({summary['cpu_minutes']} CPU min)")
    return run_dir


def make_bench(cfg: Config):
    """For `python -m common.bench paper7_genie`: one dynamics update (the most expensive stage), one MaskGIT frame."""
    from common.bench import Bench

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    data = record(cfg.env, 2, cfg.size, cfg.action_repeat, cfg.seed, show=False)
    clips = Clips(data, cfg.seq_len)
    model = Genie(cfg, data["frames"].shape[-1])
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    frames, _ = clips.sample(cfg.batch, rng)
    prompt, codes = frames[:1, 0], torch.zeros(1, 1, dtype=torch.long)

    def stage(module: torch.nn.Module, loss: Callable[[], torch.Tensor]) -> Callable[[], None]:
        opt = torch.optim.AdamW(module.parameters(), lr=cfg.lr)

        def step() -> None:
            opt.zero_grad()
            loss().backward()
            opt.step()
        return step

    def dynamics_loss() -> torch.Tensor:
        with torch.no_grad():
            tokens, actions = model.tokenizer.encode(frames), model.lam.vectors(model.lam.infer(frames))
        return model.dynamics.loss(tokens, actions, cfg.mask_min, gen)["loss"]

    parts = {"tokenizer update": stage(model.tokenizer, lambda: model.tokenizer.loss(frames)["loss"]),
             "latent-action update": stage(model.lam, lambda: model.lam.loss(frames, cfg.information)["loss"]),
             "dynamics update": stage(model.dynamics, dynamics_loss)}
    return Bench(update=parts["dynamics update"], act=lambda: model.rollout(prompt, codes, generator=gen),
                 modules=[model], parts=parts, act_label="generated frame (MaskGIT)",
                 note=f"update = one dynamics update of {cfg.batch} clips of {cfg.seq_len} frames (the longest "
                      f"stage); {cfg.maskgit_steps} MaskGIT steps per frame")


if __name__ == "__main__":
    cli(main)
