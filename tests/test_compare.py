"""The cross-chapter comparison (common.compare, common.curves, common.prediction) and the visualiser
(common.visualize): tiny inputs, seconds; and docs/results/comparison.md in sync with the committed files."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from common import compare, compare_data, compare_report, visualize
from common.any_model import OPENERS, Opened, open_checkpoint
from common.checkpoint import save_checkpoint
from common.config import build_config, config_to_dict
from common.curves import Curve, extract, read_curve, write_curve
from common.envs import make_env
from common.prediction import prediction_error
from common.results import RESULTS_DIR
from common.world_model import capabilities
from tests.test_common_dreams import EchoModel


def test_comparison_page_is_up_to_date() -> None:
    page = RESULTS_DIR / "comparison.md"
    assert page.exists(), "docs/results/comparison.md is missing; run `python -m common.compare` to write it."
    expected = compare_report.render(compare_data.load_inputs(RESULTS_DIR))
    assert page.read_text() == expected, ("docs/results/comparison.md differs from the committed curves, results and "
                                          "bench files; run `python -m common.compare` to rebuild it.")


# ---------------------------------------------------------------- curves
def fake_run(path: Path, records: list[dict], config: dict, finished: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (path / "config.json").write_text(json.dumps(config))
    if finished:
        (path / "summary.json").write_text("{}")
    return path


def test_extract_keeps_the_periodic_evaluations_and_round_trips(tmp_path: Path) -> None:
    records = [{"step": 100, "wall": 1.0, "train_return": 9.0}, {"step": 2000, "wall": 60.0, "eval_return": 20.5,
               "minutes": 1.0}, {"step": 4000, "wall": 130.0, "eval_return": 480.0, "minutes": 2.1}]
    run = fake_run(tmp_path / "run", records, {"env": "CartPole-v1", "obs": "state", "seed": 3})
    curve = extract(run, chapter="paper4_dreamerv3")
    assert (curve.env, curve.obs, curve.seed) == ("CartPole-v1", "state", 3)
    assert curve.env_step == [2000, 4000] and curve.wall_minutes == [1.0, 2.1] and curve.eval_return == [20.5, 480.0]
    back = read_curve(write_curve(curve, tmp_path / "curves"))
    assert back == curve, "a curve file must read back as the curve written"


def test_extract_reads_chapter_6_and_chapter_1_runs(tmp_path: Path) -> None:
    six = fake_run(tmp_path / "six", [{"step": 1000, "wall": 30.0, "minutes": 0.5, "eval_return": -900.0,
                                       "eval_prior": -1000.0}], {"env": "Pendulum-v1", "seed": 0})
    curve = extract(six, chapter="paper6_tdmpc2")
    assert curve.obs == "state" and curve.eval_return == [-900.0], "chapter 6's agent is its planner"
    one = fake_run(tmp_path / "one", [{"step": 20, "wall": 9.0, "minutes": 0.15, "env_steps": 320000,
                                       "eval_return": 500.0}], {"env": "CarRacing-v3", "seed": 0})
    curve = extract(one, chapter="paper1_world_models")
    assert curve.env_step == [320000] and curve.obs == "pixels", "chapter 1 logs generations; env steps apart"


def test_extract_still_reads_runs_logged_under_the_old_names(tmp_path: Path) -> None:
    """Chapters 6 and 1 logged `eval_planner` and `eval_mean` before they adopted `eval_return`; a run resumed
    across the rename holds both."""
    six = fake_run(tmp_path / "six", [{"step": 1000, "wall": 30.0, "minutes": 0.5, "eval_planner": -900.0,
                                       "eval_prior": -1000.0}, {"step": 2000, "wall": 60.0, "minutes": 1.0,
                                       "eval_return": -300.0, "eval_prior": -800.0}], {"env": "Pendulum-v1",
                                                                                         "seed": 0})
    curve = extract(six, chapter="paper6_tdmpc2")
    assert curve.env_step == [1000, 2000] and curve.eval_return == [-900.0, -300.0], curve
    assert curve.source.endswith("(eval_planner, eval_return)"), curve.source
    one = fake_run(tmp_path / "one", [{"step": 20, "wall": 9.0, "minutes": 0.15, "env_steps": 320000,
                                       "eval_mean": 500.0}], {"env": "CarRacing-v3", "seed": 0})
    assert extract(one, chapter="paper1_world_models").eval_return == [500.0]


def test_extract_refuses_unfinished_runs_with_one_sentence(tmp_path: Path, capsys) -> None:
    run = fake_run(tmp_path / "run", [{"step": 5, "wall": 1.0, "eval_return": 1.0}], {"env": "CartPole-v1",
                   "obs": "state", "seed": 0}, finished=False)
    assert compare.main(["extract", str(run), "--chapter", "paper4_dreamerv3", "--curves", str(tmp_path)]) == 1
    assert "has not finished" in capsys.readouterr().err
    assert compare.main(["extract", str(tmp_path / "nowhere"), "--chapter", "paper4_dreamerv3"]) == 1
    assert "not a run folder" in capsys.readouterr().err


def test_aggregate_averages_seeds_where_they_overlap() -> None:
    x, mean, std = compare_data.aggregate([[1, 2, 3], [2, 4]], [[0, 10, 20], [30, 50]])
    assert x.tolist() == [1, 2, 3, 4]
    assert mean[0] == 0 and mean[1] == 20 and mean[2] == 30 and mean[3] == 50  # seed 2 at 3: 40 (interpolated)
    assert std[1] == 10 and std[3] == 0


# ---------------------------------------------------------------- the page from fake inputs
def fake_results(directory: Path) -> None:
    curves = directory / "curves"
    for seed, (walls, returns) in enumerate([([1, 2, 3], [-900, -240, -200]), ([1.5, 3, 4.5], [-1000, -600, -245])]):
        write_curve(Curve("paper4_dreamerv3", "Pendulum-v1", "state", seed, "", "fake", [2000, 4000, 6000], walls,
                          returns), curves)
    write_curve(Curve("paper4_dreamerv3", "Pendulum-v1", "state", 0, "ablate twohot", "fake", [2000], [1], [-1e3]),
                curves)
    write_curve(Curve("paper3_dreamerv2", "ALE/Boxing-v5", "pixels", 0, "", "fake", [1e5], [None], [12.1]), curves)
    result = {"paper": "paper6_tdmpc2", "title": "TD-MPC2", "env": "Pendulum-v1 (state)", "metric": "return",
              "mean": -167.0, "std": 8.5, "values": [-157.5, -173.8, -169.8], "seeds": [0, 1, 2], "episodes": 10,
              "env_steps": 5000, "wall_minutes": 14.5, "cores": 2, "command": "x", "date": "2026-01-01", "notes": ""}
    (directory / "paper6_tdmpc2.json").write_text(json.dumps(result))
    (directory / "bench").mkdir()
    bench = {"parameters": 492121, "torch_threads": 1, "act_label": "plan", "act": {"median_s": 0.5},
             "update": {"median_s": 0.1, "cpu_median_s": 0.09}}
    (directory / "bench" / "paper6_tdmpc2_cpu.json").write_text(json.dumps(bench))


def test_page_from_fake_inputs_measures_what_is_there_and_nothing_else(tmp_path: Path) -> None:
    fake_results(tmp_path)
    assert compare.main(["--dir", str(tmp_path)]) == 0
    text = (tmp_path / "comparison.md").read_text()
    pendulum = text.split("### Pendulum-v1")[1].split("###")[0]
    v3 = next(line for line in pendulum.splitlines() if line.startswith("| DreamerV3"))
    assert "| 2 seeds |" in v3 and "5k (2/2 seeds)" in v3, f"steps to -250: 4000 and 6000, mean 5k; got {v3}"
    assert "3.2 min (2/2 seeds)" in v3, f"wall time to the bar: 2 and 4.5 min; got {v3}"
    assert "-222 ± 32" in v3, f"last evaluations -200 and -245; got {v3}"
    v1 = next(line for line in pendulum.splitlines() if line.startswith("| DreamerV1"))
    assert v1.count("not measured") >= 4, f"a chapter without curves or results is not measured: {v1}"
    tdmpc = next(line for line in pendulum.splitlines() if line.startswith("| TD-MPC2"))
    assert "-167.0 ± 8.5 (3 seeds" in tdmpc
    assert "492,121" in text
    ablations = text.split("#### DreamerV3: ablations on this task")[1].split("###")[0]
    assert "| full method | 2 seeds | -222 ± 32 | 5k (2/2 seeds) |" in ablations, ablations
    assert "| ablate twohot | 1 seed | -1000 | not reached (0/1 seed) |" in ablations, ablations
    assert (tmp_path / "comparison" / "ablations_paper4_dreamerv3_pendulum-v1_state.png").stat().st_size > 0
    assert text.count("ablations on this task") == 1, "an ablation shows under its own task only"
    boxing = next(line for line in text.split("### Atari")[1].splitlines() if line.startswith("| DreamerV2"))
    assert "| 1 seed | 1.00 (score: Boxing-v5 12.10) |" in boxing, f"human score 12.1 normalises to 1: {boxing}"
    assert "No checkpoint has been measured yet: not measured." in text
    assert (tmp_path / "comparison" / "returns_pendulum-v1_state.png").stat().st_size > 0
    assert compare.main(["--check", "--dir", str(tmp_path)]) == 0
    write_curve(Curve("paper2_dreamerv1", "Pendulum-v1", "state", 0, "", "fake", [2000], [None], [-300.0]),
                tmp_path / "curves")
    assert compare.main(["--check", "--dir", str(tmp_path)]) == 1, "a new curve must make the page out of date"


# ---------------------------------------------------------------- checkpoints: prediction error, visualiser
def dreamer_v3_checkpoint(path: Path) -> Path:
    """An untrained chapter 4 agent (smoke sizes) on CartPole-v1, saved as train.py saves it."""
    from solutions.paper4_dreamerv3.agent import DreamerV3
    from solutions.paper4_dreamerv3.config import PRESETS, Config

    cfg = build_config(Config, PRESETS, "smoke", {})
    torch.manual_seed(0)
    agent = DreamerV3((4,), 2, True, cfg, "cpu")
    return save_checkpoint(path, paper="paper4_dreamerv3", step=0, config=config_to_dict(cfg),
                           agent=agent.state_dict(), obs_shape=[4], action_dim=2, discrete=True)


def tdmpc2_checkpoint(path: Path) -> Path:
    from solutions.paper6_tdmpc2.config import PRESETS, Config
    from solutions.paper6_tdmpc2.world_model import TDMPC2Model

    cfg = build_config(Config, PRESETS, "smoke", {})
    torch.manual_seed(0)
    return save_checkpoint(path, paper="paper6_tdmpc2", step=0, config=config_to_dict(cfg),
                           model=TDMPC2Model(3, 1, cfg).state_dict(), obs_dim=3, action_dim=1, discount=0.95)


def genie_checkpoint(path: Path) -> Path:
    """An untrained chapter 7 Genie (smoke sizes: CartPole-v1 at 16x16), saved as its train.py saves it."""
    from solutions.paper7_genie.config import PRESETS, Config
    from solutions.paper7_genie.genie import Genie

    cfg = build_config(Config, PRESETS, "smoke", {})
    torch.manual_seed(0)
    model = Genie(cfg, 3)
    optims = {k: torch.optim.AdamW(getattr(model, k).parameters()).state_dict() for k in ("tokenizer", "lam",
                                                                                             "dynamics")}
    return save_checkpoint(path, paper="paper7_genie", step=0, config=config_to_dict(cfg), model=model.state_dict(),
                           optims=optims, channels=3, num_actions=2, cpu_seconds=0.0)


def untrained_checkpoint(paper: str, path: Path) -> Path:
    """A chapter's untrained model (smoke sizes), saved with the fields its train.py saves."""
    if paper == "paper4_dreamerv3":
        return dreamer_v3_checkpoint(path)
    if paper == "paper6_tdmpc2":
        return tdmpc2_checkpoint(path)
    if paper == "paper7_genie":
        return genie_checkpoint(path)
    config = importlib.import_module(f"solutions.{paper}.config")
    cfg = build_config(config.Config, config.PRESETS, "smoke", {})
    torch.manual_seed(0)
    save = lambda **kw: save_checkpoint(path, paper=paper, step=0, config=config_to_dict(cfg), **kw)
    if paper == "paper1_world_models":
        from solutions.paper1_world_models import controller, rnn, vae

        flat = controller.get_flat(controller.Controller(cfg.z_dim + cfg.hidden))
        return save(vae=vae.ConvVAE(cfg.z_dim).state_dict(), rnn=rnn.MDNRNN(cfg.z_dim, 3, cfg.hidden,
                    cfg.n_mix).state_dict(), controller=torch.as_tensor(flat), env_steps=0)
    agent = importlib.import_module(f"solutions.{paper}.agent")
    if paper == "paper5_iris":
        return save(agent=agent.IRIS(4, cfg).state_dict(), obs_shape=[64, 64, 3], action_dim=4)
    model = agent.Dreamer((3,), 1, cfg) if paper == "paper2_dreamerv1" else agent.DreamerV2((4,), 2, cfg)
    return save(agent=model.state_dict(), obs_shape=list(model.wm.obs_shape), action_dim=model.action_dim)


@pytest.mark.parametrize("paper", list(OPENERS))
def test_every_chapter_opens_and_predicts_through_the_protocol(paper: str, tmp_path: Path) -> None:
    opened = open_checkpoint(untrained_checkpoint(paper, tmp_path / "ckpt.pt"))
    assert opened.paper == paper
    entry = prediction_error(opened, episodes=1, horizon=4 * opened.action_repeat, max_steps=24)
    assert entry["horizon"][0] == opened.action_repeat and entry["windows"][0] > 0
    decodes, rewards = capabilities(opened.model)["decode"], paper not in ("paper1_world_models", "paper7_genie")
    assert (entry["obs_mse"] is not None) == decodes and (entry["reward_abs_error"] is not None) == rewards
    assert all(np.isfinite(entry["copy_obs_mse"]))


def test_a_model_that_never_moves_scores_the_copy_baseline() -> None:
    """A dream that stands still *is* "hold the last observation": its error must equal the baseline's."""
    def make(seed: int):
        return make_env("Pendulum-v1", obs="state", action_repeat=2)

    opened = Opened("fake", type("Cfg", (), {"seed": 0})(), 0, EchoModel(), make, False, 1, -np.ones(1, np.float32),
                    np.ones(1, np.float32), "Pendulum-v1", "state", 2, lambda a: 2 * np.asarray(a))
    entry = prediction_error(opened, episodes=1, horizon=8)
    assert entry["horizon"] == [2, 4, 6, 8], "horizons are in env steps: multiples of the action repeat"
    np.testing.assert_allclose(entry["obs_mse"], entry["copy_obs_mse"], rtol=1e-5)
    assert entry["copy_obs_mse"][0] < entry["copy_obs_mse"][-1], "the world moves: holding still gets worse"


def test_predict_writes_entries_the_page_reads(tmp_path: Path, capsys) -> None:
    v3, six = dreamer_v3_checkpoint(tmp_path / "v3.pt"), tdmpc2_checkpoint(tmp_path / "six.pt")
    out = tmp_path / "comparison" / "prediction.json"
    assert compare.main(["predict", str(v3), str(six), "--episodes", "1", "--horizon", "8", "--out", str(out)]) == 0
    models = {e["chapter"]: e for e in json.loads(out.read_text())["models"]}
    assert models["paper6_tdmpc2"]["obs_mse"] is None and models["paper6_tdmpc2"]["reward_abs_error"]
    assert models["paper4_dreamerv3"]["obs_mse"] and models["paper4_dreamerv3"]["horizon"][0] == 1
    assert compare.main(["--dir", str(tmp_path)]) == 0
    text = (tmp_path / "comparison.md").read_text()
    assert "### CartPole-v1 (state)" in text and "### Pendulum-v1 (state)" in text
    assert "| TD-MPC2 | 1 (0) | does not predict it |" in text
    assert compare.main(["predict", str(tmp_path / "missing.pt"), "--out", str(out)]) == 1
    assert "No checkpoint at" in capsys.readouterr().err


def test_visualize_writes_what_the_model_can_show(tmp_path: Path) -> None:
    out = visualize.visualize(dreamer_v3_checkpoint(tmp_path / "v3.pt"), tmp_path / "v3", episodes=1)
    for name in ("dream.png", "dream.gif", "prediction_error.png", "README.md", "index.html"):
        assert (out / name).stat().st_size > 0, f"{name} missing"
    assert "decode yes" in (out / "README.md").read_text()
    out = visualize.visualize(tdmpc2_checkpoint(tmp_path / "six.pt"), tmp_path / "six", episodes=1)
    readme = (out / "README.md").read_text()
    assert "lacks decode" in readme and (out / "reward_prediction.png").exists(), readme


def test_genie_opens_as_a_world_model_of_latent_actions(tmp_path: Path) -> None:
    opened = open_checkpoint(genie_checkpoint(tmp_path / "genie.pt"))
    cfg, model, A, T = opened.cfg, opened.model, opened.cfg.actions, opened.cfg.seq_len
    assert opened.discrete and opened.action_dim == A and opened.dream_horizon == T - 1 and opened.dream_context == 1
    assert 0 <= opened.to_env(opened.random_action(np.random.default_rng(0))) < 2, "a CartPole action"
    caps = capabilities(model)
    assert all(caps[m] for m in ("encode", "observe", "predict", "imagine", "decode")) and not caps["loss"]
    episode = opened.play(visualize.DREAM_SEED, 2 * T)
    steps = len(episode["action"])
    assert steps > T, "longer than the LAM's context: its latent actions are inferred window by window"
    assert episode["obs"].shape == (steps + 1, cfg.size, cfg.size, 3) and episode["obs"].dtype == np.uint8
    assert episode["action"].shape == (steps, A) and (episode["action"].sum(1) == 1).all(), "one-hot latent actions"
    obs = torch.as_tensor(episode["obs"][:2])  # a batch of 2 frames
    frame = model.decode(model.encode(obs))["obs"]
    assert frame.shape == obs.shape and frame.is_floating_point() and 0 <= frame.min() and frame.max() <= 1
    one = lambda x: torch.as_tensor(x[None])  # a batch of 1
    state = model.encode(one(episode["obs"][0]))
    for t in range(1, steps + 1):
        state = model.observe(state, one(episode["action"][t - 1]), one(episode["obs"][t]))
    assert state["tokens"].shape[1] == T and state["codes"].shape[1] == T - 1, "the state holds the context, no more"
    traj = model.imagine(state, torch.as_tensor(episode["action"][None, :3]))
    assert len(traj.states) == 3 and traj.rewards is None and traj.continues is None
    assert model.decode(traj.states[-1])["obs"].shape == (1, cfg.size, cfg.size, 3)


def test_visualize_draws_genie_from_its_latent_actions(tmp_path: Path) -> None:
    out = visualize.visualize(genie_checkpoint(tmp_path / "genie.pt"), tmp_path / "genie", episodes=1)
    for name in ("dream.gif", "dream.png", "reconstruction.png", "prediction_error.png", "actions.png",
                 "confusion.png", "genie_eval.json", "README.md", "index.html"):
        assert (out / name).stat().st_size > 0, f"{name} missing"
    readme = (out / "README.md").read_text()
    assert "watches its first frame" in readme and "loss no" in readme, readme
    numbers = json.loads((out / "genie_eval.json").read_text())
    assert 0 <= numbers["nmi"] <= 1 and 1 <= numbers["lam_codes_used"] <= numbers["actions"]
    assert json.loads((out / "prediction_error.json").read_text())["reward_abs_error"] is None


@pytest.mark.parametrize("what", ["folder", "garbage", "unknown chapter"])
def test_visualize_says_one_sentence_for_bad_input(what: str, tmp_path: Path, capsys) -> None:
    path = tmp_path
    if what == "garbage":
        path = tmp_path / "x.pt"
        path.write_bytes(b"not a checkpoint")
    elif what == "unknown chapter":
        path = save_checkpoint(tmp_path / "u.pt", paper="paper99_unknown", step=0, config={})
    assert visualize.main(["--checkpoint", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "Traceback" not in err, err
