"""Shared HTTP plumbing for the public code-set APIs (NPPES, NLM Clinical Tables).

One small JSON ``GET`` client with timeouts and retries, so both code-set clients fail the
same way:

- HTTP 429 and 5xx answers, connection errors and timeouts are retried with exponential
  backoff (``backoff_seconds * 2**attempt``, capped at ``max_backoff_seconds``); a
  ``Retry-After`` header (seconds or an HTTP date) is honoured when it asks for longer,
  up to ``max_retry_after_seconds``.
- Other 4xx answers are not retried: they raise :class:`ApiError` at once.
- When the retries run out, :class:`RetriesExhaustedError` names the URL, the last status
  or network error and the number of attempts.
- A body that is not JSON raises :class:`MalformedResponseError`; callers validate the shape
  and raise the same error for wrong shapes through :meth:`JsonHttpClient.malformed`.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "rcm-warehouse-ingestion/0.1 (+https://github.com/; code-set loader)"

ParamValue = str | int | float
Params = Mapping[str, ParamValue]


class CodesetHttpError(RuntimeError):
    """Base class for every failure of a code-set API call."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class ApiError(CodesetHttpError):
    """The API refused the request (a 4xx answer, or an error payload such as NPPES ``Errors``)."""


class MalformedResponseError(CodesetHttpError):
    """The API answered, but not in the documented shape (not JSON, missing or wrong fields)."""


class RetriesExhaustedError(CodesetHttpError):
    """Every attempt failed with a retryable status, a timeout or a connection error."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before trying a request again."""

    max_retries: int = 4
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_retry_after_seconds: float = 120.0
    retry_statuses: frozenset[int] = field(default=RETRY_STATUSES)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        if self.backoff_seconds < 0:
            raise ValueError("backoff_seconds must be 0 or more")

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        backoff = min(self.backoff_seconds * (2.0**attempt), self.max_backoff_seconds)
        asked = parse_retry_after(retry_after)
        if asked is None:
            return backoff
        return max(backoff, min(asked, self.max_retry_after_seconds))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def _snippet(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


class JsonHttpClient:
    """``GET`` JSON with a pooled session, a timeout and the retry policy."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.session.headers["Accept"] = "application/json"
        self._sleep = sleep

    def close(self) -> None:
        self.session.close()

    @staticmethod
    def full_url(url: str, params: Params | None) -> str:
        """The URL with its query string, as it is sent (for error messages)."""
        prepared = requests.Request("GET", url, params=dict(params or {})).prepare()
        return prepared.url or url

    def malformed(self, url: str, what: str, status: int | None = 200) -> MalformedResponseError:
        """An error for a response that is not in the documented shape."""
        return MalformedResponseError(
            f"malformed response from {url} (HTTP {status}): {what}", url=url, status=status
        )

    def get_json(self, url: str, params: Params | None = None) -> object:
        """``GET url?params`` and return the decoded JSON body, retrying transient failures."""
        shown = self.full_url(url, params)
        attempts = self.retry.max_retries + 1
        last_problem = "no attempt made"
        last_status: int | None = None
        for attempt in range(attempts):
            retry_after: str | None = None
            try:
                response = self.session.get(url, params=params, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                last_status = None
            else:
                status = response.status_code
                if status in self.retry.retry_statuses:
                    last_status = status
                    last_problem = f"HTTP {status} {response.reason}: {_snippet(response.text)}"
                    retry_after = response.headers.get("Retry-After")
                elif 400 <= status < 600:
                    raise ApiError(
                        f"{shown} answered HTTP {status} {response.reason}: "
                        f"{_snippet(response.text)}",
                        url=shown,
                        status=status,
                    )
                else:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise self.malformed(
                            shown,
                            f"the body is not JSON ({exc}); it starts with "
                            f"{_snippet(response.text, 80)!r}",
                            status,
                        ) from exc
            if attempt + 1 < attempts:
                wait = self.retry.delay(attempt, retry_after)
                log.warning(
                    "%s failed (%s); retry %d of %d in %.2fs",
                    shown,
                    last_problem,
                    attempt + 1,
                    self.retry.max_retries,
                    wait,
                )
                self._sleep(wait)
        raise RetriesExhaustedError(
            f"giving up on {shown} after {attempts} attempt(s); last problem: {last_problem}",
            url=shown,
            status=last_status,
        )
