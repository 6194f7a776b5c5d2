"""common.chapter: the script bootstrap and the one-sentence errors."""

from __future__ import annotations

import pytest

from common.chapter import ROOT, package_of


def test_package_of_names_the_chapter_package() -> None:
    assert package_of(str(ROOT / "paper2_dreamerv1" / "train.py")) == "paper2_dreamerv1"
    assert package_of(str(ROOT / "solutions" / "paper2_dreamerv1" / "train.py")) == "solutions.paper2_dreamerv1"


def test_package_of_a_file_in_another_checkout_is_one_sentence(tmp_path) -> None:
    with pytest.raises(SystemExit, match="pip install -e"):
        package_of(str(tmp_path / "paper2_dreamerv1" / "train.py"))
