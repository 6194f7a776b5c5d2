"""common.results: results files, the Markdown table, and the README section it keeps."""

from __future__ import annotations

import json

import pytest

from common.results import END, START, load_results, main, render_table, replace_section


def result(paper: str = "paper1_world_models", **changes) -> dict:
    data = {
        "paper": paper, "title": "World Models (Ha & Schmidhuber 2018)", "env": "CarRacing-v3",
        "metric": "mean return, 100 episodes", "mean": 906.0, "std": 21.0, "values": [885.0, 906.0, 927.0],
        "seeds": [0, 1, 2], "episodes": 100, "env_steps": 1_200_000, "wall_minutes": 210.0, "cores": 2,
        "command": "python -m solutions.paper1_world_models.train --preset cpu", "date": "2025-01-31",
        "notes": "",
    }
    data.update(changes)
    return data


def write(directory, data: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{data['paper']}.json").write_text(json.dumps(data))


def test_load_results_sorted_and_checked(tmp_path):
    write(tmp_path, result("paper2_dreamerv1"))
    write(tmp_path, result("paper1_world_models"))
    assert [r["paper"] for r in load_results(tmp_path)] == ["paper1_world_models", "paper2_dreamerv1"]
    broken = result("paper3_dreamerv2")
    del broken["wall_minutes"]
    write(tmp_path, broken)
    with pytest.raises(ValueError, match="lacks the field.*wall_minutes"):
        load_results(tmp_path)


def test_load_results_refuses_misnamed_or_invalid_files(tmp_path):
    (tmp_path / "paper1_world_models.json").write_text(json.dumps(result("paper2_dreamerv1")))
    with pytest.raises(ValueError, match="named after it"):
        load_results(tmp_path)
    (tmp_path / "paper1_world_models.json").write_text("{ not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_results(tmp_path)


def test_render_table_row():
    table = render_table([result(), result("paper4_dreamerv3", values=[1.5], std=0.0, mean=1.5,
                                           env_steps=250_000, wall_minutes=42, cores=1, env="A|B")])
    lines = table.splitlines()
    assert lines[0] == "| chapter | env | metric | result | env steps | wall time | CPU time | details |"
    assert len(lines) == 4
    assert lines[2] == ("| World Models (Ha & Schmidhuber 2018) | CarRacing-v3 | mean return, 100 episodes | "
                        "906 ± 21 (3 seeds) | 1.2M | 3.5 h on 2 cores | not measured | "
                        "[paper1_world_models](docs/results/paper1_world_models.md) |")
    assert "| 1.50 (1 seed) |" in lines[3] and "250k" in lines[3] and "42 min on 1 core" in lines[3]
    assert "A\\|B" in lines[3]
    assert "| 6.0 min |" in render_table([result(cpu_minutes=5.97)]).splitlines()[2]  # a pipe would break the table
    assert "No measured results" in render_table([])


def test_replace_section():
    text = f"# Title\n\n{START}\nold table\n{END}\n\nmore\n"
    new = replace_section(text, "| a |")
    assert new == f"# Title\n\n{START}\n| a |\n{END}\n\nmore\n"
    assert replace_section(new, "| a |") == new
    with pytest.raises(ValueError, match="results:start"):
        replace_section("# no markers\n", "| a |")


def test_main_rewrites_and_checks_the_readme(tmp_path, capsys):
    results = tmp_path / "results"
    write(results, result())
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{START}\n{END}\noutro\n")
    args = ["--readme", str(readme), "--dir", str(results)]
    assert main(args + ["--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(args) == 0
    assert "906 ± 21 (3 seeds)" in readme.read_text() and readme.read_text().endswith(f"{END}\noutro\n")
    assert main(args + ["--check"]) == 0
    readme.write_text("no markers")
    assert main(args) == 1 and "no <!-- results:start -->" in capsys.readouterr().err
    assert main(["--readme", str(tmp_path / "missing.md"), "--dir", str(results)]) == 1
