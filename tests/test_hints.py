"""Hints come in three tiers (DESIGN.md §4, CONTRIBUTING.md): the guide section `### N.k` ends its nudges with
the code-level hint folded away in `<details><summary>Code hint</summary> ... </details>`, and the TODO
comment in `solutions/` gives the step's contract and its guide section, never the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from common.templates import COMMENT, GUIDE, HEADING, TODO, _files, todo_ids
from tests.chapters import ROOT, chapter_params

SUMMARY = "<details><summary>Code hint</summary>"

# What makes a TODO comment read as code. Each entry: (pattern, why, in words). Prose and equations
# (`KL(post || prior)`, `under p = sigmoid(logits)`, `(L/denom - 1) / (L/denom)`, shapes like `(B, T, Z)`)
# pass; what a student could paste into the function fails.
CODE_SIGNS = [
    (re.compile(r"(?:^|;)\s*[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=(?!=)"),
     "a statement that assigns (`x = ...` at the start or after a `;`)"),
    (re.compile(r"\b[A-Za-z_]\w*=(?![=\s])"), "a keyword argument (`dim=-1`)"),
    (re.compile(r"\b(?:torch|F|nn|np|math)\.[A-Za-z_]"), "a library call (`torch.`, `F.`, `nn.`, `np.`, `math.`)"),
    (re.compile(r"\.[A-Za-z_]\w*\("), "a method call (`.chunk(`, `x.mean()`, `model.pi(`)"),
    (re.compile(r"\[[^\]]*:[^\]]*\]"), "a slice (`z[:, 1:]`)"),
    (re.compile(r"\b[A-Za-z_]\w*\([^()]*\b[A-Za-z_]\w*\("), "a call inside a call (`tanh(fc(x))`)"),
]

# Comments of the kind the rule forbids, from the repo's history (before the hints were rewritten):
# the check must flag every one of them.
OLD_COMMENTS = [
    "mean, raw = x.chunk(2, -1); std = softplus(raw) + min_std.",
    "x = elu(img_in([z, a])); h = gru(x, h_prev); y = elu(img_out(h)); mean, std = gaussian_stats(img_stats(y), "
    "self.min_std); z = sample_stoch(mean, std, sample).",
    "feed z[:, :-1] and actions[:, :-1]; score the output against z[:, 1:] with mdn_nll.",
    "a = tanh(fc(features)); column 0 (steer) stays in [-1, 1]; column 1 (gas) becomes (a + 1) / 2; column 2 "
    "(brake) is clipped to [0, 1]. Build a new tensor: no in-place edits.",
    "the closed-form KL summed over the last axis, .mean() over the rest, then torch.clamp(kl, min=free_nats) "
    "(or torch.maximum) for the loss. Clip the mean, not each step.",
    "softmax within each group of `group` numbers. View x as (..., L // group, group), F.softmax over the last "
    "axis (inside one group, not across groups), view it back as (..., L).",
    "gamma = clip((L/denom - 1) / (L/denom), low, high), as a Python float.",
    "elites, weights exp(temperature * (v - max v)) normalised, weighted mean and std. torch.topk picks the "
    "elites; average over the elite axis (dim 1); clamp the std.",
    "start = {k: v.detach().reshape(-1, v.shape[-1])}; loop `horizon` times; stack the features "
    "rssm.feat(state) along dim 1.",
    "move each target parameter a fraction tau toward its online twin. Walk both .parameters() together; "
    "Tensor.lerp_(other, tau) does exactly this step, in place.",
]
PROSE = [
    "the KL with free nats; see IMPLEMENTATION_GUIDE.md §2.6. kl is the closed-form KL(post || prior) summed "
    "over S, (B, T, S) -> scalar; floor the mean at free_nats, not each step.",
    "symlog; see IMPLEMENTATION_GUIDE.md §6.2. symlog(0) = 0; the sign is kept.",
    "the log-likelihood of the target under p = sigmoid(logits), finite for logits of any size.",
    "Out: a Python float, (L/denom - 1) / (L/denom) clipped to [low, high], in the order of its parameters().",
]


def code_signs(text: str) -> list[str]:
    """Why `text` reads as code: one phrase per kind of sign found (empty: it reads as a contract).

    A deliberately simple heuristic. A contract names inputs, outputs, shapes and what must hold, in words
    and equations; code has statements that assign (`mean, raw = ...` at the start of the comment or after
    a `;`; an equation inside a sentence, `under p = sigmoid(logits)`, is fine), keyword arguments
    (`dim=-1`), library calls (`torch.`, `F.`), method calls (`.chunk(`), slices (`[:, 1:]`) and calls
    nested in calls (`tanh(fc(x))`). Any one of these in a TODO comment counts as code. So write `mean and
    std, each (..., S)`, not `mean, std = ...`; and `the Q of the target heads`, not
    `model.Q(z, a, net="target")`.
    """
    found = []
    for pattern, why in CODE_SIGNS:
        if (m := pattern.search(text)) is not None:
            found.append(f"{why}: {m.group(0)!r}")
    return found


def todo_comments(path: Path) -> list[tuple[int, str, str]]:
    """(line, step, text) of each `# TODO(p.k):` comment of a file, its continuation lines joined as the
    template generator joins them (common/templates.py `find_regions`)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for i, line in enumerate(lines):
        if (m := TODO.match(line)) is None:
            continue
        text = [m.group(2)]
        for nxt in lines[i + 1:]:
            c = COMMENT.match(nxt)
            if not c or not c.group(1) or "SOLUTION" in c.group(1) or TODO.match(nxt):
                break
            text.append(c.group(1))
        found.append((i + 1, m.group(1), " ".join(text)))
    return found


def guide_bodies(text: str) -> dict[str, tuple[int, list[str]]]:
    """{step: (line of its heading, lines of the section)} of the `### p.k` sections of the guide; a section
    runs to the next heading of any level outside a code fence."""
    bodies: dict[str, tuple[int, list[str]]] = {}
    current: list[str] | None = None
    fenced = False
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6}\s", line):
            m = HEADING.match(line)
            current = None
            if m is not None and m.group(1) not in bodies:
                current = []
                bodies[m.group(1)] = (n, current)
            continue
        if current is not None:
            current.append(line)
    return bodies


def details_problem(lines: list[str]) -> str | None:
    """None if the section folds a code hint away as GitHub renders it, else what is wrong, in words."""
    starts = [i for i, line in enumerate(lines) if line.strip() == SUMMARY]
    if not starts:
        return f"has no `{SUMMARY}` line (the code-level hint, folded away)"
    i = starts[0]
    ends = [j for j in range(i + 1, len(lines)) if lines[j].strip() == "</details>"]
    if not ends:
        return "opens a code hint that no `</details>` line closes"
    j = ends[0]
    if j - i < 3 or lines[i + 1].strip() or lines[j - 1].strip():
        return "needs a blank line after the summary line and before `</details>`, or its markdown will not render"
    return None


def test_code_signs_flag_the_old_comments_and_pass_prose() -> None:
    for old in OLD_COMMENTS:
        assert code_signs(old), f"the heuristic misses an old, code-giving TODO comment: {old!r}"
    for text in PROSE:
        assert not code_signs(text), f"the heuristic flags a contract written in words: {text!r}: {code_signs(text)}"


@pytest.mark.parametrize("chapter", chapter_params())
def test_todo_comments_give_the_contract_not_the_code(chapter: str) -> None:
    folder = ROOT / "solutions" / chapter
    problems = []
    for rel in _files(folder, ("tests",)):
        if not rel.endswith(".py"):
            continue
        for line, step, text in todo_comments(folder / rel):
            where = f"solutions/{chapter}/{rel}:{line}"
            for sign in code_signs(text):
                problems.append(f"{where}: the TODO({step}) comment gives code away, {sign}; state the contract "
                                "in words and move the code to the guide's folded code hint.")
            if f"§{step}" not in text:
                problems.append(f"{where}: the TODO({step}) comment does not name its guide section "
                                f"(`see {GUIDE} §{step}`).")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("chapter", chapter_params())
def test_guide_sections_fold_a_code_hint_away(chapter: str) -> None:
    guide = ROOT / GUIDE
    bodies = guide_bodies(guide.read_text(encoding="utf-8")) if guide.is_file() else {}
    problems = []
    for step in todo_ids(ROOT, chapter):
        if step not in bodies:
            continue  # a missing section is test_templates' finding (`common.templates check`)
        line, lines = bodies[step]
        if (why := details_problem(lines)) is not None:
            problems.append(f"{GUIDE}:{line}: section §{step} {why}.")
    assert not problems, "\n".join(problems)
