"""A ChatBackend for any OpenAI-compatible ``/chat/completions`` endpoint (Ollama, vLLM, llama.cpp, OpenAI).

Requests are plain synchronous httpx POSTs. 429 (honouring ``Retry-After`` seconds, capped), 5xx, connection
errors and timeouts are retried with exponential backoff; any other 4xx fails at once. Every failure becomes a
one-line ``SummaryBackendError``. The API key goes into the Authorization header only: it is never logged and
is scrubbed from any text of the endpoint's that ends up in an error message.

Usage::

    backend = OpenAIChatBackend.from_settings(settings)
    reply = backend.complete([ChatMessage("user", "Hello")], max_tokens=50)
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

import httpx
from pydantic import SecretStr

from tubesum.config import Settings
from tubesum.errors import SummaryBackendError
from tubesum.summarize.base import ChatMessage

__all__ = ["OpenAIChatBackend", "estimate_tokens"]

logger = logging.getLogger(__name__)

_WIDE = re.compile(r"[\u1100-\u11ff\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504}) | frozenset(range(505, 600))


def estimate_tokens(text: str) -> int:
    """Return a cheap, upper-bound-ish token estimate: ``ceil(len(text) / 3.5)``.

    BPE tokenizers average about four characters a token on English, so dividing by 3.5 errs on the high
    side. CJK characters are about one token each, so each counts as 3.5 characters.
    """
    return math.ceil((len(text) + 2.5 * len(_WIDE.findall(text))) / 3.5)


class OpenAIChatBackend:
    """Chat completions from an OpenAI-compatible HTTP endpoint.

    **Parameters:**

    * **base_url** - the API root, e.g. ``http://127.0.0.1:11434/v1``; ``/chat/completions`` is added.
    * **model** - the model name the endpoint serves.
    * **api_key** *(optional)* - sent as ``Authorization: Bearer``; None or empty for local servers.
    * **timeout** - seconds per request (connect, read and write each).
    * **retries** - extra attempts after a retryable failure.
    * **context_tokens** *(optional)* - the model's context window (prompt + completion).
    * **transport** *(optional)* - an httpx transport (tests use ``httpx.MockTransport``).
    * **backoff** *(optional)* - first retry delay in seconds, doubled each retry.
    * **max_retry_after** *(optional)* - the longest ``Retry-After`` (and backoff) honoured, in seconds.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: SecretStr | None,
        timeout: float,
        retries: int,
        context_tokens: int = 8192,
        transport: httpx.BaseTransport | None = None,
        backoff: float = 1.0,
        max_retry_after: float = 30.0,
    ) -> None:
        self.model = model
        self.context_tokens = context_tokens
        self.retries = max(0, retries)
        self.timeout = timeout
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._shown_url = _redact_url(self._url)
        self._key = api_key.get_secret_value() if api_key is not None else ""
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), headers=headers, transport=transport)

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIChatBackend:
        """Build the backend from ``openai_*`` settings."""
        return cls(
            settings.openai_base_url,
            settings.openai_model,
            api_key=settings.openai_api_key,
            timeout=settings.openai_timeout,
            retries=settings.openai_retries,
        )

    def __repr__(self) -> str:
        return f"OpenAIChatBackend({self._shown_url!r}, {self.model!r})"

    def count_tokens(self, text: str) -> int:
        """Return ``estimate_tokens(text)``: the endpoint's tokenizer is unknown here."""
        return estimate_tokens(text)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int) -> str:
        """Return the assistant's reply to ``messages``, retrying transient failures.

        Raises SummaryBackendError when the endpoint fails for good or replies with no message.
        """
        payload = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": 0.2,
        }
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response = self._client.post(self._url, json=payload)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                problem = _describe(exc, self.timeout)
                if attempt == attempts:
                    raise self._error(f"{problem} ({attempts} attempts)", attempts=attempts) from None
                self._wait(attempt, problem, None)
                continue
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise self._error(f"request failed ({type(exc).__name__})", attempts=attempt) from None
            if response.status_code == 200:
                return self._content(response)
            problem = f"HTTP {response.status_code}{self._reason(response)}"
            if response.status_code not in _RETRY_STATUS:
                raise self._error(problem, status=response.status_code, attempts=attempt)
            if attempt == attempts:
                raise self._error(f"{problem} ({attempts} attempts)", status=response.status_code, attempts=attempts)
            self._wait(attempt, problem, _retry_after(response))
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, problem: str, retry_after: float | None) -> None:
        delay = retry_after if retry_after is not None else self.backoff * 2 ** (attempt - 1)
        delay = min(max(0.0, delay), self.max_retry_after)
        logger.warning(
            "Chat endpoint %s: %s; retry %d/%d in %.1fs", self._shown_url, problem, attempt, self.retries, delay
        )
        time.sleep(delay)

    def _content(self, response: httpx.Response) -> str:
        try:
            data: Any = response.json()
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise self._error("the reply is not a chat completion") from None
        if not isinstance(content, str):
            raise self._error("the reply has no message text")
        return content

    def _reason(self, response: httpx.Response) -> str:
        """Return ": <the endpoint's error message>" (short, one line, key scrubbed) or ""."""
        try:
            data: Any = response.json()
            error = data.get("error") if isinstance(data, dict) else None
            message = error.get("message") if isinstance(error, dict) else error
        except ValueError:
            message = None
        if not isinstance(message, str) or not message.strip():
            return ""
        return ": " + self._scrub(" ".join(message.split()))[:200]

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _error(self, problem: str, **details: Any) -> SummaryBackendError:
        """The error names no endpoint: it reaches API clients, who must not learn internal addresses.

        The operator finds the (redacted) endpoint in the log line written here.
        """
        logger.warning("chat endpoint %s (model %s) failed: %s", self._shown_url, self.model, self._scrub(problem))
        message = self._scrub(f"The summary endpoint (model {self.model}) failed: {problem}.")
        return SummaryBackendError(message, hint="The server's operator can see the endpoint in its log.", **details)


def _describe(exc: httpx.HTTPError, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    return f"connection failed ({type(exc).__name__})"


def _retry_after(response: httpx.Response) -> float | None:
    """Return the ``Retry-After`` delay in seconds (number or HTTP date), or None."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _redact_url(url: str) -> str:
    """Return ``url`` without user info or query (either may hold a secret)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        netloc = f"{host}:{parts.port}" if parts.port else host
    except ValueError:  # a malformed port: show the host only
        netloc = host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
