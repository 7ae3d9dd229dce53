"""`rcm alerts`: listing marts.alerts and posting the new ones to a real local webhook."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ingestion import alerts, build_state
from ingestion.cli import main
from tests.alerts.conftest import ALERT_ROWS, Webhook, write_alerts

SECRET = "sig=TopSecretSignature123"


def run(
    monkeypatch: pytest.MonkeyPatch, warehouse: Path, *args: str, url: str | None = None
) -> int:
    monkeypatch.setenv("RCM_WAREHOUSE_PATH", str(warehouse))
    if url is None:
        monkeypatch.delenv(alerts.WEBHOOK_ENV, raising=False)
    else:
        monkeypatch.setenv(alerts.WEBHOOK_ENV, url)
    return main(["alerts", *args])


def state(warehouse: Path) -> dict[str, str]:
    path = warehouse.parent / alerts.STATE_FILE_NAME
    return json.loads(path.read_text())["posted"] if path.exists() else {}


def test_lists_alerts_most_severe_first(
    monkeypatch: pytest.MonkeyPatch, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, warehouse) == 0
    out = capsys.readouterr().out
    for row in ALERT_ROWS:
        assert row["subject"] in out
    lines = [line for line in out.splitlines() if line.startswith(("high", "medium", "low"))]
    assert [line.split()[0] for line in lines] == ["high", "high", "medium", "low"]
    assert f"{len(ALERT_ROWS)} alert(s)" in out


def test_filters_by_type_hospital_and_limit(
    monkeypatch: pytest.MonkeyPatch, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, warehouse, "--hospital", "hospital_b") == 0
    out = capsys.readouterr().out
    want = [r["subject"] for r in ALERT_ROWS if r["source_system"] == "hospital_b"]
    unwanted = [r["subject"] for r in ALERT_ROWS if r["source_system"] != "hospital_b"]
    assert all(s in out for s in want) and not any(s in out for s in unwanted)

    assert run(monkeypatch, warehouse, "--type", "claim_denied_recently") == 0
    out = capsys.readouterr().out
    assert "CLM000001" in out and "CLM000777" not in out

    # --limit says how many of the matching alerts it left out, counted in the warehouse
    assert run(monkeypatch, warehouse, "--limit", "1") == 0
    out = capsys.readouterr().out
    assert f"showing 1 of {len(ALERT_ROWS)} alert(s) in {warehouse} (--limit 1)" in out
    b_rows = [r for r in ALERT_ROWS if r["source_system"] == "hospital_b"]
    assert run(monkeypatch, warehouse, "--hospital", "hospital_b", "--limit", "1") == 0
    assert f"showing 1 of {len(b_rows)} alert(s)" in capsys.readouterr().out
    # a limit that leaves nothing out is not mentioned
    assert run(monkeypatch, warehouse, "--limit", str(len(ALERT_ROWS))) == 0
    out = capsys.readouterr().out
    assert f"{len(ALERT_ROWS)} alert(s) in {warehouse}" in out and "showing" not in out


def test_an_unknown_hospital_is_an_error_and_a_quiet_one_is_not(
    monkeypatch: pytest.MonkeyPatch, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, warehouse, "--hospital", "hospital_a", "--hospital", "hopsital_b") == 1
    err = capsys.readouterr().err
    assert "unknown hospital hopsital_b" in err
    assert err.rstrip().endswith("the warehouse has hospital_a, hospital_b, hospital_c")
    # a hospital of the warehouse that has no alert: no alert, and no error
    assert run(monkeypatch, warehouse, "--hospital", "hospital_c") == 0
    assert "0 alert(s)" in capsys.readouterr().out
    # a warehouse without its hospitals is named, with what to run
    import duckdb

    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop table marts.dim_department")
    assert run(monkeypatch, warehouse, "--hospital", "hospital_a") == 1
    err = capsys.readouterr().err
    assert (
        f"marts.dim_department (the warehouse's hospitals, for --hospital) not found in {warehouse}"
        in err
    )


def test_post_sends_text_and_alert_list_then_nothing_twice(
    monkeypatch: pytest.MonkeyPatch,
    warehouse: Path,
    webhook: Webhook,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(monkeypatch, warehouse, "--post", url=webhook.url) == 0
    assert len(webhook.received) == 1
    payload = webhook.received[0]
    assert isinstance(payload["text"], str)
    assert f"{len(ALERT_ROWS)} new alerts" in payload["text"]
    assert sorted(a["alert_id"] for a in payload["alerts"]) == sorted(
        r["alert_id"] for r in ALERT_ROWS
    )
    by_id = {a["alert_id"]: a for a in payload["alerts"]}
    for row in ALERT_ROWS:
        sent = by_id[row["alert_id"]]
        for key in ("alert_type", "severity", "source_system", "subject", "detail"):
            assert sent[key] == row[key]
        assert sent["amount"] == row["amount"]
        assert sent["as_of_date"] == row["as_of_date"].isoformat()
    assert set(state(warehouse)) == {r["alert_id"] for r in ALERT_ROWS}

    # Second run: every alert is already recorded, nothing reaches the webhook.
    assert run(monkeypatch, warehouse, "--post", url=webhook.url) == 0
    assert len(webhook.received) == 1
    assert "nothing new to post" in capsys.readouterr().out

    # A new alert appears in the warehouse: only it is posted.
    new = {**ALERT_ROWS[0], "alert_id": "claim_denied_recently:hospital_a:CLM000002"}
    write_alerts(warehouse, [*ALERT_ROWS, new])
    assert run(monkeypatch, warehouse, "--post", url=webhook.url) == 0
    assert [a["alert_id"] for a in webhook.received[1]["alerts"]] == [new["alert_id"]]


def test_server_error_leaves_alerts_unsent_and_fails(
    monkeypatch: pytest.MonkeyPatch,
    warehouse: Path,
    webhook: Webhook,
    capsys: pytest.CaptureFixture[str],
) -> None:
    webhook.status = 500
    url = f"{webhook.url}?{SECRET}"
    assert run(monkeypatch, warehouse, "--post", url=url) != 0
    err = capsys.readouterr().err
    assert "HTTP 500" in err
    assert alerts.redact_url(url) in err and "127.0.0.1" in err
    assert "TopSecretSignature123" not in err
    assert len(webhook.paths) == 1  # it was tried
    assert state(warehouse) == {}

    # Once the webhook recovers, the same alerts go out.
    webhook.status = 200
    assert run(monkeypatch, warehouse, "--post", url=url) == 0
    assert len(webhook.received) == 1
    assert len(webhook.received[0]["alerts"]) == len(ALERT_ROWS)


def test_timeout_is_an_error_that_names_the_url(
    monkeypatch: pytest.MonkeyPatch,
    warehouse: Path,
    webhook: Webhook,
    capsys: pytest.CaptureFixture[str],
) -> None:
    webhook.delay = 2.0
    url = f"{webhook.url}?{SECRET}"
    assert run(monkeypatch, warehouse, "--post", "--timeout", "0.3", url=url) != 0
    err = capsys.readouterr().err
    assert "did not answer within 0.3 s" in err
    assert "TopSecretSignature123" not in err
    assert state(warehouse) == {}


def test_unreachable_webhook_does_not_leak_the_secret(
    monkeypatch: pytest.MonkeyPatch, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook?{SECRET}"
    assert run(monkeypatch, warehouse, "--post", url=url) != 0
    err = capsys.readouterr().err
    assert "unreachable" in err and f"127.0.0.1:{port}/hook" in err
    assert "TopSecretSignature123" not in err
    assert state(warehouse) == {}


def test_missing_webhook_env_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, warehouse, "--post") == 2
    err = capsys.readouterr().err
    assert alerts.WEBHOOK_ENV in err and "not set" in err
    assert state(warehouse) == {}


def test_missing_warehouse_says_what_to_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none" / "rcm.duckdb"
    assert run(monkeypatch, missing) == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "make demo" in err
    assert not missing.exists()


def test_a_folder_for_the_warehouse_says_to_name_the_file_in_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # it said "cannot open ... read-only (Is a directory); if a build is running, wait"
    assert run(monkeypatch, tmp_path) == 1
    err = capsys.readouterr().err
    assert f"warehouse {tmp_path} not found (it is a folder: name the .duckdb file in it)" in err
    assert "build is running" not in err


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "soon"])
def test_a_timeout_that_is_no_wait_is_refused_by_the_parser(
    monkeypatch: pytest.MonkeyPatch,
    warehouse: Path,
    capsys: pytest.CaptureFixture[str],
    timeout: str,
) -> None:
    # 0 reached the HTTP client, whose ValueError ended in a traceback
    with pytest.raises(SystemExit) as exc:
        run(monkeypatch, warehouse, "--post", "--timeout", timeout, url="http://127.0.0.1:9/")
    assert exc.value.code == 2
    assert f"--timeout: must be a number of seconds above 0, got '{timeout}'" in (
        capsys.readouterr().err
    )
    assert state(warehouse) == {}


def test_a_file_that_is_not_a_duckdb_warehouse_is_named_as_such(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # DuckDB opens a SQLite file through its sqlite extension: it tried to download it, and
    # the error said to wait for a build to finish
    emr = tmp_path / "hospital_a.db"
    with sqlite3.connect(emr) as connection:
        connection.execute("create table patients (PatientID text)")
    connection.close()
    assert run(monkeypatch, emr) == 1
    err = capsys.readouterr().err
    assert f"{emr} is a SQLite database, not a DuckDB warehouse" in err, err
    assert "download" not in err and "wait for it to finish" not in err
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    assert run(monkeypatch, text) == 1
    assert f"{text} is not a DuckDB warehouse" in capsys.readouterr().err


def test_alerts_of_a_warehouse_whose_last_build_failed_say_so(
    monkeypatch: pytest.MonkeyPatch, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the helper's review: alerts listed from a warehouse a failed build left, with no word
    build_state.record_outcome(warehouse, "failed", ["not_null_int_claim_status_history"])
    assert run(monkeypatch, warehouse) == 0
    captured = capsys.readouterr()
    assert f"{len(ALERT_ROWS)} alert(s)" in captured.out
    assert "warning: the last `rcm build` of" in captured.err
    assert "failed (not_null_int_claim_status_history)" in captured.err
    build_state.record_outcome(warehouse, "ok")
    assert run(monkeypatch, warehouse) == 0
    assert "warning" not in capsys.readouterr().err


def test_posted_alerts_carry_the_failed_build_s_note(
    monkeypatch: pytest.MonkeyPatch, warehouse: Path, webhook: Webhook
) -> None:
    # the team channel reads the figures too: the note goes with them, without node names
    build_state.record_outcome(warehouse, "failed", ["not_null_int_claim_status_history"])
    assert run(monkeypatch, warehouse, "--post", url=webhook.url) == 0
    text = webhook.received[0]["text"]
    assert "Note: The last warehouse build failed." in text, text
    assert "not_null_int_claim_status_history" not in text


def test_warehouse_without_alerts_mart(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    path = tmp_path / "rcm.duckdb"
    duckdb.connect(str(path)).close()
    assert run(monkeypatch, path) == 1
    assert "marts.alerts not found" in capsys.readouterr().err


def test_batches_are_recorded_one_by_one(tmp_path: Path, warehouse: Path, webhook: Webhook) -> None:
    rows = alerts.read_alerts(warehouse)
    state_file = tmp_path / "state.json"
    result = alerts.post_new_alerts(rows, url=webhook.url, state_file=state_file, batch_size=3)
    assert result.posted == len(rows)
    assert [len(p["alerts"]) for p in webhook.received] == [3, len(rows) - 3]
    assert set(alerts.load_posted(state_file)) == {r.alert_id for r in rows}
    assert not list(tmp_path.glob(".state.json.*"))  # no temporary file left behind


def test_unreadable_state_file_is_an_error(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text("{not json")
    with pytest.raises(alerts.AlertsError, match=str(state_file)):
        alerts.load_posted(state_file)


def test_redact_url_drops_credentials_and_query() -> None:
    url = "https://user:pw@example.webhook.office.com:8443/webhookb2/abc?sig=xyz&tok=1"
    shown = alerts.redact_url(url)
    assert shown == "https://example.webhook.office.com:8443/webhookb2/abc?<redacted>"
    assert alerts.redact_url("http://127.0.0.1:9/hook") == "http://127.0.0.1:9/hook"
