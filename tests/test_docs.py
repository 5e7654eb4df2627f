"""The README and the documentation site: the README's first screen, no issue numbers in the docs,
and the site as a reader sees it, built strictly and opened in headless Chromium.

The browser tests skip, saying what to install, where Playwright, Chromium or MkDocs is missing;
ESPCN_REQUIRE_BROWSER=1 (set by .ci/run) makes that a failure instead.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_or_skip

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONF = ROOT / "espcn_lightning" / "conf"
#: An issue reference: "issue 12", "Issue #12", "issue12".
ISSUE = re.compile(r"\bissue\s*#?\d+", re.IGNORECASE)
IMAGE = r"\S+\.(?:jpe?g|png|bmp|tiff?|webp)"
VIDEO = r"\S+\.(?:mp4|avi|mov|mkv|m4v)"
#: What the README's first 80 lines must show as commands, by what a reader wants to do.
FIRST_SCREEN = {
    "the smoke run": r"python -m espcn_lightning\.train\b.*\bexperiment=smoke\b",
    "an image upscale": rf"python -m espcn_lightning\.upscale\s+{IMAGE}\s+{IMAGE}",
    "a video upscale": rf"python -m espcn_lightning\.upscale\s+{VIDEO}\s+{VIDEO}",
    "the Python call": r"\bupscale_image\(",
    "TensorBoard": r"\btensorboard --logdir\b",
    "a sweep": r"python -m espcn_lightning\.train -m sweep=\w+",
    "its report": r"python -m espcn_lightning\.report\s+\S+",
    "the tests": r"^make test\b",
}


def code_lines(markdown: str) -> list[str]:
    """The lines inside fenced code blocks."""
    inside, lines = False, []
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line.strip())
    return lines


def config_groups() -> list[str]:
    """Every folder of conf/ that holds YAML files: the config groups, nested ones included."""
    folders = {path.parent for path in CONF.rglob("*.yaml") if path.parent != CONF}
    return sorted(folder.relative_to(CONF).as_posix() for folder in folders)


def test_the_readme_fits_in_200_lines_and_its_first_80_show_every_first_command():
    lines = README.read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; keep it to 200"
    commands = code_lines("\n".join(lines[:80]))
    missing = [
        what
        for what, pattern in FIRST_SCREEN.items()
        if not any(re.search(pattern, line) for line in commands)
    ]
    assert not missing, f"not a command in README.md's first 80 lines: {', '.join(missing)}"


def test_no_page_refers_to_issue_numbers():
    pages = [README, *sorted(DOCS.rglob("*.md"))]
    found = [
        f"{page.relative_to(ROOT)}:{number}: {match.group(0)}"
        for page in pages
        for number, line in enumerate(page.read_text().splitlines(), 1)
        for match in ISSUE.finditer(line)
    ]
    assert not found, "issue numbers belong in the changelog, not the docs:\n" + "\n".join(found)


def test_the_readme_links_only_files_that_exist():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert local, "README.md links no page"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README.md links files that do not exist: {missing}"


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory):
    """The documentation site, built strictly (any warning fails) into a temporary folder."""
    if importlib.util.find_spec("mkdocs") is None:
        require_or_skip("MkDocs is not installed: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"},
    )
    assert built.returncode == 0, built.stderr[-3000:]
    return out


@pytest.mark.browser
def test_the_start_page_shows_the_headline_table(browser, site):
    page = browser.new_page()
    page.goto((site / "index.html").as_uri())
    row = page.locator("article table tr", has=page.get_by_text("espcn_x3_relu_291", exact=True))
    cells = [text.strip() for text in row.first.locator("td").all_inner_texts()]
    assert cells[0] == "x3" and cells[2:] == ["32.96", "29.42", "28.54", "28.62"], cells
    headers = [text.strip() for text in page.locator("article table th").all_inner_texts()]
    assert headers[2:4] == ["Set5", "Set14"], headers
    page.close()


@pytest.mark.browser
def test_the_configuration_reference_has_a_section_for_every_config_group(browser, site):
    page = browser.new_page()
    page.goto((site / "configuration.html").as_uri())
    headings = {
        text.replace("¶", "").strip() for text in page.locator("article h2").all_inner_texts()
    }
    missing = [group for group in config_groups() if group not in headings]
    assert not missing, f"no section for {missing} in {sorted(headings)}"
    page.close()


@pytest.mark.browser
def test_the_command_reference_shows_each_commands_own_help(browser, site):
    page = browser.new_page()
    page.goto((site / "commands.html").as_uri())
    text = page.locator("article").inner_text()
    for command in ("upscale", "export", "report", "data"):
        assert f"usage: python -m espcn_lightning.{command}" in text, command
    page.close()
