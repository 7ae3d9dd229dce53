"""`rcm alerts`: list the warehouse's alerts and post the new ones to a chat webhook.

The alerts themselves are computed in dbt (``marts.alerts``); this module only reads them
(read-only) and delivers them. ``--post`` sends one Teams/Slack-style JSON message per batch
(``text`` summary plus the ``alerts`` list) to the URL in ``RCM_ALERT_WEBHOOK_URL``. The ids of
alerts that a webhook accepted are kept in a small JSON state file next to the warehouse
(written atomically), so an alert is never posted twice; a failed post marks nothing as sent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import duckdb
import requests

from ingestion import build_state, console

WEBHOOK_ENV = "RCM_ALERT_WEBHOOK_URL"
WAREHOUSE_ENV = "RCM_WAREHOUSE_PATH"
DEFAULT_WAREHOUSE = Path("warehouse") / "rcm.duckdb"
STATE_FILE_NAME = "alerts_posted.json"
ALERT_TYPES = (
    "claim_denied_recently",
    "claim_unpaid_over_90_days",
    "ar_over_90_above_threshold",
    "payer_denial_rate_jump",
)
SEVERITIES = ("high", "medium", "low")
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_BATCH_SIZE = 50
ALERT_COLUMNS = (
    "alert_id",
    "alert_type",
    "severity",
    "source_system",
    "subject",
    "detail",
    "amount",
    "as_of_date",
)


class AlertsError(RuntimeError):
    """A problem a person can fix; the message says what to do."""


@dataclass(frozen=True)
class Alert:
    """One row of ``marts.alerts``."""

    alert_id: str
    alert_type: str
    severity: str
    source_system: str
    subject: str
    detail: str
    amount: Decimal | None
    as_of_date: dt.date | None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["amount"] = None if self.amount is None else str(self.amount)
        data["as_of_date"] = None if self.as_of_date is None else self.as_of_date.isoformat()
        return data


def default_warehouse() -> Path:
    return Path(os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE)


def add_warehouse_argument(parser: argparse.ArgumentParser) -> None:
    """The read-only commands' `--warehouse` option (`rcm alerts`, `rcm export`)."""
    parser.add_argument(
        "--warehouse",
        type=Path,
        default=None,
        help=f"DuckDB file (default: ${WAREHOUSE_ENV}, else {DEFAULT_WAREHOUSE.as_posix()})",
    )


def default_state_file(warehouse: Path) -> Path:
    return warehouse.parent / STATE_FILE_NAME


def _check_hospitals(
    con: duckdb.DuckDBPyConnection, hospitals: Sequence[str], warehouse: Path
) -> None:
    """A --hospital the warehouse does not know is an error, not a quiet "0 alerts"."""
    try:
        known = {
            row[0]
            for row in con.execute(
                "select distinct source_system from marts.dim_department"
                " where source_system <> 'unknown'"
            ).fetchall()
        }
    except duckdb.CatalogException as exc:
        raise AlertsError(
            f"marts.dim_department (the warehouse's hospitals, for --hospital) not found in "
            f"{warehouse}: run `rcm build` (or `make demo`) to build it"
        ) from exc
    unknown = sorted(set(hospitals) - known)
    if unknown:
        raise AlertsError(
            f"unknown hospital {', '.join(unknown)}: the warehouse has "
            f"{', '.join(sorted(known)) or 'no hospital'}"
        )


def read_alerts(
    warehouse: Path,
    *,
    alert_types: Sequence[str] = (),
    hospitals: Sequence[str] = (),
    limit: int | None = None,
) -> list[Alert]:
    """Alerts from ``marts.alerts`` (read-only), most severe and most recent first."""
    alerts, _ = read_alerts_and_total(
        warehouse, alert_types=alert_types, hospitals=hospitals, limit=limit
    )
    return alerts


def read_alerts_and_total(
    warehouse: Path,
    *,
    alert_types: Sequence[str] = (),
    hospitals: Sequence[str] = (),
    limit: int | None = None,
) -> tuple[list[Alert], int]:
    """``read_alerts``, and how many alerts match the filters before ``limit`` cuts them
    (counted in the same query, so both come from one state of the warehouse)."""
    if not warehouse.is_file():
        raise AlertsError(
            f"warehouse {warehouse} not found"
            + (" (it is a folder: name the .duckdb file in it)" if warehouse.is_dir() else "")
            + f": build it first (`make demo` or `rcm run`), or point --warehouse or "
            f"{WAREHOUSE_ENV} at it"
        )
    where: list[str] = []
    params: list[object] = []
    if alert_types:
        where.append("alert_type in (select unnest(?))")
        params.append(list(alert_types))
    if hospitals:
        where.append("source_system in (select unnest(?))")
        params.append(list(hospitals))
    sql = (
        f"select {', '.join(ALERT_COLUMNS)}, count(*) over () as matching from marts.alerts"
        + (f" where {' and '.join(where)}" if where else "")
        + " order by case severity when 'high' then 0 when 'medium' then 1 else 2 end,"
        " as_of_date desc nulls last, amount desc nulls last, alert_id"
    )
    if limit is not None:
        sql += f" limit {int(limit)}"
    wrong = build_state.not_a_warehouse(warehouse)
    if wrong is not None:
        raise AlertsError(f"{wrong}; point --warehouse or {WAREHOUSE_ENV} at the warehouse")
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        raise AlertsError(
            f"cannot open warehouse {warehouse} read-only ({exc}); "
            "if a build is running, wait for it to finish"
        ) from exc
    try:
        if hospitals:
            _check_hospitals(con, hospitals, warehouse)
        rows = con.execute(sql, params).fetchall()
    except duckdb.CatalogException as exc:
        raise AlertsError(
            f"marts.alerts not found in {warehouse}: run `rcm build` (or `make demo`) to build it"
        ) from exc
    finally:
        con.close()
    # a limit of at least 1 (the command checks it) leaves a row whenever any alert matches
    total = int(rows[0][8]) if rows else 0
    alerts = [
        Alert(
            alert_id=str(r[0]),
            alert_type=str(r[1]),
            severity=str(r[2]),
            source_system=str(r[3]),
            subject=str(r[4] or ""),
            detail=str(r[5] or ""),
            amount=None if r[6] is None else Decimal(r[6]),
            as_of_date=r[7],
        )
        for r in rows
    ]
    return alerts, total


def count_line(shown: int, total: int, warehouse: Path) -> str:
    """The last line of the list: how many alerts it shows, and of how many when --limit left
    some out (the filters' matches, not only the shown ones)."""
    if shown < total:
        return f"showing {shown} of {total} alert(s) in {warehouse} (--limit {shown})"
    return f"{total} alert(s) in {warehouse}"


def format_alerts(alerts: Sequence[Alert]) -> str:
    rows = [
        (
            a.severity,
            a.alert_type,
            a.source_system,
            a.subject,
            None if a.amount is None else float(a.amount),
            "" if a.as_of_date is None else a.as_of_date.isoformat(),
            a.detail,
        )
        for a in alerts
    ]
    headers = ("severity", "type", "hospital", "subject", "amount", "as of", "detail")
    return console.format_table(headers, rows)


# --- delivery state -------------------------------------------------------------------------


def load_posted(state_file: Path) -> dict[str, str]:
    """alert_id -> when it was posted (ISO timestamp); empty when nothing was posted yet."""
    if not state_file.exists():
        return {}
    try:
        data = json.loads(state_file.read_text(encoding="utf-8"))
        posted = data["posted"]
        if not isinstance(posted, dict):
            raise TypeError("'posted' is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise AlertsError(
            f"alert state file {state_file} is unreadable ({exc}); fix or remove it "
            "(removing it means every current alert is posted again)"
        ) from exc
    return {str(k): str(v) for k, v in posted.items()}


def save_posted(state_file: Path, posted: dict[str, str]) -> None:
    """Write the state atomically: a temporary file in the same folder, fsynced, renamed."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"version": 1, "posted": dict(sorted(posted.items()))}, indent=1)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{state_file.name}.", dir=state_file.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(state_file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- webhook --------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """The URL without credentials, query string or fragment (webhook secrets live there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    query = "?<redacted>" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")) + query


def _scrub(text: str, url: str) -> str:
    parts = urlsplit(url)
    secrets = [url, parts.query, parts.password or "", parts.username or ""]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text


def build_payload(alerts: Sequence[Alert], caveat: str | None = None) -> dict[str, Any]:
    """Teams/Slack-style message: a one-line ``text`` summary plus the alert list; ``caveat``
    (the last build did not end OK) follows the summary line."""
    by_severity = {s: sum(1 for a in alerts if a.severity == s) for s in SEVERITIES}
    counts = ", ".join(f"{n} {s}" for s, n in by_severity.items() if n)
    hospitals = sorted({a.source_system for a in alerts})
    lines = [
        f"RCM warehouse: {len(alerts)} new alert{'s' if len(alerts) != 1 else ''}"
        f" ({counts}) for {', '.join(hospitals)}"
    ]
    if caveat:
        lines.append(f"Note: {caveat}")
    lines.extend(f"- [{a.severity}] {a.source_system}: {a.subject}" for a in alerts[:10])
    if len(alerts) > 10:
        lines.append(f"- ... and {len(alerts) - 10} more")
    return {"text": "\n".join(lines), "alerts": [a.as_json() for a in alerts]}


def post_batch(
    url: str, alerts: Sequence[Alert], timeout: float, caveat: str | None = None
) -> None:
    """POST one message; raise :class:`AlertsError` (naming the redacted URL) on any failure."""
    shown = redact_url(url)
    try:
        response = requests.post(url, json=build_payload(alerts, caveat), timeout=timeout)
    except requests.Timeout as exc:
        raise AlertsError(f"webhook {shown} did not answer within {timeout:g} s") from exc
    except requests.RequestException as exc:
        reason = _scrub(str(exc), url)
        raise AlertsError(f"webhook {shown} unreachable: {type(exc).__name__}: {reason}") from exc
    if not 200 <= response.status_code < 300:
        body = _scrub(response.text[:200].strip(), url)
        raise AlertsError(
            f"webhook {shown} answered HTTP {response.status_code}" + (f": {body}" if body else "")
        )


@dataclass(frozen=True)
class PostResult:
    posted: int
    already_posted: int


def post_new_alerts(
    alerts: Sequence[Alert],
    *,
    url: str,
    state_file: Path,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    caveat: str | None = None,
) -> PostResult:
    """Post the alerts not posted before, in batches; record each batch once it is accepted.

    Raises :class:`AlertsError` at the first failed batch; the batches before it stay recorded.
    """
    posted = load_posted(state_file)
    new = [a for a in alerts if a.alert_id not in posted]
    already = len(alerts) - len(new)
    sent = 0
    for start in range(0, len(new), batch_size):
        batch = new[start : start + batch_size]
        try:
            post_batch(url, batch, timeout, caveat)
        except AlertsError as exc:
            unsent = len(new) - sent
            raise AlertsError(f"{exc}; {unsent} alert(s) left unsent, retry later") from exc
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        posted.update({a.alert_id: now for a in batch})
        save_posted(state_file, posted)
        sent += len(batch)
    return PostResult(posted=sent, already_posted=already)


# --- command line ---------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "alerts",
        help="list the warehouse's alerts; --post sends the new ones to a webhook",
        description=(
            "List marts.alerts (read-only). With --post, send the alerts not posted before as "
            f"JSON to the webhook URL in ${WEBHOOK_ENV} (Teams/Slack incoming webhook). "
            f"Env: {WAREHOUSE_ENV}, {WEBHOOK_ENV}."
        ),
    )
    add_warehouse_argument(parser)
    parser.add_argument(
        "--type",
        dest="types",
        action="append",
        choices=ALERT_TYPES,
        default=[],
        help="only this alert type (repeatable)",
    )
    parser.add_argument(
        "--hospital",
        dest="hospitals",
        action="append",
        default=[],
        help="only this hospital, e.g. hospital_a (repeatable)",
    )
    parser.add_argument("--limit", type=int, default=None, help="at most this many alerts")
    parser.add_argument("--post", action="store_true", help=f"post new alerts to ${WEBHOOK_ENV}")
    parser.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help=f"record of posted alert ids (default: {STATE_FILE_NAME} next to the warehouse)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds to wait for the webhook (default %(default)s)",
    )
    parser.set_defaults(func=run)


def _seconds(text: str) -> float:
    """A --timeout: a number of seconds above 0 (the HTTP client refuses 0 with a traceback)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {text!r}")
    return seconds


def run(args: argparse.Namespace) -> int:
    warehouse: Path = args.warehouse or default_warehouse()
    if args.limit is not None and args.limit < 1:
        console.error("--limit must be at least 1")
        return 2
    url = ""
    if args.post:
        url = os.environ.get(WEBHOOK_ENV, "").strip()
        if not url:
            console.error(
                f"{WEBHOOK_ENV} is not set: set it to your Teams or Slack incoming-webhook URL "
                "(from a secret store, never in a file in the repository) and run again"
            )
            return 2
        if urlsplit(url).scheme not in ("http", "https"):
            console.error(f"{WEBHOOK_ENV} is not an http(s) URL: {redact_url(url)}")
            return 2
    try:
        alerts, total = read_alerts_and_total(
            warehouse, alert_types=args.types, hospitals=args.hospitals, limit=args.limit
        )
    except AlertsError as exc:
        console.error(str(exc))
        return 1
    if alerts:
        console.info(format_alerts(alerts))
    console.info(count_line(len(alerts), total, warehouse))
    stale = build_state.stale_warning(warehouse)
    if stale is not None:
        console.info(f"warning: {stale}", stream=sys.stderr)
    if not args.post:
        return 0
    state_file: Path = args.state_file or default_state_file(warehouse)
    console.info(f"posting new alerts to {redact_url(url)} (state: {state_file})")
    try:
        notice = build_state.reader_notice(warehouse)
        result = post_new_alerts(
            alerts,
            url=url,
            state_file=state_file,
            timeout=args.timeout,
            caveat=" ".join(notice) if notice else None,
        )
    except AlertsError as exc:
        console.error(str(exc))
        return 1
    if result.posted == 0:
        console.info(f"nothing new to post ({result.already_posted} already posted)")
    else:
        console.info(f"posted {result.posted} alert(s); {result.already_posted} already posted")
    return 0
