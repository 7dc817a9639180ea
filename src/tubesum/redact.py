"""Masking secrets for display: settings, URLs with credentials, secret-looking query parameters.

One generic rule, so a new setting is masked without anyone remembering to: **any string value that is a URL
with a password in its user info, or with a secret-looking query parameter, is shown with those parts
masked**; ``SecretStr`` values are masked whole. Usage::

    mask_url("postgresql://tubesum:hunter2@db/tubesum")   # 'postgresql://tubesum:**********@db/tubesum'
    mask_url("https://h/v1?api_key=abc&x=1")              # 'https://h/v1?api_key=**********&x=1'
    masked_settings(settings)                               # JSON-ready dict for `tubesum config show`
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["MASK", "SERVER_PATH", "mask_url", "mask_value", "masked_settings", "scrub_paths"]

MASK = "**********"
"""What a secret is shown as (pydantic's ``SecretStr`` shows the same)."""

SERVER_PATH = "<server path>"
"""What a server-side path is shown as in messages meant for remote callers."""

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SECRET_PARAM = re.compile(
    r"(pass(word|wd)?|pwd|secret|token|key|auth|credential|signature|sig|session|cookie|jwt|bearer)",
    re.IGNORECASE,
)


def mask_url(url: str) -> str:
    """Return ``url`` with the password of its user info and every secret-looking query value masked.

    The user name stays (it identifies the account, it does not open it); a user info without ``:`` that is
    not followed by a password (``https://<token>@host``) is masked whole, since tokens are often passed so.
    Text that is not a ``scheme://`` URL comes back unchanged.
    """
    if not _URL.match(url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK  # malformed: show nothing rather than a secret
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        netloc = f"{user}:{MASK}@{hostport}" if colon else f"{MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_PARAM.search(name) for name, _ in pairs):
            query = urlencode(
                [(name, MASK if _SECRET_PARAM.search(name) else value) for name, value in pairs], safe="*"
            )
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing secret: exactly as given (urlunsplit would rewrite sqlite:////abs paths)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_value(value: Any) -> Any:
    """Mask one setting's value: ``SecretStr`` whole, URLs by :func:`mask_url`, containers item by item."""
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, str):
        return mask_url(value)
    if isinstance(value, list | tuple):
        return [mask_value(item) for item in value]
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    return value


def masked_settings(settings: BaseModel) -> dict[str, Any]:
    """Return ``settings`` as a JSON-ready dict with every secret masked (the rule in the module docstring)."""
    return {name: mask_value(value) for name, value in settings.model_dump(mode="json").items()}


def scrub_paths(text: str, roots: Iterable[Path | str | None]) -> str:
    """Replace every path under one of ``roots`` in ``text`` (to the next space or quote) by :data:`SERVER_PATH`.

    For messages that leave the server (a failed job's error): the data, work, model and temp directories and
    the home directory are the server's business. Longer roots are replaced first.
    """
    prefixes = sorted({str(r).rstrip("/") for r in roots if r and str(r).rstrip("/")}, key=len, reverse=True)
    for prefix in prefixes:
        text = re.sub(re.escape(prefix) + r"(?=[/\s'\"),.;:]|$)(?:/[^\s'\"]*)?", SERVER_PATH, text)
    return text
