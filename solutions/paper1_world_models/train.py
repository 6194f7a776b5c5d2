"""Train World Models on CarRacing, stage by stage (Ha & Schmidhuber 2018, §3 and Fig. 9):

  1. collect random rollouts     -> data/*.npz        (frames cropped and resized to 64x64)
  2. train V, the VAE            -> vae_recon.png
  3. encode every frame to (mu, logvar)
  4. train M, the MDN-RNN        -> dream.gif         (M's rollout decoded by V, beside the real frames)
  5. evolve C with CMA-ES        -> cma_curve.png     (mean and best return per generation)

Every stage saves checkpoint.pt when it finishes (and CMA-ES after every generation); Ctrl-C saves too,
and `--resume RUN_DIR` goes on from there. Usage, from the repo root or from this folder:

    python -m paper1_world_models.train                 # the cpu preset: an 80-minute budget on 2 cores
    python -m paper1_world_models.train --preset short  # 10-15 min: watch your controller improve
    python -m paper1_world_models.train --preset smoke  # seconds
    python train.py --use-solution vae,rnn              # the reference's V and M, your controller
    python train.py --reuse RUN_DIR                     # RUN_DIR's rollouts, V and M: evolve C again
"""

from __future__ import annotations

if __package__ in (None, ""):  # `python train.py` from inside the folder
    from common.chapter import package_of

    __package__ = package_of(__file__)

import multiprocessing as mp
import os
import pickle
import time
from pathlib import Path

import cma
import numpy as np
import torch

from common.chapter import chapter_name, cli, finish, load_modules, parse_use_solution, save_on_ctrl_c, start_run
from common.checkpoint import RESERVED, cpu_state_dict, save_checkpoint
from common.config import chapter_parser, config_to_dict, parse_chapter_args
from common.logger import RunLogger, plot_curves, progress
from common.video import image_grid, save_image
from common.world_model import render_dream

from .agent import RolloutPool, VMWorldModel, collect_rollout, to_tensor
from .config import PRESETS, Config
from .run_tools import cma_deadline, make_bench, reuse  # noqa: F401 (make_bench: python -m common.bench)

PAPER = chapter_name(__package__)
MODULES = ("vae", "rnn", "controller")


def parse_args(argv=None):
    parser = chapter_parser(Config, PRESETS, __doc__, __package__, MODULES)  # --out, --resume, --use-solution
    parser.add_argument("--reuse", metavar="RUN_DIR", help="start at CMA-ES with RUN_DIR's rollouts and trained V, M")
    cfg, args = parse_chapter_args(parser, Config, PRESETS, argv)  # an unknown env, a missing GPU: one sentence
    if cfg.env != "CarRacing-v3":
        parser.error(f"chapter 1 drives CarRacing-v3 only (its controller maps to steer/gas/brake), got {cfg.env}")
    return cfg, args


class Run:
    """Everything the stages share: config, folders, modules, the checkpoint state."""

    def __init__(self, cfg: Config, run_dir: Path, use_solution: set[str]) -> None:
        self.cfg, self.dir = cfg, run_dir
        self.mods = load_modules(__package__, MODULES, use_solution)
        self.module_names = {name: mod.__name__ for name, mod in self.mods.items()}
        self.workers = cfg.workers or os.cpu_count() or 1
        self.state: dict = {"stage": "collect", "elapsed": 0.0}
        self.t0 = time.time()
        torch.manual_seed(cfg.seed)

    def elapsed(self) -> float:
        return self.state["elapsed"] + time.time() - self.t0

    def save(self) -> None:
        self.state["elapsed"], self.t0 = self.elapsed(), time.time()
        save_checkpoint(self.dir / "checkpoint.pt", paper=PAPER, step=int(self.state.get("generation", 0)),
                        config=config_to_dict(self.cfg), **self.state)

    def vae(self):
        vae = self.mods["vae"].ConvVAE(self.cfg.z_dim)
        if "vae" in self.state:
            vae.load_state_dict(self.state["vae"])
        return vae

    def rnn(self):
        rnn = self.mods["rnn"].MDNRNN(self.cfg.z_dim, 3, self.cfg.hidden, self.cfg.n_mix)
        if "rnn" in self.state:
            rnn.load_state_dict(self.state["rnn"])
        return rnn


# ---------------------------------------------------------------- 1. collect
def collect(run: Run) -> None:
    cfg, data = run.cfg, run.dir / "data"
    data.mkdir(exist_ok=True)
    tasks = [(cfg.env, cfg.seed * 1_000_000 + i, cfg.rollout_steps, str(data / f"{i:05d}.npz"))
             for i in range(cfg.rollouts) if not (data / f"{i:05d}.npz").exists()]
    with mp.get_context("spawn").Pool(run.workers) as pool:
        for _ in progress(pool.imap_unordered(collect_rollout, tasks), total=len(tasks), desc="1/5 collect"):
            pass
    run.state["env_steps"] = sum(len(np.load(f)["action"]) for f in sorted(data.glob("[0-9]*.npz")))


def load_rollouts(run: Run) -> list[dict[str, np.ndarray]]:
    files = sorted((run.dir / "data").glob("[0-9]*.npz"))[: run.cfg.rollouts]
    return [dict(np.load(f)) for f in files]


# ---------------------------------------------------------------- 2. V
def train_vae(run: Run, log: RunLogger) -> None:
    cfg, V = run.cfg, run.mods["vae"]
    frames = np.concatenate([r["obs"] for r in load_rollouts(run)])  # (N, 64, 64, 3) uint8
    dev = torch.device(cfg.device)  # V and M may train on a GPU; driving always runs on the CPU
    vae = run.vae().to(dev)
    opt = torch.optim.Adam(vae.parameters(), lr=cfg.vae_lr)
    if "vae_opt" in run.state:
        opt.load_state_dict(run.state["vae_opt"])
    rng = np.random.default_rng(cfg.seed)
    batch = min(cfg.vae_batch, len(frames))
    for epoch in range(run.state.get("vae_epoch", 0), cfg.vae_epochs):
        perm = rng.permutation(len(frames))
        bar = progress(range(0, len(frames) - batch + 1, batch), desc=f"2/5 VAE epoch {epoch + 1}/{cfg.vae_epochs}")
        for i in bar:
            x = to_tensor(frames[perm[i:i + batch]]).to(dev)  # (B, 3, 64, 64)
            x_hat, mu, logvar = vae(x)
            losses = V.vae_loss(x_hat, x, mu, logvar, cfg.kl_tolerance)
            opt.zero_grad()
            losses["loss"].backward()
            opt.step()
            bar.set_postfix(recon=f"{losses['recon'].item():.1f}", kl=f"{losses['kl'].item():.1f}")
        log.log(epoch + 1, stage="vae", vae_loss=losses["loss"].item(), vae_recon=losses["recon"].item(),
                vae_kl=losses["kl"].item())
        run.state.update(vae=cpu_state_dict(vae), vae_opt=opt.state_dict(), vae_epoch=epoch + 1)
        run.save()
    vae.cpu()
    with torch.no_grad():  # a picture: 8 real frames above their reconstructions
        idx = rng.choice(len(frames), 8, replace=False)
        x_hat = vae.decode(vae.encode(to_tensor(frames[idx]))[0])
        recon = (x_hat.movedim(1, -1).numpy() * 255).astype(np.uint8)
    save_image(image_grid(np.concatenate([frames[idx], recon]), nrow=8), run.dir / "vae_recon.png")


# ---------------------------------------------------------------- 3. encode
def encode(run: Run) -> None:
    vae = run.vae().eval()
    out = {}
    with torch.no_grad():
        for i, r in enumerate(progress(load_rollouts(run), desc="3/5 encode")):
            mu, logvar = vae.encode(to_tensor(r["obs"]))
            out[f"mu{i}"], out[f"logvar{i}"], out[f"action{i}"] = mu.numpy(), logvar.numpy(), r["action"]
    np.savez(run.dir / "series.npz", **out)


def load_series(run: Run) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    s = np.load(run.dir / "series.npz")
    n = sum(1 for k in s.files if k.startswith("mu"))
    return [(s[f"mu{i}"], s[f"logvar{i}"], s[f"action{i}"]) for i in range(n)]


# ---------------------------------------------------------------- 4. M
def train_rnn(run: Run, log: RunLogger) -> None:
    cfg, M = run.cfg, run.mods["rnn"]
    series = load_series(run)
    seq = min(cfg.rnn_seq, min(len(mu) for mu, _, _ in series) - 1)
    series = [s for s in series if len(s[0]) > seq]
    dev = torch.device(cfg.device)
    rnn = run.rnn().to(dev)
    opt = torch.optim.Adam(rnn.parameters(), lr=cfg.rnn_lr)
    if "rnn_opt" in run.state:
        opt.load_state_dict(run.state["rnn_opt"])
    rng = np.random.default_rng(cfg.seed + 1)
    per_epoch = max(1, sum(len(mu) for mu, _, _ in series) // (seq * cfg.rnn_batch))
    for epoch in range(run.state.get("rnn_epoch", 0), cfg.rnn_epochs):
        bar = progress(range(per_epoch), desc=f"4/5 MDN-RNN epoch {epoch + 1}/{cfg.rnn_epochs}")
        for _ in bar:
            zs, acts = [], []
            for j in rng.integers(0, len(series), cfg.rnn_batch):
                mu, logvar, act = series[j]
                t = rng.integers(0, len(mu) - seq)
                w = slice(t, t + seq + 1)  # a window of seq+1 steps
                # z ~ N(mu, sigma): M learns from samples of V's posterior, as in the authors' code
                zs.append(mu[w] + np.exp(logvar[w] / 2) * rng.standard_normal(mu[w].shape))
                acts.append(act[w])
            z = torch.as_tensor(np.stack(zs), dtype=torch.float32, device=dev)  # (B, seq+1, Z)
            a = torch.as_tensor(np.stack(acts), dtype=torch.float32, device=dev)  # (B, seq+1, 3)
            loss = M.sequence_loss(rnn, z, a)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(rnn.parameters(), cfg.grad_clip)
            opt.step()
            bar.set_postfix(nll=f"{loss.item():.3f}")
        log.log(epoch + 1, stage="rnn", rnn_nll=loss.item())
        run.state.update(rnn=cpu_state_dict(rnn), rnn_opt=opt.state_dict(), rnn_epoch=epoch + 1)
        run.save()
    dream(run)


def dream(run: Run) -> None:
    """M's imagination decoded by V, beside what really happened after the same actions."""
    rollout = load_rollouts(run)[-1]  # frames (T, 64, 64, 3) uint8, actions (T, 3)
    model = VMWorldModel(run.vae().eval(), run.rnn().eval(), run.cfg.temperature,
                         torch.Generator().manual_seed(run.cfg.seed))
    render_dream(model, rollout["obs"][:80], rollout["action"][:80], context=20, path=run.dir / "dream.gif")


# ---------------------------------------------------------------- 5. C
def evolve(run: Run, log: RunLogger) -> None:
    cfg, C = run.cfg, run.mods["controller"]
    in_dim = cfg.z_dim + (cfg.hidden if cfg.controller_input == "zh" else 0)
    dim = sum(p.numel() for p in C.Controller(in_dim).parameters())  # 867 for [z, h] -> 3
    es_path = run.dir / "cma_state.pkl"  # CMA-ES's own state, for --resume only (written by this run)
    if es_path.exists() and run.state.get("generation", 0) > 0:
        es = pickle.loads(es_path.read_bytes())
    else:
        es = cma.CMAEvolutionStrategy(np.zeros(dim), cfg.sigma0,
                                      {"popsize": cfg.popsize, "seed": cfg.seed + 1, "verbose": -9})
    pool = RolloutPool(run.workers, run.module_names, config_to_dict(cfg), run.state["vae"], run.state["rnn"])
    rng = np.random.default_rng([cfg.seed, run.state.get("generation", 0)])
    val_seeds = [999_000 + k for k in range(cfg.eval_episodes)]  # fixed validation tracks
    stop, first = cma_deadline(run), run.state.get("generation", 0)
    bar = progress(initial=first, total=cfg.generations, desc="5/5 CMA-ES")
    session, gen_seconds = time.time(), 0.0
    try:
        while run.state.get("generation", 0) < cfg.generations:
            if run.elapsed() > stop:
                bar.write("stopping: the CMA-ES time budget is spent")
                break
            started = time.time()
            seeds = [int(s) for s in rng.integers(0, 999_000, cfg.rollouts_per_candidate)]  # same tracks for all
            stats = C.evolve_step(es, lambda sols, seeds=seeds: pool.returns(sols, [seeds] * len(sols), cfg.patience),
                                  cfg.weight_decay)
            gen = run.state["generation"] = run.state.get("generation", 0) + 1
            row = {"stage": "cma", "mean": stats["mean"], "best": stats["best"], "sigma": es.sigma}
            # the last generation: the count is reached, or one more would overrun the time budget
            last = gen == cfg.generations or run.elapsed() + time.time() - started > stop
            run.state["controller_mean"] = torch.as_tensor(es.mean, dtype=torch.float32)  # saved every generation
            if gen % cfg.eval_every == 0 or last:  # drive the CMA mean on full episodes
                bar.write(f"generation {gen}: validating the CMA-ES mean on {len(val_seeds)} full tracks...")
                score = float(pool.returns([es.mean], [val_seeds], patience=0)[0])
                row["eval_return"] = score
                if score > run.state.get("best_score", -np.inf):
                    run.state.update(best_score=score, controller=run.state["controller_mean"])
            if "best_score" not in run.state:  # nothing validated yet: eval.py drives the current mean
                run.state["controller"] = run.state["controller_mean"]
            run.state["env_steps"] = run.state.get("env_steps", 0) + pool.env_steps
            pool.env_steps = 0
            log.log(gen, minutes=run.elapsed() / 60, env_steps=run.state["env_steps"], **row)
            gen_seconds = (time.time() - session) / (gen - first)
            if stop < float("inf"):  # the ETA counts against the time budget, not the generation cap
                bar.total = min(cfg.generations, gen + max(0, int((stop - run.elapsed()) / gen_seconds)))
            best = run.state.get("best_score")
            bar.set_postfix(mean=f"{stats['mean']:.0f}", best=f"{stats['best']:.0f}",
                            val="—" if best is None else f"{best:.0f}", refresh=False)
            bar.update(1)
            es_path.write_bytes(pickle.dumps(es))
            run.save()
    finally:  # Ctrl-C included: the pool stops, the curve is drawn
        bar.close()
        pool.close()
        plot_curves(run.dir / "metrics.jsonl", ["mean", "best", "eval_return"], run.dir / "cma_curve.png",
                    x="step", title="CMA-ES: return per generation")


# ---------------------------------------------------------------- main
STAGES = ("collect", "vae", "encode", "rnn", "cma", "done")


def main(argv=None) -> Path:
    cfg, args = parse_args(argv)
    use_solution = parse_use_solution(args.use_solution, MODULES)
    cfg, run_dir, state = start_run(PAPER, Config, cfg, args.resume, args.out, args.minutes)
    run = Run(cfg, run_dir, use_solution)
    if state:
        run.state = {k: v for k, v in state.items() if k not in RESERVED}
    elif args.reuse:
        reuse(run, args.reuse)
    log = RunLogger(run_dir, enable_bar=False)
    print(f"run folder: {run_dir}  (stage: {run.state['stage']}, workers: {run.workers})")
    with log, save_on_ctrl_c(run_dir, run.save):  # Ctrl-C: the CMA-ES mean of the last generation is saved
        for stage, fn in [("collect", collect), ("vae", train_vae), ("encode", encode), ("rnn", train_rnn),
                          ("cma", evolve)]:
            if STAGES.index(run.state["stage"]) > STAGES.index(stage):
                continue
            fn(run, log) if fn not in (collect, encode) else fn(run)
            run.state["stage"] = STAGES[STAGES.index(stage) + 1]
            run.save()
    summary = {"run_dir": str(run_dir), "minutes": round(run.elapsed() / 60, 1), "seed": cfg.seed,
               "generations": run.state.get("generation", 0), "env_steps": run.state.get("env_steps"),
               "best_val": run.state.get("best_score"), "reused": run.state.get("reused")}
    finish(run_dir, summary, __package__, run.elapsed() / 60)
    return run_dir


if __name__ == "__main__":
    cli(main)
