"""Classic mistakes of each chapter, as small patches of its solution (CONTRIBUTING.md).

`tests/mutations/paperN_x.py` lists `MUTATIONS = [Mutation(...), ...]`. `tests/test_mutations.py` applies each
one to a copy of `solutions/paperN_x/`, runs the chapter's graded suite on it, and expects at least one
graded test to fail; the guide's "Common mistakes" box of the chapter names every mutation by its id.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    id: str  # short kebab-case name, e.g. "kl-no-tolerance"; the guide's "Common mistakes" box uses it
    step: str  # the step it breaks, e.g. "1.3"
    file: str  # path inside the chapter package, e.g. "vae.py"
    find: str  # text of the solution file, which must occur exactly once
    replace: str  # what a student might write instead
    why: str  # one sentence: the misconception it models

    def apply(self, source: str) -> str:
        """The patched source; ValueError if `find` does not occur exactly once (the mutation is stale)."""
        count = source.count(self.find)
        if count != 1:
            raise ValueError(f"mutation {self.id!r} is stale: its `find` text occurs {count} times in "
                             f"{self.file} (it must occur exactly once); update it to the current solution.")
        return source.replace(self.find, self.replace)
