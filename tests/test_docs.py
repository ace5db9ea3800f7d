"""README.md and docs/*.md: links and images resolve, the README stays short, pages name no issue numbers and no paths
outside the repository, and every `syndiag` command line they quote names existing commands and options."""

import re
import shlex
from pathlib import Path

import pytest
import typer

from syndiag.cli import app

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 220

FENCE = re.compile(r"^```.*?^```", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*)$", re.M)
ISSUE_NUMBER = re.compile(r"\bissues?\s*#?\s*\d+", re.I)
INVOCATION = re.compile(r"(?:^|[\s/])syndiag\s+(.+)$")


def prose(text: str) -> str:
    """The page without its fenced code blocks and inline code spans."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    words = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower())
    return words.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(h) for h in HEADING.findall(FENCE.sub("", page.read_text()))}


def link_problems(page: Path) -> list[str]:
    problems = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading #{anchor}")
    return problems


def command_lines(text: str) -> list[str]:
    """Every `syndiag ...` invocation in the page's shell blocks, continuation lines joined, chains split; a command
    named by a shell variable (`syndiag $stage`) is left out."""
    lines = []
    for block in FENCE.findall(text):
        if not block.startswith(("```bash", "```sh")):
            continue
        joined = re.sub(r"\s*\\\n\s*", " ", block)
        for line in joined.splitlines()[1:-1]:
            code = line.split(" #")[0]
            for part in re.split(r"&&|;|\|\|", code):
                found = INVOCATION.search(part.strip())
                if found and not found.group(1).startswith("$"):
                    lines.append(found.group(1))
    return lines


def command_problem(arguments: str) -> str | None:
    """What in one quoted invocation the CLI does not have, or None."""
    command = typer.main.get_command(app)
    tokens = shlex.split(arguments, posix=True)
    while tokens and hasattr(command, "commands") and tokens[0] in command.commands:
        command = command.commands[tokens.pop(0)]
    if hasattr(command, "commands"):
        return f"syndiag {arguments}: no command {tokens[:1]}"
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}
    unknown = [t.split("=")[0] for t in tokens if t.startswith("-") and t.split("=")[0] not in known]
    return f"syndiag {arguments}: unknown options {unknown}" if unknown else None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_image_resolves(page):
    assert link_problems(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_issue_numbers_or_paths_outside_the_repository(page):
    text = page.read_text()
    assert ISSUE_NUMBER.findall(text) == []
    assert "../shared" not in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_quoted_commands_exist(page):
    problems = [p for line in command_lines(page.read_text()) if (p := command_problem(line))]
    assert problems == []


def test_readme_is_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= README_MAX_LINES


def test_the_checks_catch_what_they_should(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[a](missing.md) [b](#title) [c](#nowhere) ![d](img.png) `[e](ignored.md)`\n")
    assert link_problems(page) == ["missing.md: no such file", "#nowhere: no heading #nowhere", "img.png: no such file"]
    assert command_problem("finetune -c syndiag/cpu --shots 1") is None
    assert command_problem("finetune --shot 1") == "syndiag finetune --shot 1: unknown options ['--shot']"
    assert command_problem("sensor align") == "syndiag sensor align: no command ['align']"
    assert ISSUE_NUMBER.findall("see issue 18 and (Issue #7)") == ["issue 18", "Issue #7"]
    shell = "```bash\nsyndiag data prepare \\\n  --json && .venv/bin/syndiag head keys  # syndiag x\nsyndiag $s\n```\n"
    assert command_lines(shell + "```\nsyndiag tree\n```\n") == ["data prepare --json", "head keys"]
