"""The README a newcomer reads: what they need within its first 100 lines, and
no file cited — by a link or by name — that the repository does not hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_the_first_100_lines_hold_what_a_first_night_needs() -> None:
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:100])
    for needed in ("pipx install", "python3 -m venv", "CAPILLARY_USERNAME", "--base-url",
                   "## Choosing `--rate`", "bulkupdate validate", "bulkupdate run",
                   "results.jsonl", "bulkupdate report", "docs/rehearsal.md"):
        assert needed in head, needed
    assert "make demo" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_file_cited_is_in_the_repository(doc: Path) -> None:
    text = doc.read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    named = re.findall(r"`((?:[\w.-]+/)+[\w.-]+\.(?:md|py|toml))`", text)
    for target in links:
        if not target.startswith(("http://", "https://")):
            assert (doc.parent / target).exists(), f"{doc.name} links to {target}"
    for name in named:
        assert (ROOT / name).exists() or (ROOT / "tests" / name).exists(), \
            f"{doc.name} names {name}"
    assert "CONTRACT.md" not in text


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_anchor_linked_is_a_heading(doc: Path) -> None:
    for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", doc.read_text()):
        linked = doc.parent / target if target else doc
        headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.M)
        slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
        assert anchor in slugs, f"{doc.name} links to {target}#{anchor}"
