"""yt-dlp plumbing shared by :mod:`~tubesum.pipeline.fetch` and :mod:`~tubesum.pipeline.captions`.

* :func:`open_ydl` builds a ``YoutubeDL`` from :class:`~tubesum.config.Settings`: quiet, messages forwarded to
  the ``tubesum.fetch`` logger at debug level, timeouts/retries/cookies from settings, no postprocessors.
* With a ``url_guard`` (generic URLs), every request goes through :class:`GuardedUrllibRH`, the only request
  handler such a ``YoutubeDL`` has. It calls the guard (by default
  :func:`~tubesum.pipeline.ssrf.check_url`) on the URL of each request, on every redirect target before it is
  followed, and on each address the socket is about to connect to (``http://<ip>:<port>/``), so a name that
  resolves to a public address for the guard and to a private one for the connection (DNS rebinding) is
  refused too. Requests through a configured proxy skip only the last check: the proxy resolves the name.
* :func:`base_params` passes the JavaScript runtime for YouTube's player challenges by path
  (:mod:`~tubesum.pipeline.jsruntime`), the proxy (``TUBESUM_PROXY``) and the cookies (a file, or a browser's
  on the CLI). Credentials in URLs are scrubbed from every message yt-dlp logs or raises (:func:`scrub`).
* :func:`map_ytdlp_error` turns yt-dlp's exceptions into tubesum errors with stable codes.
"""

from __future__ import annotations

import functools
import http.client
import logging
import re
import socket
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import yt_dlp
from yt_dlp.cookies import CookieLoadError
from yt_dlp.networking._helper import _socket_connect, create_connection
from yt_dlp.networking._urllib import (
    HTTPHandler,
    ProxyHandler,
    RedirectHandler,
    UrllibRH,
    _create_http_connection,
)
from yt_dlp.networking.exceptions import HTTPError, RequestError, TransportError
from yt_dlp.utils import DownloadError, ExtractorError, GeoRestrictedError, UnsupportedError

from tubesum.config import Settings, parse_browser_cookies
from tubesum.errors import (
    AgeRestrictedError,
    ConfigError,
    FetchError,
    GeoBlockedError,
    LoginRequiredError,
    NetworkError,
    PrivateVideoError,
    RateLimitedError,
    TubesumError,
    UnsupportedMediaError,
    VideoUnavailableError,
)
from tubesum.pipeline.jsruntime import ydl_js_runtimes
from tubesum.pipeline.ssrf import check_url
from tubesum.records import Source

__all__ = [
    "GuardedUrllibRH",
    "UrlGuard",
    "clean_message",
    "default_url_guard",
    "map_ytdlp_error",
    "open_ydl",
    "scrub",
    "source_guard",
    "source_url",
]

UrlGuard = Callable[[str], None]
"""Raise a :class:`~tubesum.errors.TubesumError` (usually ``UnsafeUrlError``) to stop a request to a URL."""

YTDLP_LOGGER = logging.getLogger("tubesum.fetch")
COOKIES_HINT = (
    "Export your browser's YouTube cookies to a file and set TUBESUM_COOKIES_FILE to it "
    "(CLI: --cookies FILE or --cookies-from-browser BROWSER); from a cloud IP, also try TUBESUM_PROXY."
)
_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")
_MAX_MESSAGE = 200


def default_url_guard(settings: Settings) -> UrlGuard:
    """Return the SSRF guard for generic URLs: ``check_url`` with ``allow_private`` from settings."""
    return functools.partial(check_url, allow_private=settings.allow_private_addresses)


def source_guard(source: Source, *, settings: Settings, url_guard: UrlGuard | None) -> UrlGuard | None:
    """Return the guard for fetching ``source``: generic URLs always get one, YouTube only when given.

    Raises ``ValueError`` for local files, which are never fetched.
    """
    if source.kind == "file":
        raise ValueError("local files are not fetched; decode them directly")
    if source.kind == "url":
        return url_guard or default_url_guard(settings)
    return url_guard


def source_url(source: Source) -> str:
    """Return the URL yt-dlp should open for ``source``."""
    if source.url:
        return source.url
    if source.kind == "youtube" and source.video_id:
        return f"https://www.youtube.com/watch?v={source.video_id}"
    raise ValueError(f"source {source.original!r} has no URL")


# -- SSRF guard inside yt-dlp's networking layer ------------------------------------------------------------
class _RefusedRequest(RequestError):  # type: ignore[misc]
    """Raised inside yt-dlp when the guard refuses a URL; not a TransportError, so nothing retries it."""

    def __init__(self, error: TubesumError) -> None:
        super().__init__(msg=f"tubesum refused the request: {error.message}")
        self.error = error


class _GuardedRedirectHandler(RedirectHandler):  # type: ignore[misc]
    def __init__(self, check: UrlGuard) -> None:
        super().__init__()
        self._check = check

    def redirect_request(  # type: ignore[no-untyped-def]
        self, req, fp, code, msg, headers, newurl
    ):
        self._check(newurl)  # absolute already: urllib joined it with the request URL
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _GuardedHTTPHandler(HTTPHandler):  # type: ignore[misc]
    """yt-dlp's HTTP handler with a check of every address right before the socket connects to it."""

    def __init__(self, check: UrlGuard, context: Any = None, source_address: Any = None) -> None:
        super().__init__(context=context, source_address=source_address)
        self._check = check

    def http_open(self, req: urllib.request.Request) -> Any:
        return self._open(http.client.HTTPConnection, "http", req)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self._open(http.client.HTTPSConnection, "https", req, context=self._context)

    def _open(self, base: type, scheme: str, req: urllib.request.Request, **kwargs: Any) -> Any:
        proxied = bool(req.has_proxy() or req._tunnel_host or req.has_header("Ytdl-socks-proxy"))  # type: ignore[attr-defined]
        conn_class = self._make_conn_class(base, req)
        check = self._check

        def connect(ip_addr: Any, timeout: Any, source_address: Any) -> socket.socket:
            host, port = ip_addr[4][0], ip_addr[4][1]
            check(f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}/")
            return _socket_connect(ip_addr, timeout, source_address)  # type: ignore[no-any-return]

        def make_connection(*args: Any, **kw: Any) -> Any:
            conn = _create_http_connection(conn_class, self._source_address, *args, **kw)
            if not proxied and hasattr(conn, "_create_connection"):
                conn._create_connection = functools.partial(create_connection, _create_socket_func=connect)
            return conn

        return self.do_open(make_connection, req, **kwargs)


class GuardedUrllibRH(UrllibRH):  # type: ignore[misc]
    """yt-dlp's urllib request handler with every URL, redirect and connect address passed to ``check``.

    http, https and data URLs only (no ftp, no file). ``check`` raises a ``RequestError`` to refuse.
    """

    RH_NAME = "tubesum-guarded-urllib"
    _SUPPORTED_URL_SCHEMES = ("http", "https", "data")

    def __init__(self, *, check: UrlGuard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._url_check = check

    def _send(self, request: Any) -> Any:
        if not request.url.lower().startswith("data:"):
            self._url_check(request.url)
        return super()._send(request)

    def _create_instance(self, proxies: Any, cookiejar: Any, legacy_ssl_support: Any = None) -> Any:
        opener = urllib.request.OpenerDirector()
        handlers: list[urllib.request.BaseHandler] = [
            ProxyHandler(proxies),
            _GuardedHTTPHandler(
                self._url_check,
                context=self._make_sslcontext(legacy_ssl_support=legacy_ssl_support),
                source_address=self.source_address,
            ),
            urllib.request.HTTPCookieProcessor(cookiejar),
            urllib.request.DataHandler(),
            urllib.request.UnknownHandler(),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
            _GuardedRedirectHandler(self._url_check),
        ]
        for handler in handlers:
            opener.add_handler(handler)
        opener.addheaders = []
        return opener


class _YoutubeDL(yt_dlp.YoutubeDL):  # type: ignore[misc]
    """``YoutubeDL`` that remembers its log lines and, with a guard, routes every request through it."""

    def __init__(self, params: dict[str, Any], *, url_guard: UrlGuard | None) -> None:
        self.url_guard = url_guard
        self.refusal: TubesumError | None = None
        self.messages: deque[str] = deque(maxlen=50)
        super().__init__({**params, "logger": _Logger(self.messages)})

    def save_cookies(self) -> None:
        """Never write the cookies file back: it is the user's input, maybe read-only, maybe shared by jobs."""

    def build_request_director(self, handlers: Any, preferences: Any = None) -> Any:
        if self.url_guard is None:
            return super().build_request_director(handlers, preferences)
        return super().build_request_director([functools.partial(GuardedUrllibRH, check=self._check)])

    def _check(self, url: str) -> None:
        assert self.url_guard is not None
        try:
            self.url_guard(url)
        except TubesumError as exc:
            if self.refusal is None:
                self.refusal = exc
            raise _RefusedRequest(exc) from exc


class _Logger:
    """Forward yt-dlp's output to ``tubesum.fetch`` at debug level and keep the last lines."""

    def __init__(self, lines: deque[str]) -> None:
        self.lines = lines

    def _log(self, msg: str) -> None:
        msg = scrub(msg)
        if "cookie file entry" in msg:  # yt-dlp quotes the offending cookies line: never log cookie contents
            msg = "WARNING: skipping an invalid cookies file entry (contents not logged)"
        self.lines.append(msg)
        YTDLP_LOGGER.debug("%s", msg)

    debug = info = warning = error = _log


def scrub(text: str) -> str:
    """Return ``text`` with the user:password part of every URL in it replaced by ``***``."""
    return _USERINFO.sub("***@", text)


def base_params(settings: Settings) -> dict[str, Any]:
    """Return the yt-dlp options every tubesum ``YoutubeDL`` shares (no format, no output template)."""
    params: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "noplaylist": True,
        "color": {"stdout": "no_color", "stderr": "no_color"},
        "socket_timeout": settings.socket_timeout,
        "retries": settings.download_retries,
        "fragment_retries": settings.download_retries,
        "extractor_retries": settings.download_retries,
        "postprocessors": [],
        "updatetime": False,
        "js_runtimes": ydl_js_runtimes(settings.js_runtime),
    }
    if settings.proxy is not None:
        params["proxy"] = settings.proxy.get_secret_value()
    if settings.cookies_from_browser:
        params["cookiesfrombrowser"] = parse_browser_cookies(settings.cookies_from_browser)
    if settings.cookies_file is not None:
        if not settings.cookies_file.is_file():
            raise ConfigError(
                f"Cookies file not found: {settings.cookies_file}",
                hint="Fix or unset TUBESUM_COOKIES_FILE.",
                path=str(settings.cookies_file),
            )
        params["cookiefile"] = str(settings.cookies_file)
    return params


@contextmanager
def open_ydl(settings: Settings, *, url_guard: UrlGuard | None, extra: dict[str, Any] | None = None) -> Iterator[Any]:
    """Yield a configured ``YoutubeDL``; yt-dlp errors raised inside the block become tubesum errors.

    A request the guard refused is reported as the guard's own error (``UnsafeUrlError``, ...), however
    yt-dlp wrapped it.
    """
    ydl = _YoutubeDL({**base_params(settings), **(extra or {})}, url_guard=url_guard)
    try:
        with ydl:
            yield ydl
    except TubesumError:
        raise
    except Exception as exc:
        if ydl.refusal is not None:
            raise ydl.refusal from exc
        if not isinstance(exc, yt_dlp.utils.YoutubeDLError | OSError):
            raise
        raise map_ytdlp_error(exc) from exc


# -- error mapping ------------------------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_PREFIX = re.compile(r"^(?:ERROR:\s*)?(?:\[[\w:.-]+\]\s*(?:[\w.-]{1,64}:\s+)?)?")
_TAILS = re.compile(
    r"\s*(?:\(caused by .*|Use --cookies.*|Sign in if you've been granted.*|"
    r"please report this issue.*|; please report.*|You might want to use a VPN.*|See\s+https?://.*)$",
    re.IGNORECASE | re.DOTALL,
)

# (error class, pattern, hint); the first match wins, so the more specific patterns come first.
_RULES: tuple[tuple[type[TubesumError], str, str | None], ...] = (
    (PrivateVideoError, r"private video|video is private", None),
    (RateLimitedError, r"\b429\b|too many requests|rate.?limit", "Wait a while before trying again."),
    (AgeRestrictedError, r"confirm your age|age.?restricted|inappropriate for some users", COOKIES_HINT),
    (
        LoginRequiredError,
        r"not a bot|members[- ]only|channel's members|join this channel|login required|\blog in\b|sign in|"
        r"registered users|account authentication|cookies",
        COOKIES_HINT,
    ),
    (GeoBlockedError, r"in your country|from your location|geo.?restrict", None),
    (
        UnsupportedMediaError,
        r"unsupported url|no video formats|no formats found|requested format is not available|drm protected|"
        r"no media found|not a valid url",
        None,
    ),
    (
        VideoUnavailableError,
        r"video unavailable|not available|no longer available|has been removed|been terminated|does not exist|"
        r"\b404\b|\b410\b|not found",
        None,
    ),
    (
        NetworkError,
        r"name or service not known|temporary failure in name resolution|nodename nor servname|getaddrinfo|"
        r"name resolution|connection refused|connection reset|connection aborted|timed out|timeout|"
        r"network is unreachable|no route to host|\bssl\b|certificate|remote end closed|incomplete read|"
        r"bytes read",
        "Check your network connection and try again.",
    ),
)


def clean_message(text: str) -> str:
    """Return one short line from a yt-dlp message: no "ERROR:", "[youtube] ID:", ANSI codes or advice."""
    line = scrub(_ANSI.sub("", text)).strip()
    line = " ".join(line.split())
    line = _PREFIX.sub("", line, count=1)
    line = _TAILS.sub("", line).strip()
    if len(line) > _MAX_MESSAGE:
        line = line[: _MAX_MESSAGE - 3].rstrip() + "..."
    return line or "yt-dlp failed without a message."


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """Yield ``exc`` and what yt-dlp says caused it (``exc_info``, ``cause``, ``__cause__``), once each."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        exc_info = getattr(current, "exc_info", None)
        if isinstance(exc_info, tuple) and len(exc_info) > 1 and isinstance(exc_info[1], BaseException):
            todo.append(exc_info[1])
        for linked in (getattr(current, "cause", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                todo.append(linked)


def map_ytdlp_error(exc: BaseException) -> TubesumError:
    """Return the tubesum error for a yt-dlp exception (``DownloadError``, ``ExtractorError``, ...).

    Pure: looks at the exception types in the chain first (guard refusals, geo blocks, unsupported URLs, HTTP
    status, transport errors), then at the message text. Unknown failures become :class:`FetchError` with
    the message cleaned to one line.
    """
    chain = list(_causes(exc))
    for item in chain:
        if isinstance(item, TubesumError):
            return item
        if isinstance(item, _RefusedRequest):
            return item.error
        if isinstance(item, CookieLoadError):
            return ConfigError(
                f"Cannot load the cookies: {clean_message(str(exc))}",
                hint="Export cookies in Netscape cookies.txt format (or unset TUBESUM_COOKIES_FILE); for "
                "--cookies-from-browser, close the browser or name the right profile.",
            )
    text = " ".join(str(i) for i in chain if isinstance(i, DownloadError | ExtractorError)) or str(exc)
    message = clean_message(str(exc))
    details = {"detail": message}
    lowered = text.lower()
    for error_class, pattern, hint in _RULES:
        if error_class is not NetworkError and re.search(pattern, lowered):
            return _build(error_class, message, hint, details)
    for item in chain:
        if isinstance(item, GeoRestrictedError):
            return GeoBlockedError(message, **details)
        if isinstance(item, UnsupportedError):
            return UnsupportedMediaError(message, **details)
        if isinstance(item, HTTPError):
            return _from_status(item.status, message, details)
        if isinstance(item, TransportError | OSError):
            return NetworkError(message, hint="Check your network connection and try again.", **details)
    error_class, pattern, hint = _RULES[-1]
    if re.search(pattern, lowered):
        return _build(error_class, message, hint, details)
    return FetchError(message, **details)


def _from_status(status: int, message: str, details: dict[str, Any]) -> TubesumError:
    if status == 429:
        return RateLimitedError(message, hint="Wait a while before trying again.", **details)
    if status in (404, 410):
        return VideoUnavailableError(message, **details)
    if status >= 500:
        return NetworkError(message, hint="The server had a problem; try again later.", **details)
    return FetchError(message, **details)


def _build(error_class: type[TubesumError], message: str, hint: str | None, details: dict[str, Any]) -> TubesumError:
    return error_class(message, hint=hint, **details)
