"""README stays one page and true: every docs page reachable, every make target named exists."""

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]
PAGES = sorted((REPO / "docs").glob("*.md"))


def documents() -> list[Path]:
    return [REPO / "README.md", *PAGES]


def make_targets() -> set[str]:
    """Every target the Makefile (and what it includes) defines, from make's own database."""
    out = subprocess.run(["make", "-pRrq", "-C", str(REPO)], capture_output=True, text=True).stdout
    return {m[1] for m in re.finditer(r"^([a-zA-Z][\w-]*):", out, re.M)}


def test_readme_is_one_short_page():
    assert len((REPO / "README.md").read_text().splitlines()) <= 250


def test_every_docs_page_is_linked_from_the_readme():
    readme = (REPO / "README.md").read_text()
    assert [page.name for page in PAGES if f"docs/{page.name}" not in readme] == []


def test_every_relative_link_in_the_docs_points_at_a_file():
    broken = []
    for page in documents():
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"[a-z]+://", target) and not (page.parent / target).exists():
                broken.append(f"{page.name}: {target}")
    assert broken == []


def test_every_make_target_the_docs_name_exists():
    targets = make_targets()
    named = set()
    for page in documents():
        named |= {m[1] for m in re.finditer(r"`make ([a-z][\w-]*)", page.read_text())}
        # The README's stage table lists targets bare, each in backticks, in its second column.
        if page.name == "README.md":
            table = page.read_text().split("## Make targets")[1].split("## Documentation")[0]
            for row in re.findall(r"^\|[^|]*\|([^|]*)\|", table, re.M):
                named |= set(re.findall(r"`([a-z][\w-]*)", row))
    assert named, "the docs name make targets"
    assert sorted(named - targets) == []


def test_every_make_help_line_belongs_to_a_group():
    out = subprocess.run(["make", "-s", "-C", str(REPO), "help"], capture_output=True,
                         text=True, check=True).stdout
    assert re.search(r"^\S.*:$", out, re.M), "make help prints group headings"
    assert "make demo" in out and "make test" in out
