"""Each chapter's classic mistakes (tests/mutations/paperN_x.py) are caught by its graded suite, and the
guide's "Common mistakes" box names every one of them (CONTRIBUTING.md).

Each mistake is graded twice: as a student's code beside the reference (the comparisons can catch it),
and as if it were in `solutions/` itself (`--reference target`: the comparisons compare the mutant with
itself, so only the property checks can catch it). The second figure, per chapter, is printed at the end
of the run and must reach PROPERTY_FLOOR: a bug in the reference must not pass its own suite."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable

import pytest

from common.templates import GUIDE, paper_number, todo_ids
from tests.chapters import NO_CHAPTER, ROOT, SuiteRun, chapter_params, chapters, mutations, params, run_many
from tests.mutations import Mutation

PROPERTY_FLOOR = 0.8  # the share of a chapter's listed mistakes its property checks must catch alone
PROPERTY_FIGURES: dict[str, str] = {}  # chapter -> "caught k of n ...", printed by tests/conftest.py


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
def suite_on_mutants(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., dict[str, SuiteRun | str]]:
    """(chapter, property_only) -> {mutation id: the graded suite's run on the mutated copy, or why it could
    not be made}. A chapter's mutations run in one batch (tests/suite_runner.py) the first time one is asked
    for; property_only grades them with `--reference target`."""
    done: dict[tuple[str, bool], dict[str, SuiteRun | str]] = {}

    def run(chapter: str, property_only: bool = False) -> dict[str, SuiteRun | str]:
        key = (chapter, property_only)
        if key not in done:
            workdir = tmp_path_factory.mktemp(f"{chapter}-{'props' if property_only else 'cmp'}")
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
            extra = ("--reference", "target") if property_only else ()
            done[key] = {**run_many(chapter, targets, workdir, *extra), **stale}
        return done[key]

    return run


def failed_tests(run: SuiteRun) -> list[str]:
    assert run.returncode in (0, 1), f"pytest exited with {run.returncode}:\n{run.output}"
    return sorted(node for node, outcome in run.outcomes().items() if outcome in ("failed", "error"))


@pytest.mark.slow
@pytest.mark.parametrize("case", all_mutations())
def test_mutation_is_caught(case: tuple[str, Mutation], suite_on_mutants: Callable) -> None:
    chapter, mutation = case
    run = suite_on_mutants(chapter)[mutation.id]
    if isinstance(run, str):
        pytest.fail(run, pytrace=False)
    assert failed_tests(run), (f"no graded test catches mutation {mutation.id} (step {mutation.step}: "
                               f"{mutation.why}); add a test that fails for it.\n{run.output}")


@pytest.mark.slow
@pytest.mark.parametrize("chapter", chapter_params())
def test_property_checks_alone_catch_the_listed_mistakes(chapter: str, suite_on_mutants: Callable) -> None:
    """Graded as if each mistake were in solutions/ (no reference to compare with), most are still caught."""
    runs = suite_on_mutants(chapter, property_only=True)
    missed = [m for m in mutations(chapter) or [] if isinstance(runs[m.id], str) or not failed_tests(runs[m.id])]
    n = len(runs)
    figure = f"caught {n - len(missed)} of {n} ({(n - len(missed)) / max(n, 1):.0%}) by property checks alone"
    PROPERTY_FIGURES[chapter] = figure + (f"; missed: {', '.join(m.id for m in missed)}" if missed else "")
    assert n and (n - len(missed)) / n >= PROPERTY_FLOOR, (
        f"{chapter}: the graded suite with --reference target (a bug in solutions/ graded against itself) "
        f"{figure}, under the floor of {PROPERTY_FLOOR:.0%}. Add checks that hold for every correct answer "
        f"(values by hand, identities, invariances) for the steps of: "
        + ", ".join(f"{m.id} ({m.step})" for m in missed))
