"""Each chapter's classic mistakes (tests/mutations/paperN_x.py) are caught by its graded suite, and the
guide's "Common mistakes" box names every one of them (CONTRIBUTING.md)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable

import pytest

from common.templates import GUIDE, paper_number, todo_ids
from tests.chapters import NO_CHAPTER, ROOT, SuiteRun, chapter_params, chapters, mutations, params, run_many
from tests.mutations import Mutation


def all_mutations() -> list:
    found = chapters()
    pairs = [(c, m) for c in found for m in mutations(c) or []]
    why = "no mutations yet in tests/mutations/" if found else NO_CHAPTER
    return params(pairs, [f"{c}-{m.id}" for c, m in pairs], why)


def mistakes_box(chapter: str) -> str | None:
    """The guide's text after the first "Common mistakes" line of the chapter (None without a guide)."""
    guide = ROOT / GUIDE
    if not guide.is_file():
        return None
    text = guide.read_text(encoding="utf-8")
    n = paper_number(chapter)
    starts = [m.start() for m in re.finditer(r"^## ", text, re.M)] + [len(text)]
    for a, b in zip(starts, starts[1:], strict=False):  # the `## ` chapter holding `### n.k` headings
        block = text[a:b]
        if re.search(rf"^###\s+{n}\.\d+\s", block, re.M):
            found = re.search(r"common mistakes", block, re.I)
            return block[found.start():] if found else ""
    return ""


@pytest.mark.parametrize("chapter", chapter_params())
def test_chapter_lists_its_classic_mistakes(chapter: str) -> None:
    found = mutations(chapter)
    assert found, f"tests/mutations/{chapter}.py must list the chapter's classic mistakes in MUTATIONS"
    ids = [m.id for m in found]
    assert len(ids) == len(set(ids)), f"mutation ids repeat in tests/mutations/{chapter}.py: {ids}"
    steps = todo_ids(ROOT, chapter)
    for m in found:
        assert isinstance(m, Mutation) and m.step in steps, f"mutation {m.id}: no TODO({m.step}) in {chapter}"
        assert (ROOT / "solutions" / chapter / m.file).is_file(), f"mutation {m.id}: no file {m.file}"
    box = mistakes_box(chapter)
    if box is None:
        pytest.skip(f"{GUIDE} does not exist yet")
    missing = [i for i in ids if i not in box]
    assert not missing, (f"the \"Common mistakes\" box of {chapter} in {GUIDE} does not name: "
                         f"{', '.join(missing)}")


@pytest.fixture(scope="module")
def suite_on_mutants(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[str, SuiteRun | str]]:
    """chapter -> {mutation id: the graded suite's run on the mutated copy, or why it could not be made}.
    All mutations of a chapter run in one batch (tests/suite_runner.py), the first time one is asked for."""
    done: dict[str, dict[str, SuiteRun | str]] = {}

    def run(chapter: str) -> dict[str, SuiteRun | str]:
        if chapter not in done:
            workdir = tmp_path_factory.mktemp(chapter)
            stale: dict[str, SuiteRun | str] = {}
            targets = {}
            for m in mutations(chapter) or []:
                copy = workdir / m.id / chapter
                shutil.copytree(ROOT / "solutions" / chapter, copy,
                                ignore=shutil.ignore_patterns("__pycache__", "runs"))
                path = copy / m.file
                try:
                    path.write_text(m.apply(path.read_text(encoding="utf-8")), encoding="utf-8")
                    targets[m.id] = copy.parent
                except (ValueError, FileNotFoundError) as err:
                    stale[m.id] = f"{err} (tests/mutations/{chapter}.py, solutions/{chapter}/{m.file})"
            done[chapter] = {**run_many(chapter, targets, workdir), **stale}
        return done[chapter]

    return run


@pytest.mark.slow
@pytest.mark.parametrize("case", all_mutations())
def test_mutation_is_caught(case: tuple[str, Mutation], suite_on_mutants: Callable) -> None:
    chapter, mutation = case
    run = suite_on_mutants(chapter)[mutation.id]
    if isinstance(run, str):
        pytest.fail(run, pytrace=False)
    failed = sorted(node for node, outcome in run.outcomes().items() if outcome in ("failed", "error"))
    assert run.returncode in (0, 1), f"pytest exited with {run.returncode}:\n{run.output}"
    assert failed, (f"no graded test catches mutation {mutation.id} (step {mutation.step}: {mutation.why}); "
                    f"add a test that fails for it.\n{run.output}")
