"""Solutions -> templates: one source of truth for every chapter (DESIGN.md §3).

A solution marks what the student writes:

    def symlog(x):
        # TODO(4.1): squash large magnitudes, keep the sign. (more hint lines may follow as comments)
        # BEGIN SOLUTION
        return torch.sign(x) * torch.log1p(x.abs())
        # END SOLUTION

and the template gets, at the indentation of `# BEGIN SOLUTION`, one line in place of the region:

        raise NotImplementedError("TODO(4.1): squash large magnitudes, keep the sign.")

Commands (from the repo root):

    python -m common.templates build                    # solutions/paperN_x/ -> paperN_x/ (all chapters)
    python -m common.templates build --out DIR --keep 1.1,1.2  # an assignment with steps 1.1, 1.2 solved
    python -m common.templates build --only 1.3,1.4     # blank only these steps, the rest stays solved
    python -m common.templates check                    # templates in sync, TODO ids = guide = tests

`build` overwrites `paperN_x/` (a student's work included): it is for authors and instructors. It copies
every file of the solution (`.py` files transformed, others byte for byte), never touches `paperN_x/tests/`,
and removes files the solution no longer has. Regions live inside function bodies, so templates import
cleanly and fail only when called; a region at module or class level is an error.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = "IMPLEMENTATION_GUIDE.md"
LINE_LENGTH = 110  # pyproject's ruff line-length: generated raise lines fit in it
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints", "runs"}  # never copied nor removed

PAPER = re.compile(r"^paper(\d+)_\w+$")
BEGIN = re.compile(r"^([ \t]*)# BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^([ \t]*)# END SOLUTION[ \t]*$")
TODO = re.compile(r"^[ \t]*# TODO\((\d+\.\d+)\):?[ \t]*(.*?)[ \t]*$")
COMMENT = re.compile(r"^[ \t]*#[ \t]?(.*?)[ \t]*$")
HEADING = re.compile(r"^###[ \t]+(\d+\.\d+)(?:[ \t]+(.*?))?[ \t#]*$")
MARK = re.compile(r"""mark\.todo\(\s*(['"])(\d+\.\d+)\1\s*\)""")
STUDENT_NOTE = ("if you are a student filling in TODOs this is expected — the repo's own checks use a "
                "freshly generated copy")


class TemplateError(Exception):
    """A solution that cannot become a template; the message names file:line (one problem a line)."""


@dataclass
class Region:
    step: str  # "1.3"
    hint: str  # the TODO comment, continuation lines joined
    begin: int  # 0-based index of the `# BEGIN SOLUTION` line
    end: int  # 0-based index of the `# END SOLUTION` line
    indent: str


def step_key(step: str) -> tuple[int, ...]:
    """'1.10' sorts after '1.9'."""
    return tuple(int(p) for p in step.split("."))


def paper_number(name: str) -> int | None:
    match = PAPER.match(name)
    return int(match.group(1)) if match else None


def solution_papers(root: Path) -> list[str]:
    """Names of the `solutions/paperN_*` packages, in paper order."""
    folder = root / "solutions"
    if not folder.is_dir():
        return []
    names = [p.name for p in folder.iterdir() if p.is_dir() and PAPER.match(p.name)]
    return sorted(names, key=lambda n: (paper_number(n), n))


# ---------------------------------------------------------------- one file


def find_regions(lines: list[str], name: str) -> list[Region]:
    """The solution regions of a file, each with the step and hint of the TODO comment before it."""
    regions, errors = [], []
    begin: int | None = None
    todo: tuple[str, str] | None = None  # (step, hint) of the nearest TODO since the last region
    owner: tuple[str, str] | None = None  # the TODO of the open region
    for i, line in enumerate(lines):
        text = line.rstrip("\r\n")
        if (m := TODO.match(text)) is not None:
            hint = [m.group(2)]
            for nxt in lines[i + 1:]:
                c = COMMENT.match(nxt.rstrip("\r\n"))
                if not c or not c.group(1) or "SOLUTION" in c.group(1) or TODO.match(nxt):
                    break
                hint.append(c.group(1))
            todo = (m.group(1), " ".join(hint))
        elif BEGIN.match(text):
            if begin is not None:
                errors.append(f"{name}:{i + 1}: `# BEGIN SOLUTION` inside the region opened at line "
                              f"{begin + 1}; regions cannot nest.")
                continue
            begin, owner = i, todo
        elif (m := END.match(text)) is not None:
            if begin is None:
                errors.append(f"{name}:{i + 1}: `# END SOLUTION` without a `# BEGIN SOLUTION` before it.")
                continue
            indent = BEGIN.match(lines[begin].rstrip("\r\n")).group(1)  # type: ignore[union-attr]
            if m.group(1) != indent:
                errors.append(f"{name}:{i + 1}: `# END SOLUTION` is not indented like its "
                              f"`# BEGIN SOLUTION` at line {begin + 1}.")
            if owner is None:
                errors.append(f"{name}:{begin + 1}: this solution region has no `# TODO(p.k): hint` comment "
                              "before it; the template's raise takes its step and hint from there.")
            else:
                regions.append(Region(owner[0], owner[1], begin, i, indent))
            begin, todo, owner = None, None, None
        elif text.lstrip().startswith("#") and re.search(r"(BEGIN|END)\s+SOLUTION", text):
            errors.append(f"{name}:{i + 1}: looks like a solution marker but is not exactly "
                          "`# BEGIN SOLUTION` or `# END SOLUTION` on a line of its own.")
    if begin is not None:
        errors.append(f"{name}:{begin + 1}: `# BEGIN SOLUTION` is never closed by `# END SOLUTION`.")
    if errors:
        raise TemplateError("\n".join(errors))
    return regions


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split at '\\n' only (as Python counts lines)."""
    return [line for line in re.split(r"(?<=\n)", text) if line]


def short_hint(hint: str, room: int = 100) -> str:
    """The hint's first sentence, cut at a word to fit in `room` characters."""
    hint = re.split(r"(?<=[.!?])\s+", hint.strip(), maxsplit=1)[0]
    if len(hint) > room:
        hint = hint[: room - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."
    return hint


def raise_line(region: Region, newline: str) -> str:
    head = f'{region.indent}raise NotImplementedError("TODO({region.step}): '
    room = max(30, min(100, LINE_LENGTH - len(head) - 2))
    hint = short_hint(region.hint, room).replace("\\", "\\\\").replace('"', '\\"')
    return f'{head}{hint}"){newline}'


def transform(text: str, name: str, blank: Callable[[str], bool]) -> str:
    """The template of one Python file: regions whose step `blank(step)` are replaced by a raise, the
    others are kept solved (marker lines removed). Raises TemplateError naming file:line."""
    lines = split_lines(text)
    regions = find_regions(lines, name)
    if not regions:
        return text
    _validate(lines, regions, name)
    out, i = [], 0
    for r in regions:
        out += lines[i:r.begin]
        if blank(r.step):
            out.append(raise_line(r, lines[r.begin][len(lines[r.begin].rstrip("\r\n")):] or "\n"))
        else:
            out += lines[r.begin + 1:r.end]
        i = r.end + 1
    return "".join(out + lines[i:])


def _validate(lines: list[str], regions: list[Region], name: str) -> None:
    """The fully blanked form must compile, with every raise inside a function body."""
    out, origin, i = [], {}, 0
    for r in regions:
        out += lines[i:r.begin]
        out.append(raise_line(r, "\n"))
        origin[len(out)] = r  # 1-based line number of this raise in the template
        i = r.end + 1
    out += lines[i:]
    try:
        tree = ast.parse("".join(out), filename=name)
    except SyntaxError as err:
        near = max((n for n in origin if n <= (err.lineno or 0)), default=None)
        where = f" (near the region at line {origin[near].begin + 1})" if near else ""
        raise TemplateError(f"{name}: its template is not valid Python{where}: {err.msg}, line {err.lineno} "
                            f"of the template: {(err.text or '').strip()!r}") from None
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    errors = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.lineno in origin:
            scope = parents.get(node)
            while scope is not None and not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                               ast.ClassDef, ast.Module)):
                scope = parents.get(scope)
            if not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
                level = "class-body" if isinstance(scope, ast.ClassDef) else "module"
                r = origin[node.lineno]
                errors.append(f"{name}:{r.begin + 1}: the region of TODO({r.step}) is at {level} level, so "
                              "its template would fail at import; put regions inside a function body.")
    if errors:
        raise TemplateError("\n".join(errors))


# ---------------------------------------------------------------- one chapter


def _files(folder: Path, top_skip: Iterable[str] = ()) -> list[str]:
    """Relative posix paths of the files under `folder`, skipping SKIP_DIRS (and `top_skip` at the top)."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts[0] in top_skip or SKIP_DIRS.intersection(rel.parts) or not path.is_file():
            continue
        if path.suffix == ".pyc":
            continue
        found.append(rel.as_posix())
    return found


def todo_ids(root: Path, paper: str) -> dict[str, str]:
    """{step: 'solutions/paper/file.py:line'} of every `# TODO(p.k)` comment in a solution."""
    ids: dict[str, str] = {}
    folder = root / "solutions" / paper
    for rel in _files(folder, ("tests",)):
        if rel.endswith(".py"):
            for n, line in enumerate((folder / rel).read_text(encoding="utf-8").splitlines(), 1):
                if (m := TODO.match(line)) is not None:
                    ids.setdefault(m.group(1), f"solutions/{paper}/{rel}:{n}")
    return ids


def render(root: Path, paper: str, blank: Callable[[str], bool] = lambda step: True) -> dict[str, bytes]:
    """{relative path: content} of the template of one chapter. Raises TemplateError (all problems)."""
    folder = root / "solutions" / paper
    files, errors = {}, []
    for rel in _files(folder, ("tests",)):
        data = (folder / rel).read_bytes()
        if rel.endswith(".py"):
            try:
                data = transform(data.decode("utf-8"), f"solutions/{paper}/{rel}", blank).encode("utf-8")
            except TemplateError as err:
                errors.append(str(err))
        files[rel] = data
    if errors:
        raise TemplateError("\n".join(errors))
    return files


def _committed(folder: Path) -> list[str]:
    """Files of a template folder that the generator owns (everything but tests/)."""
    return _files(folder, ("tests",)) if folder.is_dir() else []


def generate(root: Path | str, out: Path | str, papers: Iterable[str] | None = None,
             keep: Iterable[str] = (), only: Iterable[str] | None = None) -> list[str]:
    """Write the templates of `papers` (default: all) into `out/paperN_x/`; return what changed.

    keep: steps left solved; only: if given, the only steps blanked. Raises TemplateError."""
    root, out = Path(root), Path(out)
    known = solution_papers(root)
    chosen = known if papers is None else [_paper_name(p, known) for p in papers]
    keep, only = set(keep), None if only is None else set(only)
    ids = {step for p in chosen for step in todo_ids(root, p)}
    unknown = sorted((keep | (only or set())) - ids, key=step_key)
    if unknown:
        raise TemplateError(f"no TODO({', '.join(unknown)}) in {', '.join(chosen) or 'the solutions'}; "
                            f"its steps are {', '.join(sorted(ids, key=step_key)) or 'none'}.")
    blank = lambda step: step not in keep and (only is None or step in only)
    rendered = {p: render(root, p, blank) for p in chosen}  # all or nothing: render first, then write
    changes = []
    for paper, files in rendered.items():
        folder = out / paper
        for rel, data in files.items():
            path = folder / rel
            if not path.is_file() or path.read_bytes() != data:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                changes.append(f"wrote {paper}/{rel}")
        for rel in _committed(folder):
            if rel not in files:
                (folder / rel).unlink()
                changes.append(f"removed {paper}/{rel} (not in solutions/{paper})")
        for sub in sorted(folder.rglob("*"), reverse=True):  # empty folders left by removals
            if sub.is_dir() and not any(sub.iterdir()) and sub.relative_to(folder).parts[0] != "tests":
                sub.rmdir()
    return changes


def _paper_name(name: str, known: list[str]) -> str:
    """'paper1' or 'paper1_world_models' -> 'paper1_world_models'."""
    match = [p for p in known if p == name or p.startswith(name.rstrip("_") + "_")]
    if len(match) != 1:
        raise TemplateError(f"no chapter {name!r} in solutions/; "
                            f"the chapters are {', '.join(known) or 'none'}.")
    return match[0]


# ---------------------------------------------------------------- check


def guide_sections(path: Path) -> dict[str, str]:
    """{step: title} of the `### p.k Title` headings of the guide ({} if it does not exist)."""
    if not path.is_file():
        return {}
    sections = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if (m := HEADING.match(line)) is not None:
            sections.setdefault(m.group(1), (m.group(2) or "").strip(" —–-:"))
    return sections


def todo_marks(root: Path, paper: str) -> dict[str, str]:
    """{step: 'paper/tests/file.py:line'} of the `pytest.mark.todo("p.k")` marks of a graded suite."""
    marks: dict[str, str] = {}
    folder = root / paper / "tests"
    for path in sorted(folder.rglob("*.py")) if folder.is_dir() else []:
        text = path.read_text(encoding="utf-8")
        for m in MARK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            marks.setdefault(m.group(2), f"{path.relative_to(root).as_posix()}:{line}")
    return marks


def _around(line: str, col: int) -> str:
    """Up to 80 characters of `line` around column `col`."""
    start = max(0, col - 30)
    return ("..." if start else "") + line[start:start + 80]


def _first_difference(committed: bytes, generated: bytes) -> str:
    try:
        a, b = committed.decode("utf-8").splitlines(), generated.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return "(binary file)"
    for n, (x, y) in enumerate(zip(a, b, strict=False), 1):
        if x != y:
            col = next((i for i, (p, q) in enumerate(zip(x, y, strict=False)) if p != q), min(len(x), len(y)))
            return (f"first at line {n}, column {col + 1}: the file has {_around(x, col)!r} "
                    f"where the template has {_around(y, col)!r}")
    n = min(len(a), len(b)) + 1
    return f"first at line {n}: " + ("the file has extra lines" if len(a) > len(b) else "the file ends early")


NOT_GIT = "not a git checkout"  # what `committed_file` gives where git cannot say what HEAD holds


def committed_file(root: Path, rel: str) -> bytes | None | str:
    """The bytes of `root/rel` as git's HEAD has them; None if HEAD has no such file; NOT_GIT if `root` is
    not inside a git checkout (or git is not installed)."""
    import subprocess

    try:
        inside = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "-q", "HEAD"],
                                capture_output=True, timeout=30)
        if inside.returncode != 0:
            return NOT_GIT
        shown = subprocess.run(["git", "-C", str(root), "show", f"HEAD:./{rel}"], capture_output=True,
                               timeout=30)
    except (OSError, subprocess.SubprocessError):
        return NOT_GIT
    return shown.stdout if shown.returncode == 0 else None


def compare_template(name: str, working: bytes, generated: bytes, committed: bytes | None | str,
                     source: str) -> tuple[str, str] | None:
    """Tell a contributor's drift from a student's work in one template file.

    working: the file in the working tree; generated: what the generator makes of `source`; committed: the
    file at git's HEAD (None: not committed; NOT_GIT: unknown). Returns None when in sync,
    ("edit", why) when only the working tree differs and HEAD is in sync (a student filling in TODOs, not a
    defect), or ("drift", sentence) for a real problem. Without git, every difference is drift."""
    if working == generated:
        return None
    if isinstance(committed, bytes) and committed == generated:
        return ("edit", f"{name} differs from HEAD only in the working tree (HEAD's copy is in sync)")
    at_head = isinstance(committed, bytes)
    note = "" if at_head else f" ({STUDENT_NOTE})"
    return ("drift", f"{name} differs from the template generated from {source}"
                     f"{' in git HEAD too' if at_head else ''}, "
                     f"{_first_difference(committed if at_head else working, generated)}. "
                     f"Run `python -m common.templates build` after changing a solution{note}.")


def check_templates(root: Path, paper: str, edits: list[str] | None = None) -> list[str]:
    """`paperN_x/` == the template generated from `solutions/paperN_x/`.

    Where a working-tree file differs but git's HEAD has it in sync, the file is a student's work in
    progress, not a problem: it is appended to `edits` (if given) instead."""
    try:
        files = render(root, paper)
    except TemplateError as err:
        return str(err).splitlines()
    folder = root / paper
    if not any((folder / rel).is_file() for rel in files):
        return [f"{paper}/ has no templates yet: run `python -m common.templates build`."]
    problems = []
    for rel, data in files.items():
        path = folder / rel
        if not path.is_file():
            problems.append(f"{paper}/{rel} is missing: run `python -m common.templates build`.")
        elif (working := path.read_bytes()) != data:
            verdict = compare_template(f"{paper}/{rel}", working, data, committed_file(root, f"{paper}/{rel}"),
                                       f"solutions/{paper}/{rel}")
            if verdict is not None and verdict[0] == "edit":
                if edits is not None:
                    edits.append(f"{paper}/{rel}")
            elif verdict is not None:
                problems.append(verdict[1])
    for rel in _committed(folder):
        if rel not in files:
            problems.append(f"{paper}/{rel} is not in solutions/{paper}/: `python -m common.templates build` "
                            "removes it.")
    return problems


def check_steps(root: Path, paper: str) -> list[str]:
    """TODO ids in the solution == `### p.k` sections of the guide == `todo` marks of the graded suite."""
    n = paper_number(paper)
    ids, marks = todo_ids(root, paper), todo_marks(root, paper)
    if not ids and not marks:
        return []
    problems = [f"{where} has TODO({step}), but ids in {paper} start with {n}."
                for step, where in ids.items() if step_key(step)[0] != n]
    guide = root / GUIDE
    if not guide.is_file():
        problems.append(f"{GUIDE} does not exist yet: it needs a section `### p.k Title` for each of "
                        f"TODO({', '.join(sorted(ids, key=step_key))}).")
    else:
        sections = {s for s in guide_sections(guide) if step_key(s)[0] == n}
        headings = [m.group(1) for line in guide.read_text(encoding="utf-8").splitlines()
                    if (m := HEADING.match(line))]
        problems += [f"{GUIDE} has two sections `### {s}`." for s in sorted(sections, key=step_key)
                     if headings.count(s) > 1]
        problems += [f"TODO({s}) is in {ids[s]}, but {GUIDE} has no section `### {s} Title`."
                     for s in sorted(ids.keys() - sections, key=step_key)]
        problems += [f"{GUIDE} has section {s}, but no `# TODO({s})` exists in solutions/{paper}/."
                     for s in sorted(sections - ids.keys(), key=step_key)]
    problems += [f"TODO({s}) ({ids[s]}) has no graded test: mark one with @pytest.mark.todo(\"{s}\") in "
                 f"{paper}/tests/." for s in sorted(ids.keys() - marks.keys(), key=step_key)]
    problems += [f"{marks[s]} marks a test todo(\"{s}\"), but no `# TODO({s})` exists in solutions/{paper}/."
                 for s in sorted(marks.keys() - ids.keys(), key=step_key)]
    return problems


def check(root: Path | str = ROOT, edits: list[str] | None = None) -> list[str]:
    """Every problem with the templates and the step ids of the repo at `root`, as plain sentences.

    A template that differs from its solution only in the working tree, git's HEAD having it in sync, is a
    student's work, not a problem: its path goes to `edits` (if given). CI checks a clean clone, where the
    working tree is HEAD, so drift still fails there. Outside a git checkout every difference is a problem."""
    root = Path(root)
    problems = []
    for paper in solution_papers(root):
        problems += check_templates(root, paper, edits) + check_steps(root, paper)
    return problems


def edits_note(edits: list[str]) -> str:
    """One line that says why the working tree's templates were not compared."""
    shown = ", ".join(edits[:3]) + (f" and {len(edits) - 3} more" if len(edits) > 3 else "")
    return (f"{len(edits)} template file(s) differ from the generator only in the working tree ({shown}); "
            "git's HEAD has them in sync, so this is a student's work in progress, not drift.")


# ---------------------------------------------------------------- command line


def _ids(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.templates", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="generate paperN_x/ templates from solutions/paperN_x/")
    build.add_argument("--out", type=Path, default=None, help="write DIR/paperN_x/ (default: the repo root)")
    build.add_argument("--papers", help="comma-separated chapters, e.g. paper1_world_models (default: all)")
    build.add_argument("--keep", help="comma-separated steps left solved, e.g. 1.1,1.2")
    build.add_argument("--only", help="comma-separated steps to blank; every other step stays solved")
    chk = sub.add_parser("check", help="templates in sync; TODO ids, guide sections and graded tests match")
    for p in (build, chk):
        p.add_argument("--root", type=Path, default=ROOT, help="the repo (default: this checkout)")
    args = parser.parse_args(argv)
    if args.command == "check":
        edits: list[str] = []
        problems = check(args.root, edits)
        if edits:
            print(f"note: {edits_note(edits)}")
        for line in problems:
            print(f"- {line}")
        print(f"templates check: {len(problems)} problem(s)." if problems else
              "templates check: OK (templates in sync; TODO ids, guide sections and graded tests match).")
        return 1 if problems else 0
    try:
        changes = generate(args.root, args.out or args.root, _ids(args.papers), _ids(args.keep) or (),
                           _ids(args.only))
    except TemplateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\n".join(changes) if changes else "templates are up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
