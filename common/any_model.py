"""Open any chapter's checkpoint as a world model of common.world_model's protocol, with its env and agent.

    opened = open_checkpoint("runs/.../best.pt")   # the chapter is read from the checkpoint
    opened.paper, opened.env_id, opened.obs, opened.action_repeat, opened.step
    opened.model                    the protocol world model (encode, observe, predict, imagine[, decode])
    opened.make_env(seed)           the env as the model sees it (its observations, size, action repeat)
    opened.random_action(rng)       a uniformly random action as the model takes it, (A,): one-hot or a box
    opened.to_env(action)           that action as env.step takes it
    opened.play(seed, steps)        an episode of the chapter's own agent, {"obs", "action", "reward"}, or None
                                    (chapter 7, which has no agent: a held-out random-policy video, its actions the
                                    latent actions Genie's LAM infers from it)
    opened.extras(out_dir)          the figures and numbers only this chapter offers: {caption: path}
    opened.dream_context            how many steps of that episode the model watches before it dreams
    opened.dream_horizon            how many steps its dreams run

The chapter's classes come from solutions/ (a student's checkpoint opens too: the templates fix the layers),
and each opener reads the checkpoint as the chapter's eval.py does. Chapters without an opener here (yet):
a clear sentence, never a traceback.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import CheckpointError, load_checkpoint
from .config import config_from_dict
from .envs import KNOWN_ENVS, env_info

Episode = dict[str, np.ndarray]


@dataclass
class Opened:
    paper: str
    cfg: Any
    step: int  # env steps of training
    model: Any
    make_env: Callable[[int], Any]
    discrete: bool
    action_dim: int
    low: np.ndarray  # the model's action box (continuous actions)
    high: np.ndarray
    env_id: str
    obs: str
    action_repeat: int
    to_env: Callable[[np.ndarray], Any]
    play: Callable[[int, int | None], Episode] | None = None
    extras: Callable[[Path], dict[str, Path]] = field(default=lambda out: {})
    dream_horizon: int = 50  # steps a dream runs (chapter 5: what its transformer's context holds)
    dream_context: int = 10  # steps watched before the dream (chapter 7: its prompt frame alone)
    episode_note: str = "the agent's episode"  # what play() returns, in words
    step_unit: str = "env steps"  # what `step` counts (chapter 7: its updates; it learns from a recorded video)

    def random_action(self, rng: np.random.Generator) -> np.ndarray:
        if self.discrete:
            return np.eye(self.action_dim, dtype=np.float32)[rng.integers(self.action_dim)]
        return rng.uniform(self.low, self.high).astype(np.float32)


def _mod(paper: str, name: str) -> Any:
    return importlib.import_module(f"solutions.{paper}.{name}")


def _opened(paper: str, cfg: Any, ckpt: dict, model: Any, make_env: Callable[[int], Any], obs: str,
            box: Callable[[np.ndarray, Any], Any] | None = None, **kw: Any) -> Opened:
    """An Opened whose actions are one-hot (discrete) or in [-1, 1]^A, which `box(action, env)`, the chapter's
    own conversion, maps onto the env's bounds."""
    env = make_env(0)
    info = env_info(env)
    dim = info["action_dim"]
    low, high = -np.ones(dim, np.float32), np.ones(dim, np.float32)
    to_env = (lambda a: int(np.argmax(a))) if info["discrete"] or box is None else (lambda a: box(a, env))
    env.close()
    kw = {"low": low, "high": high, "to_env": to_env, **kw}
    return Opened(paper, cfg, int(ckpt["step"]), model, make_env, info["discrete"], dim, env_id=cfg.env, obs=obs,
                  action_repeat=int(getattr(cfg, "action_repeat", 1)), **kw)


def _dreamer(paper: str, ckpt: dict, cls: str) -> Opened:
    """Chapters 2-4: a Dreamer agent whose `wm` follows the protocol; the chapter's own run_episode plays."""
    cfg = config_from_dict(_mod(paper, "config").Config, ckpt["config"])
    train, agent_mod = _mod(paper, "train"), _mod(paper, "agent")
    if "agent" not in ckpt:
        raise CheckpointError("it holds no trained agent yet; train (or --resume) it first.")
    args = [tuple(ckpt["obs_shape"]), int(ckpt["action_dim"])]
    if paper == "paper4_dreamerv3":
        args.append(bool(ckpt["discrete"]))
    agent = getattr(agent_mod, cls)(*args, cfg, "cpu")
    agent.load_state_dict(ckpt["agent"], optimizers=False)
    agent.wm.eval()
    if hasattr(train, "make_env_for"):
        make_env = lambda seed: train.make_env_for(cfg, seed)
    else:  # chapter 2 makes its env in eval.py as below
        from .envs import make_env as make

        make_env = lambda seed: make(cfg.env, obs=cfg.obs, size=64, action_repeat=cfg.action_repeat, seed=seed)

    def play(seed: int, steps: int | None = None) -> Episode:
        with torch.no_grad():
            kw = {"explore": False} if paper == "paper2_dreamerv1" else {}
            return train.run_episode(make_env(seed), agent, seed=seed, **kw)[1]

    box = getattr(train, "to_env_action", None) or getattr(train, "to_env", None)  # chapter 2's name, chapter 4's
    return _opened(paper, cfg, ckpt, agent.wm, make_env, cfg.obs, box, play=play)


def _paper1(ckpt: dict) -> Opened:
    paper = "paper1_world_models"
    cfg = config_from_dict(_mod(paper, "config").Config, ckpt["config"])
    if "rnn" not in ckpt:
        raise CheckpointError(f"it holds no trained M yet (stage {ckpt.get('stage')!r}); train (or --resume) it.")
    agent_mod = _mod(paper, "agent")
    vae = _mod(paper, "vae").ConvVAE(cfg.z_dim)
    vae.load_state_dict(ckpt["vae"])
    rnn = _mod(paper, "rnn").MDNRNN(cfg.z_dim, 3, cfg.hidden, cfg.n_mix)
    rnn.load_state_dict(ckpt["rnn"])
    model = agent_mod.VMWorldModel(vae.eval(), rnn.eval(), cfg.temperature, torch.Generator().manual_seed(cfg.seed))
    make_env = lambda seed: agent_mod.make_car_env(cfg.env)
    play = None
    if "controller" in ckpt:
        controller_mod = _mod(paper, "controller")
        controller = controller_mod.Controller(cfg.z_dim + (cfg.hidden if cfg.controller_input == "zh" else 0))
        controller_mod.set_flat(controller, ckpt["controller"].numpy())
        driver = agent_mod.Agent(vae, rnn, controller, cfg.controller_input)

        def play(seed: int, steps: int | None = None) -> Episode:  # the chapter's Agent, stopped after `steps`
            env, driver_steps = make_env(seed), steps or cfg.episode_steps
            obs, _ = env.reset(seed=seed)
            driver.reset()
            frames, actions, rewards = [obs], [], []
            for _ in range(driver_steps):
                action = driver.act(obs)
                obs, reward, terminated, truncated, _ = env.step(action)
                frames.append(obs)
                actions.append(action.astype(np.float32))
                rewards.append(reward)
                if terminated or truncated:
                    break
            return {"obs": np.stack(frames), "action": np.stack(actions), "reward": np.asarray(rewards)}

    opened = _opened(paper, cfg, ckpt, model, make_env, "pixels", play=play)
    opened.step = int(ckpt.get("env_steps") or 0)  # chapter 1's `step` counts stages and generations
    env = make_env(0)  # V and M take CarRacing's own actions: steer in [-1, 1], gas and brake in [0, 1]
    opened.low, opened.high, opened.to_env = env.action_space.low, env.action_space.high, lambda a: np.asarray(a)
    env.close()
    return opened


def _paper5(ckpt: dict) -> Opened:
    paper = "paper5_iris"
    cfg = config_from_dict(_mod(paper, "config").Config, {**ckpt["config"], "device": "cpu"})
    if "agent" not in ckpt:
        raise CheckpointError("it holds no trained agent yet; train (or --resume) it first.")
    train, agent_mod, report = _mod(paper, "train"), _mod(paper, "agent"), _mod(paper, "report")
    agent = agent_mod.IRIS(int(ckpt["action_dim"]), cfg)
    agent.load_state_dict(ckpt["agent"])
    agent.tokenizer.eval()
    make_env = lambda seed: train.make_env_for(cfg, seed, train=False)

    def play(seed: int, steps: int | None = None) -> Episode:
        with torch.no_grad():
            return train.run_episode(make_env(seed), agent, seed=seed)[1]

    def extras(out: Path) -> dict[str, Path]:  # eval.py --report: the tokenizer's code use, the world model's accuracy
        seed = 2_000_000
        data = report.collect(train.make_env_for(cfg, seed, train=True), agent, cfg.report_frames, seed)
        tok, tokens = report.tokenizer_report(agent.tokenizer, data, cfg.tokens_side)
        wm = report.world_model_report(agent.wm, tokens, data)
        path = out / "iris_report.json"
        path.write_text(json.dumps({"tokenizer": tok, "world_model": wm}, indent=2) + "\n")
        return {f"chapter 5's report (eval.py --report) on {tok['frames']} held-out frames: the tokenizer uses "
                f"{tok['codes_used']} of {tok['vocab']} codes (perplexity {tok['perplexity']:.1f}), PSNR "
                f"{tok['psnr']:.1f} dB; the world model's next-token accuracy {wm['next_token_accuracy']:.3f}, "
                f"{wm['changed_token_accuracy']:.3f} on changed tokens": path}

    return _opened(paper, cfg, ckpt, agent_mod.IrisWorldModel(agent), make_env, "pixels", play=play, extras=extras,
                   dream_horizon=cfg.max_blocks - 2)  # as eval.py --dream


def _paper6(ckpt: dict) -> Opened:
    paper = "paper6_tdmpc2"
    cfg = config_from_dict(_mod(paper, "config").Config, ckpt["config"])
    agent_mod, wm, planner = _mod(paper, "agent"), _mod(paper, "world_model"), _mod(paper, "planner")
    model = wm.TDMPC2Model(ckpt["obs_dim"], ckpt["action_dim"], cfg)
    model.load_state_dict(ckpt["model"])
    model.eval()
    make_env = lambda seed: agent_mod.make_tdmpc_env(cfg.env, cfg.action_repeat)

    def extras(out: Path) -> dict[str, Path]:  # train.py's reward_prediction.png, for this checkpoint
        env = make_env(0)
        info = env_info(env)
        agent = agent_mod.Agent(model, planner.Planner(cfg, ckpt["action_dim"]), ckpt["discount"], info["action_low"],
                                info["action_high"])
        torch.manual_seed(cfg.seed)
        result = agent_mod.run_episode(env, agent, "planner", agent_mod.EVAL_SEED_BASE, two_hot_inv=wm.two_hot_inv)
        path = agent_mod.reward_figure(result["rewards"], result["predicted"], out / "reward_prediction.png",
                                       title=f"{cfg.env}: one planner episode (return {result['return']:.0f})")
        return {"chapter 6's reward head against the environment along one planner episode": path}

    box = lambda a, env: agent_mod.Agent(model, None, 1.0, env.action_space.low, env.action_space.high).to_env(a)
    return _opened(paper, cfg, ckpt, agent_mod.TDMPC2WorldModel(model, wm.two_hot_inv), make_env, "state", box,
                   extras=extras)


def _paper7(ckpt: dict) -> Opened:
    """Genie learns from action-free video: its actions are the |A| latent actions of its LAM, one-hot. Latent codes
    have no fixed meaning in the env, so `to_env` maps code k to env action k mod n: under uniformly random codes a
    uniformly random env action (when n divides |A|), reproducible from the episode's seed. common.prediction thus
    scores Genie's dreams under latent actions that do not describe what happened (eval.py's "random actions")."""
    paper = "paper7_genie"
    cfg = config_from_dict(_mod(paper, "config").Config, {**ckpt["config"], "device": "cpu"})
    genie_mod, data, ev, play_mod = (_mod(paper, name) for name in ("genie", "data", "eval", "play"))
    genie = genie_mod.Genie(cfg, int(ckpt["channels"]))  # as play.load_genie
    genie.load_state_dict(ckpt["model"])
    genie.eval()
    A, T = cfg.actions, cfg.seq_len
    make_env = lambda seed: data.make_video_env(cfg.env, cfg.size, cfg.action_repeat, seed)
    env = make_env(0)
    env_actions = int(env.action_space.n)
    env.close()
    atari = cfg.env in KNOWN_ENVS and KNOWN_ENVS[cfg.env].atari
    repeat = cfg.action_repeat if atari else 1  # make_video_env repeats Atari actions only

    def play(seed: int, steps: int | None = None) -> Episode:
        """Held-out episode `seed` of a random policy (data.record), with the latent actions the LAM infers from
        it, window by window of T frames (each window's first frame is the last one's last)."""
        video = data.record(cfg.env, 1, cfg.size, cfg.action_repeat, seed, max_steps=steps or 1000, show=False)
        frames = torch.from_numpy(video["frames"])[None]  # (1, S + 1, H, W, C) uint8
        codes = torch.cat([genie.lam.infer(frames[:, s:s + T]) for s in range(0, frames.shape[1] - 1, T - 1)], 1)
        return {"obs": video["frames"], "action": np.eye(A, dtype=np.float32)[codes[0].numpy()],  # (S, |A|)
                "reward": np.full(codes.shape[1], np.nan),  # data.record keeps no rewards; Genie predicts none
                "env_action": video["actions"][:-1]}  # the true actions, never shown to the model

    def extras(out: Path) -> dict[str, Path]:  # train.py's actions.png and eval.py's numbers, on held-out videos
        gen = torch.Generator().manual_seed(cfg.seed)
        videos = data.record(cfg.env, 2, cfg.size, cfg.action_repeat, data.EVAL_SEED_BASE, max_steps=200, show=False)
        prompt = torch.from_numpy(videos["frames"][min(10, int(videos["lengths"][0]) - 1)])  # as play.py: frame 10
        grid = play_mod.action_grid(genie, prompt, out / "actions.png", gen)
        length = min(T, int(videos["lengths"].max()))
        clips = data.Clips(videos, length)
        frames, true = clips.get(clips.tiles()[:16])
        result, codes = ev.evaluate(genie, frames, true, cfg.horizon, gen)
        confusion = ev.confusion_figure(true.flatten().numpy(), codes.flatten().numpy(), int(ckpt["num_actions"]), A,
                                        None, out / "confusion.png")
        numbers = out / "genie_eval.json"
        numbers.write_text(json.dumps(result, indent=1) + "\n")
        delta = float(np.mean(result["delta_psnr"]))
        return {f"chapter 7's actions.png: frame 10 of held-out episode 0, then the next frame Genie generates under "
                f"each of its {A} latent actions": grid,
                f"chapter 7's eval.py on {result['clips']} held-out clips of {length} frames: true actions (rows) "
                f"against latent actions (columns); NMI {result['nmi']:.3f}, {result['lam_codes_used']} of {A} codes "
                f"in use": confusion,
                f"eval.py's numbers on those clips: ΔtPSNR (t={result['t']}) {delta:+.2f} dB, tokenizer PSNR "
                f"{result['tokenizer_psnr']:.1f} dB, masked-token accuracy {result['masked_token_accuracy']:.3f} "
                f"(copying the previous frame {result['copy_accuracy']:.3f})": numbers}

    model = genie_mod.GenieWorldModel(genie, torch.Generator().manual_seed(cfg.seed))
    return Opened(paper, cfg, int(ckpt["step"]), model, make_env, True, A, np.zeros(A, np.float32),
                  np.ones(A, np.float32), env_id=cfg.env, obs="pixels", action_repeat=repeat,
                  to_env=lambda a: int(np.argmax(a)) % env_actions, play=play, extras=extras,
                  dream_horizon=T - 1, dream_context=1,  # as train.py's dream.gif: one clip from its first frame
                  step_unit="updates of its three stages",
                  episode_note="a held-out random-policy episode, its actions the latent actions the LAM infers "
                               "from its frames")


OPENERS: dict[str, Callable[[dict], Opened]] = {
    "paper1_world_models": _paper1,
    "paper2_dreamerv1": lambda ckpt: _dreamer("paper2_dreamerv1", ckpt, "Dreamer"),
    "paper3_dreamerv2": lambda ckpt: _dreamer("paper3_dreamerv2", ckpt, "DreamerV2"),
    "paper4_dreamerv3": lambda ckpt: _dreamer("paper4_dreamerv3", ckpt, "DreamerV3"),
    "paper5_iris": _paper5,
    "paper6_tdmpc2": _paper6,
    "paper7_genie": _paper7,
}


def chapter_of(path: str | Path) -> str:
    """The chapter that saved the checkpoint at `path`; CheckpointError (one sentence) if it is not one."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; pass a checkpoint file in it (checkpoint.pt or best.pt).")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        paper = data.get("paper") if isinstance(data, dict) else None
    except Exception:  # let load_checkpoint say what is wrong with the file
        paper = None
    if not isinstance(paper, str):
        load_checkpoint(path, "?")  # raises the clear sentence: missing, truncated, foreign
        raise CheckpointError(f"{path} does not say which chapter saved it.")
    return paper


def open_checkpoint(path: str | Path) -> Opened:
    """The checkpoint at `path` opened as above; CheckpointError (one sentence) if it cannot be."""
    paper = chapter_of(path)
    if paper not in OPENERS:
        raise CheckpointError(f"{path} was saved by {paper}, which this tool cannot open yet (it knows "
                              f"{', '.join(OPENERS)}).")
    ckpt = load_checkpoint(path, paper)
    try:
        return OPENERS[paper](ckpt)
    except CheckpointError as err:
        raise CheckpointError(f"{path} ({paper}): {err}") from None
    except (RuntimeError, KeyError) as err:
        raise CheckpointError(f"{path} does not fit {paper}'s model ({type(err).__name__}); was it saved by "
                              "another version of the code?") from None
