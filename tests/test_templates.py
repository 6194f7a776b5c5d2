"""The template generator (common/templates.py, DESIGN.md §3): the repo's templates are in sync with its
solutions, and the generator does what it promises on a throwaway chapter."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from common.templates import (
    LINE_LENGTH,
    NOT_GIT,
    STUDENT_NOTE,
    TemplateError,
    check,
    committed_file,
    compare_template,
    edits_note,
    generate,
    transform,
)
from tests.chapters import ROOT, chapter_params, has_region, params, solution_papers
from tests.demo import DATA, DEMO, LAYERS, MATHY, dedent, make_demo_repo

BLANK_ALL = lambda step: True  # noqa: E731


def without_markers(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if "SOLUTION" not in line)


def test_repo_templates_and_steps_check_out() -> None:
    """CI (a clean clone) fails on drift; a student's filled-in TODOs skip with one line that says why."""
    edits: list[str] = []
    problems = check(ROOT, edits)
    if committed_file(ROOT, "README.md") == NOT_GIT:  # a downloaded copy: git cannot say what is whose
        unsure = [p for p in problems if STUDENT_NOTE in p]
        problems = [p for p in problems if STUDENT_NOTE not in p]
        if unsure and not problems:
            pytest.skip(f"not a git checkout, so {len(unsure)} template file(s) that differ from the generator "
                        "cannot be told apart from a student's work; CI checks a git clone")
    assert not problems, "`python -m common.templates check` finds:\n" + "\n".join(problems)
    if edits:
        pytest.skip(edits_note(edits))


def test_compare_template_tells_drift_from_a_students_work() -> None:
    generated = b"def f():\n    raise NotImplementedError('TODO(9.1)')\n"
    student = b"def f():\n    return 2\n"
    assert compare_template("t.py", generated, generated, generated, "s.py") is None
    assert compare_template("t.py", student, generated, generated, "s.py")[0] == "edit"  # HEAD in sync
    kind, why = compare_template("t.py", student, generated, student, "s.py")  # drift committed to HEAD
    assert kind == "drift" and "in git HEAD too" in why and "first at line 2" in why
    kind, why = compare_template("t.py", generated + b"x = 1\n", generated, None, "s.py")  # not committed
    assert kind == "drift" and STUDENT_NOTE in why
    kind, why = compare_template("t.py", student, generated, NOT_GIT, "s.py")  # no git: cannot tell
    assert kind == "drift" and STUDENT_NOTE in why and "first at line 2" in why


def test_check_in_a_git_checkout_skips_a_students_edit_and_fails_on_drift(tmp_path: Path) -> None:
    root = make_demo_repo(tmp_path)
    git = lambda *args: subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t",
                                        *args], capture_output=True, text=True, timeout=60, check=True)
    try:
        git("init", "-q")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available here")
    assert committed_file(root, f"{DEMO}/mathy.py") == NOT_GIT  # no commit yet: nothing to compare with
    git("add", ".")
    git("commit", "-q", "-m", "demo")
    template = root / DEMO / "mathy.py"
    pristine = template.read_text()
    template.write_text(without_markers(MATHY))  # a student fills in TODO(9.1)
    edits: list[str] = []
    assert check(root, edits) == [] and edits == [f"{DEMO}/mathy.py"]
    assert f"{DEMO}/mathy.py" in edits_note(edits)
    git("commit", "-q", "-am", "a hand edit of a template, committed")  # a contributor's drift
    problems = check(root)
    assert any(f"{DEMO}/mathy.py differs" in p and "in git HEAD too" in p for p in problems), problems
    template.write_text(pristine)  # the contributor rebuilds: in sync, to be committed
    assert check(root) == []


@pytest.mark.parametrize("chapter", chapter_params())
def test_edited_template_fails_check(chapter: str, tmp_path: Path) -> None:
    """On a copy of the repo: pristine templates pass check, one edited line fails it."""
    skip = shutil.ignore_patterns("__pycache__", "runs")
    shutil.copytree(ROOT / "solutions" / chapter, tmp_path / "solutions" / chapter, ignore=skip)
    shutil.copytree(ROOT / chapter, tmp_path / chapter, ignore=skip)
    if (ROOT / "IMPLEMENTATION_GUIDE.md").is_file():
        shutil.copy(ROOT / "IMPLEMENTATION_GUIDE.md", tmp_path)
    generate(tmp_path, tmp_path, papers=[chapter])
    assert not [p for p in check(tmp_path) if "differs" in p or "missing" in p]
    path = next(p for p in sorted((tmp_path / chapter).rglob("*.py"))
                if "raise NotImplementedError" in p.read_text())
    lines = path.read_text().splitlines(keepends=True)
    n = next(i for i, line in enumerate(lines) if "raise NotImplementedError" in line)
    lines[n] = lines[n].replace("raise NotImplementedError", "return None  # my attempt #")
    path.write_text("".join(lines))
    rel = path.relative_to(tmp_path).as_posix()
    found = [p for p in check(tmp_path) if rel in p]
    assert found and f"first at line {n + 1}" in found[0] and STUDENT_NOTE in found[0], check(tmp_path)


def test_check_reports_edited_missing_and_stale_files(tmp_path: Path) -> None:
    root = make_demo_repo(tmp_path)
    assert check(root) == []
    (root / DEMO / "mathy.py").write_text(without_markers(MATHY))
    (root / DEMO / "layers.py").unlink()
    (root / DEMO / "notes.py").write_text("x = 1\n")
    problems = "\n".join(check(root))
    assert f"{DEMO}/mathy.py differs" in problems and "first at line 9" in problems
    assert STUDENT_NOTE in problems
    assert f"{DEMO}/layers.py is missing" in problems
    assert f"{DEMO}/notes.py is not in solutions/{DEMO}/" in problems
    changes = generate(root, root)
    assert f"removed {DEMO}/notes.py (not in solutions/{DEMO})" in changes
    assert check(root) == [] and (root / DEMO / "tests" / "test_demo.py").is_file()  # tests/ untouched


def test_keep_and_only(tmp_path: Path) -> None:
    root = make_demo_repo(tmp_path, templates=False)
    (root / "solutions" / DEMO / "__pycache__").mkdir()
    (root / "solutions" / DEMO / "__pycache__" / "mathy.cpython-311.pyc").write_bytes(b"\0")
    before = {p: p.read_bytes() for p in (root / "solutions").rglob("*.py")}

    out = tmp_path / "keep"
    generate(root, out, keep=["9.1"])
    assert (out / DEMO / "mathy.py").read_text() == without_markers(MATHY)  # solved, marker lines gone
    assert 'raise NotImplementedError("TODO(9.2): ' in (out / DEMO / "layers.py").read_text()
    assert (out / DEMO / "data.bin").read_bytes() == DATA
    assert not (out / DEMO / "__pycache__").exists() and not (out / DEMO / "tests").exists()

    out = tmp_path / "only"
    generate(root, out, only=["9.1"])
    raise_line = 'raise NotImplementedError("TODO(9.1): multiply every entry by two.")'
    assert raise_line in (out / DEMO / "mathy.py").read_text()
    assert (out / DEMO / "layers.py").read_text() == without_markers(LAYERS)

    with pytest.raises(TemplateError, match=r"no TODO\(9\.7\).*9\.1, 9\.2"):
        generate(root, out, keep=["9.7"])
    assert {p: p.read_bytes() for p in (root / "solutions").rglob("*.py")} == before  # solutions keep markers


def test_raise_line_keeps_indentation_and_first_sentence() -> None:
    source = dedent('''
        class Net:
            def f(self, flag):
                if flag:
                    # TODO(9.1): say "hi" with a \\ backslash. A second sentence
                    # that the raise leaves out.
                    # BEGIN SOLUTION
                    return "hi"
                    # END SOLUTION
                return None
        ''')
    template = transform(source, "f.py", BLANK_ALL)
    line = next(x for x in template.splitlines() if "raise NotImplementedError" in x)
    assert line.startswith(" " * 12 + "raise NotImplementedError(") and len(line) <= LINE_LENGTH
    scope: dict = {}
    exec(compile(template, "f.py", "exec"), scope)
    with pytest.raises(NotImplementedError) as err:
        scope["Net"]().f(True)
    assert str(err.value) == 'TODO(9.1): say "hi" with a \\ backslash.'
    assert scope["Net"]().f(False) is None  # the code around the region is untouched


F = "def f():\n    # TODO(9.1): x.\n"  # a function and its TODO comment
REGION = "    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n"


def test_long_hint_fits_in_a_line() -> None:
    source = f"def f():\n    # TODO(9.1): {'word ' * 60}\n{REGION}"
    line = transform(source, "f.py", BLANK_ALL).splitlines()[2]
    assert len(line) <= LINE_LENGTH and line.endswith('...")')


BAD = {
    "module-level": ("# TODO(9.1): x.\n# BEGIN SOLUTION\nX = 1\n# END SOLUTION\n",
                     ["f.py:2", "module level"]),
    "class-body": ("class A:\n    # TODO(9.1): x.\n    # BEGIN SOLUTION\n    x = 1\n    # END SOLUTION\n",
                   ["f.py:3", "class-body level"]),
    "no-todo": ("def f():\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n",
                ["f.py:2", "no `# TODO(p.k)"]),
    "end-alone": (F + "    # END SOLUTION\n", ["f.py:3", "without a `# BEGIN"]),
    "never-closed": (F + "    # BEGIN SOLUTION\n    pass\n", ["f.py:3", "never closed"]),
    "nested": (F + "    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n",
               ["f.py:4", "cannot nest"]),
    "typo": (F + "    # BEGIN SOLUTION:\n    pass\n    # END SOLUTION\n",
             ["f.py:3", "looks like a solution marker"]),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_regions_are_errors_naming_file_and_line(name: str) -> None:
    source, expected = BAD[name]
    with pytest.raises(TemplateError) as err:
        transform(source, "f.py", BLANK_ALL)
    for text in expected:
        assert text in str(err.value)


def test_todo_ids_guide_and_tests_must_match(tmp_path: Path) -> None:
    root = make_demo_repo(tmp_path)
    guide, tests = root / "IMPLEMENTATION_GUIDE.md", root / DEMO / "tests" / "test_demo.py"
    guide.write_text(guide.read_text().replace("### 9.2 Affine layer", "### 9.3 Affine layer"))
    tests.write_text(tests.read_text().replace('todo("9.2")', 'todo("9.4")'))
    problems = "\n".join(check(root))
    assert "IMPLEMENTATION_GUIDE.md has no section `### 9.2 Title`" in problems
    assert "IMPLEMENTATION_GUIDE.md has section 9.3, but no `# TODO(9.3)`" in problems
    assert 'TODO(9.2) (solutions/paper9_demo/layers.py:15) has no graded test' in problems
    assert 'marks a test todo("9.4"), but no `# TODO(9.4)`' in problems
    guide.unlink()
    assert any("IMPLEMENTATION_GUIDE.md does not exist yet" in p for p in check(root))


def test_command_line(tmp_path: Path) -> None:
    root = make_demo_repo(tmp_path / "repo")
    run = lambda *args: subprocess.run([sys.executable, "-m", "common.templates", *args, "--root", str(root)],
                                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    ok = run("check")
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr
    built = run("build", "--out", str(tmp_path / "out"), "--keep", "9.1,9.2")
    assert built.returncode == 0 and f"wrote {DEMO}/mathy.py" in built.stdout, built.stdout + built.stderr
    assert "raise" not in (tmp_path / "out" / DEMO / "layers.py").read_text()
    (root / DEMO / "mathy.py").write_text("x = 1\n")
    bad = run("check")
    assert bad.returncode == 1 and "mathy.py differs" in bad.stdout and STUDENT_NOTE in bad.stdout


IMPORT_ALL = """
import sys
from pathlib import Path
from common.grading import target, use_target
folder, chapter = Path(sys.argv[1]), sys.argv[2]
use_target(str(folder))
for path in sorted((folder / chapter).rglob("*.py")):
    parts = path.relative_to(folder).with_suffix("").parts
    target(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
print("imported", chapter)
"""


@pytest.mark.slow
@pytest.mark.parametrize("chapter", params(*[[p for p in solution_papers(ROOT) if has_region(p)]] * 2))
def test_templates_import_cleanly(chapter: str, tmp_path: Path) -> None:
    """Every module of a freshly generated template imports (it fails when called, never when imported)."""
    generate(ROOT, tmp_path, papers=[chapter])
    proc = subprocess.run([sys.executable, "-c", IMPORT_ALL, str(tmp_path), chapter], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"a template of {chapter} does not import:\n{proc.stdout}\n{proc.stderr}"
