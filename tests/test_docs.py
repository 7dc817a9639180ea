"""The documentation site: ``mkdocs build --strict`` passes, the generated references match the code, broken
links and anchors fail the build, and the troubleshooting guide quotes only codes and messages tubesum has."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tubesum import errors

pytest.importorskip(
    "mkdocs", reason="the docs group (mkdocs, mkdocs-material) is installed by scripts/bootstrap --test"
)

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "tubesum"


def build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(project / "mkdocs.yml"),
         "--site-dir", str(site)],
        capture_output=True, text=True, env=env, cwd=project, timeout=300, check=False,
    )  # fmt: skip


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", project / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    return project


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = build(ROOT, out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    return out


def test_every_setting_is_in_the_configuration_reference(site: Path) -> None:
    from tubesum.config import Settings

    page = (site / "reference" / "configuration" / "index.html").read_text()
    for name in Settings.model_fields:
        assert f"<code>{name}</code>" in page, name
    for env in ("TUBESUM_MODEL", "TUBESUM_DATABASE_URL", "HF_TOKEN", "OPENAI_API_KEY", "SENTRY_DSN"):
        assert f"<code>{env}</code>" in page, env


def test_every_command_is_in_the_cli_reference(site: Path) -> None:
    import click

    from tubesum.cli import cli

    page = (site / "reference" / "cli" / "index.html").read_text()
    for name, command in cli.commands.items():
        assert f"tubesum {name}</code>" in page, name
        for sub in getattr(command, "commands", {}) if isinstance(command, click.Group) else {}:
            assert f"tubesum {name} {sub}</code>" in page, (name, sub)
    assert "Usage: tubesum transcribe [OPTIONS] SOURCE..." in page


def test_api_reference_and_schema_match_the_app(site: Path) -> None:
    from tubesum.api.app import create_app
    from tubesum.config import Settings

    schema = create_app(Settings(_env_file=None), worker=False).openapi_schema.to_schema()  # type: ignore[call-arg]
    assert json.loads((site / "reference" / "openapi.json").read_text()) == json.loads(json.dumps(schema))
    page = (site / "reference" / "api" / "index.html").read_text()
    for path, operations in schema["paths"].items():
        assert f"<code>{path}</code>" in page
        for op in operations.values():
            assert f"<code>{op['operationId']}</code>" in page


def test_generated_pages_are_not_committed() -> None:
    assert not (ROOT / "docs" / "reference").exists()


def test_broken_links_and_anchors_fail_the_build(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    index = project / "docs" / "index.md"
    index.write_text(
        index.read_text() + "\n[gone](no-such-page.md) and [bad anchor](troubleshooting.md#no-such-section)\n"
    )
    result = build(project, tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr and "no-such-section" in result.stderr


def test_pages_from_other_branches_join_the_nav_once_they_exist(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    stubs = {
        "ui-browser.md": "# Browser UI\n",
        "ui-streamlit.md": "# Streamlit app\n\n## Streamlit Community Cloud\n",
        "ui-desktop.md": "# Desktop app\n",
        "performance.md": "# Performance\n",
        "scale-out.md": "# Scale-out\n",
    }
    for name, text in stubs.items():
        path = project / "docs" / name
        if not path.exists():  # after the merge they are real pages
            path.write_text(text)
    result = build(project, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "not merged yet" not in result.stderr
    page = (tmp_path / "site" / "deploy-streamlit-cloud" / "index.html").read_text()
    assert 'href="../ui-streamlit/#streamlit-community-cloud"' in page
    home = (tmp_path / "site" / "index.html").read_text()
    assert all(f'href="{name.removesuffix(".md")}/"' in home for name in stubs)  # in the nav


# -- the troubleshooting guide quotes real codes and messages -------------------------------------------------


def _pattern(node: ast.AST) -> tuple[str, int] | None:
    """A regex for a string literal or f-string (fields match anything) and how many literal characters it has."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value), len(node.value)
    if isinstance(node, ast.JoinedStr):
        parts = [p.value if isinstance(p, ast.Constant) else None for p in node.values]
        regex = "".join(re.escape(p) if isinstance(p, str) else "(.+?)" for p in parts)
        return regex, sum(len(p) for p in parts if isinstance(p, str))
    return None


@cache
def source_strings() -> tuple[re.Pattern[str], ...]:
    """Every string literal and f-string in src/tubesum with at least 12 literal characters, as a pattern."""
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            pattern = _pattern(node)
            if pattern and pattern[1] >= 12:
                found.add(pattern[0])
    return tuple(re.compile(p, re.S) for p in found)


def from_source(text: str) -> bool:
    return any(p.fullmatch(text) for p in source_strings())


def all_codes() -> set[str]:
    def walk(cls: type[errors.TubesumError]) -> set[str]:
        return {cls.code}.union(*(walk(sub) for sub in cls.__subclasses__()))

    return walk(errors.TubesumError)


def test_troubleshooting_quotes_only_real_codes_messages_and_hints() -> None:
    page = (ROOT / "docs" / "troubleshooting.md").read_text()
    codes = all_codes()
    passthrough = {c.code for c in errors.FetchError.__subclasses__()} | {errors.FetchError.code}
    http_codes = set(re.findall(r'"([a-z_]+)"', (SRC / "api" / "errors.py").read_text()))
    lines = page.splitlines()
    quoted = 0
    for i, line in enumerate(lines):
        for code, message in re.findall(r"Error \[([a-z_]+)\]: ([^`|]+?)(?:`|$)", line):
            quoted += 1
            assert code in codes, f"unknown code {code!r} in: {line}"
            if code not in passthrough:  # fetch errors carry yt-dlp's own message
                assert from_source(message.strip()), f"message not found in src: {message!r}"
            hint = lines[i + 1] if i + 1 < len(lines) else ""
            if hint.startswith("  ") and line.lstrip().startswith("Error ["):
                assert from_source(hint.strip()), f"hint not found in src: {hint.strip()!r}"
    assert quoted >= 15
    # every code in the exit-code table and the API table (rows that start with a number) exists
    rows = [line.split("|")[2] for line in lines if re.match(r"^\| \d", line)]
    table_codes = [code for cell in rows for code in re.findall(r"`([a-z_]+)`", cell)]
    assert len(table_codes) > 30
    for code in table_codes:
        assert code in codes | http_codes, code
