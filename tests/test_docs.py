"""The user documentation: the README's API session and the sessions of the pages in docs/
run as written, and every relative link in the README and docs/ points to a file of the
repository."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.slow
def test_readme_api_session_prints_what_it_shows():
    failures, tried = doctest.testfile(str(ROOT / "README.md"), module_relative=False,
                                       optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False,
                                       report=True)
    assert tried >= 20 and failures == 0


#: Pages of docs/ whose ``>>>`` sessions run as tests, with the least number of examples each.
SESSIONS = {"contour-finder.md": 20, "toys.md": 20}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SESSIONS))
def test_docs_sessions_print_what_they_show(name):
    failures, tried = doctest.testfile(str(ROOT / "docs" / name), module_relative=False,
                                       optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False,
                                       report=True)
    assert tried >= SESSIONS[name] and failures == 0


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    links = re.findall(r"\]\(([^)#\s]+)\)", page.read_text())
    local = [link for link in links if "://" not in link]
    assert [link for link in local if not (page.parent / link).exists()] == []
    assert "DESIGN" not in page.read_text()
