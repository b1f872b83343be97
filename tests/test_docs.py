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


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of the page's headings: lower case, punctuation dropped, spaces to
    hyphens (headings inside code blocks are not headings)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    links = re.findall(r"\]\(([^)\s]+)\)", page.read_text())
    local = [link for link in links if "://" not in link]
    files = {link: page.parent / link.partition("#")[0] if link.partition("#")[0] else page
             for link in local}
    assert [link for link, path in files.items() if not path.exists()] == []
    broken = [link for link, path in files.items()
              if "#" in link and path.suffix == ".md"
              and link.partition("#")[2] not in _anchors(path)]
    assert broken == []
    assert "DESIGN" not in page.read_text()
