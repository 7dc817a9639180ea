"""Text helpers the writers and the apps share: one-line text, clock formats, safe links, Markdown escaping.

Base layer: pure functions of strings and numbers (no records, no I/O). ``tubesum.outputs`` builds every
format from them; the Streamlit and desktop apps show timestamps and Markdown with the same ones.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse

__all__ = ["clean_text", "clock", "http_url", "md_escape", "timestamp"]

# Characters that can start markup inside a line: emphasis, code, links and images, raw HTML and autolinks,
# entities, headings' closing sequences, tables, strikethrough, math (GitHub) and the escape itself.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&$])")


def clean_text(text: str) -> str:
    """Return ``text`` on one line: runs of whitespace become one space; control characters go."""
    kept = "".join(" " if ch.isspace() else ch for ch in text if ch.isspace() or not _is_control(ch))
    return " ".join(kept.split())


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in {"Cc", "Cs"}


def clock(seconds: float | None, *, hours: bool = True) -> str:
    """Format seconds as ``hh:mm:ss`` (or ``mm:ss`` below an hour with ``hours=False``)."""
    h, rest = divmod(max(0, int(seconds or 0)), 3600)
    m, s = divmod(rest, 60)
    if hours:
        return f"{h:02d}:{m:02d}:{s:02d}"
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def timestamp(seconds: float) -> str:
    """Return a paragraph timestamp: ``mm:ss``, or ``h:mm:ss`` from the first hour on."""
    return clock(seconds, hours=False)


def http_url(url: str | None) -> str | None:
    """Return ``url`` when it is an absolute http(s) URL, else None (no ``javascript:`` links, ever)."""
    if not url:
        return None
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return urllib.parse.urlunsplit(parts)


def md_escape(text: str) -> str:
    """Escape ``text`` so Markdown shows it literally (it is also put on one line)."""
    return _MD_SPECIAL.sub(r"\\\1", clean_text(text))
