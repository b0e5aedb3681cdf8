"""The README and docs/: every relative link lands (the file exists, a ``#anchor`` names one of
its headings as GitHub makes them), the README stays a landing page, and neither cites this
project's own issue numbers (a reader outside it cannot follow them; another project's, written
``owner/repo#123``, is a link anyone can follow)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_MAX_LINES = 260

# [text](target) and ![alt](target); the target ends at a space (a title) or the bracket.
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"`[^`\n]*`")
# "issue 14", "issues 15-17", "issue #24", "pull request 3", "PR 7", "(#24)": this project's
# own. Not "apache/airflow#12008", nor a mutant's number as `--list` prints it ("#3, #179").
_ISSUE = re.compile(
    r"(?<![\w/.-])(?:issues?|pull requests?|PRs?)\s+#?\d+|(?<![\w/.-])\(#\d+\)",
    re.IGNORECASE,
)


def documents() -> list[Path]:
    return [ROOT / "README.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str) -> list[tuple[int, str]]:
    """The lines of Markdown outside fenced code blocks, numbered from 1."""
    found, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            found.append((number, line))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation other than ``-`` and ``_``
    dropped, each space a ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose(path.read_text()):
        match = _HEADING.match(line)
        if match is None or line.startswith("    "):
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path) -> list[str]:
    """What is wrong with each relative link of a Markdown file, as ``line: target: why``."""
    problems = []
    for number, line in prose(path.read_text()):
        if line.startswith("    "):  # an indented code block
            continue
        for target in _LINK.findall(_CODE_SPAN.sub("", line)):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            dest = (path.parent / file).resolve() if file else path
            where = f"{path.relative_to(ROOT)}:{number}: {target}"
            if not dest.exists():
                problems.append(f"{where}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{where}: {dest.name} has no heading #{anchor}")
    return problems


def issue_numbers(path: Path) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{number}: {match.group(0)}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in _ISSUE.finditer(line)
    ]


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_lands(path: Path) -> None:
    assert broken_links(path) == []


def test_the_readme_is_a_landing_page() -> None:
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move detail to docs/"


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_internal_issue_number_is_cited(path: Path) -> None:
    assert issue_numbers(path) == []


def test_the_readme_links_every_doc() -> None:
    readme = (ROOT / "README.md").read_text()
    for doc in sorted((ROOT / "docs").glob("*.md")):
        assert f"](docs/{doc.name}" in readme, f"README.md does not link docs/{doc.name}"


# -- the checks themselves ----------------------------------------------------------------


def test_slugs_are_github_s() -> None:
    assert slug("Check a setup: doctor") == "check-a-setup-doctor"
    assert slug("Optional extras: Google's and Amazon's libraries") == (
        "optional-extras-googles-and-amazons-libraries"
    )
    assert slug("Human-in-the-loop: tasks waiting (Airflow 3.1+)") == (
        "human-in-the-loop-tasks-waiting-airflow-31"
    )
    assert slug("3a. HTTP hosting: `web`, or a Procfile") == "3a-http-hosting-web-or-a-procfile"


def test_a_missing_file_a_missing_anchor_and_a_repeated_heading_are_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# B\n## Twice\n## Twice\n```\n# not a heading\n```\n")
    page = tmp_path / "a.md"
    page.write_text(
        "[ok](docs/b.md#twice-1) [ok](#a) [web](https://example.com/x.md#y) `[code](nope.md)`\n"
        "# A\n[gone](docs/c.md) [no](docs/b.md#twice-2) [no](docs/b.md#not-a-heading)\n"
    )
    assert broken_links(page) == [
        "a.md:3: docs/c.md: no such file",
        "a.md:3: docs/b.md#twice-2: b.md has no heading #twice-2",
        "a.md:3: docs/b.md#not-a-heading: b.md has no heading #not-a-heading",
    ]


def test_internal_issue_numbers_are_told_and_other_projects_are_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    page = tmp_path / "a.md"
    page.write_text(
        "before issue 19 was merged; issues 15-17; see issue #24. Fixed (#24).\n"
        "apache/airflow#12008, apache/airflow#72716), mutants #3, #179 (line 32, #1); tissue 3\n"
    )
    assert [p.split(": ", 1)[1] for p in issue_numbers(page)] == [
        "issue 19",
        "issues 15",
        "issue #24",
        "(#24)",
    ]
