"""mkdocs hook: pages other branches add — left out of the nav and unlinked until they exist.

The nav in mkdocs.yml already lists them, so nothing changes there once they are merged. While one is missing,
its nav entry is dropped and links to it become plain text, so ``mkdocs build --strict`` stays meaningful for
every other page. When all of them exist, empty ``PENDING`` (and this hook may go).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig

PENDING = frozenset({"ui-browser.md", "ui-streamlit.md", "ui-desktop.md", "performance.md", "scale-out.md"})
log = logging.getLogger("mkdocs.hooks.pending")


def _missing(config: MkDocsConfig) -> set[str]:
    return {name for name in PENDING if not (Path(config.docs_dir) / name).exists()}


def _prune(items: list[Any], missing: set[str]) -> list[Any]:
    kept: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            ((title, target),) = item.items()
            if isinstance(target, list):
                target = _prune(target, missing)
                if not target:
                    continue
            elif target in missing:
                continue
            kept.append({title: target})
        elif item not in missing:
            kept.append(item)
    return kept


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    missing = _missing(config)
    if missing and config.nav:
        log.info("not merged yet, left out of the nav: %s", ", ".join(sorted(missing)))
        config.nav = _prune(config.nav, missing)
    return config


def on_page_markdown(markdown: str, page: Any, config: MkDocsConfig, files: Any) -> str:
    for name in _missing(config):
        markdown = re.sub(rf"\[([^\]]+)\]\({re.escape(name)}(#[^)]*)?\)", rf"\1 (`docs/{name}`)", markdown)
    return markdown
