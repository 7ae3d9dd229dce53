"""AdlsLake specifics: atomic publication, URIs, credentials and endpoint from the environment.

Runs the real Azure SDK against the in-memory ADLS Gen2 stand-in of ``conftest.py`` (Azurite
has no ``dfs`` endpoint).
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from azure.core.exceptions import HttpResponseError

from ingestion import lake_adls
from ingestion.lake import INGEST_LOCK, LakeBusyError, ingest_lock, open_lake
from ingestion.lake_adls import AdlsLake, credential_from_env, parse_abfss_uri

from .conftest import ACCOUNT, DUMMY_KEY, FILE_SYSTEM, AdlsServer, Store, open_adls


def test_write_publishes_by_rename_only(adls_server: AdlsServer) -> None:
    lake = open_adls(adls_server, root="root")
    lake.write_bytes("bronze/t/part.parquet", b"x" * 1000)
    target = f"/{ACCOUNT}/{FILE_SYSTEM}/root/bronze/t/part.parquet"
    writes = [
        (verb, unquote(path))
        for verb, path in adls_server.store.requests
        if verb in {"PUT", "PATCH"} and "restype=container" not in path
    ]
    # the data goes to a temporary path; the target only ever appears through one rename
    on_target = [(verb, path) for verb, path in writes if path.split("?")[0] == target]
    assert on_target == [("PUT", f"{target}?mode=legacy")]
    assert any("action=flush" in path and ".tmp" in path for _, path in writes)


def test_a_failed_upload_keeps_the_old_file_and_no_temporary(adls_server: AdlsServer) -> None:
    lake = open_adls(adls_server)
    lake.write_bytes("bronze/t/_load.json", b"old")
    adls_server.store.refuse_actions.add("flush")
    with pytest.raises(HttpResponseError):
        lake.write_bytes("bronze/t/_load.json", b"new")
    adls_server.store.refuse_actions.clear()
    assert lake.read_bytes("bronze/t/_load.json") == b"old"
    assert lake.list_files("bronze") == ["bronze/t/_load.json"]


def test_folder_rename_is_one_directory_rename(adls_server: AdlsServer) -> None:
    lake = open_adls(adls_server)
    for i in range(5):
        lake.write_bytes(f"_tmp/load/part-{i}.parquet", b"p")
    before = len(adls_server.store.requests)
    lake.rename("_tmp/load", "bronze/t/load_id=1")
    renames = [
        p for v, p in adls_server.store.requests[before:] if v == "PUT" and "mode=legacy" in p
    ]
    assert len(renames) == 1
    assert len(lake.list_files("bronze/t/load_id=1")) == 5


def test_open_lake_uses_endpoint_and_key_from_environment(
    adls_server: AdlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_adls(adls_server)  # creates the file system
    monkeypatch.setenv("RCM_ADLS_ENDPOINT", adls_server.endpoint)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", DUMMY_KEY)
    uri = f"abfss://{FILE_SYSTEM}@{ACCOUNT}.dfs.core.windows.net/prod/lake"
    lake = open_lake(uri)
    assert isinstance(lake, AdlsLake)
    assert lake.uri == uri
    lake.write_bytes("audit/x.parquet", b"row")
    assert f"/{ACCOUNT}/{FILE_SYSTEM}/prod/lake/audit/x.parquet" in {
        unquote(p).split("?")[0] for _, p in adls_server.store.requests
    }
    assert open_lake(uri).read_bytes("audit/x.parquet") == b"row"


def test_parse_abfss_uri() -> None:
    assert parse_abfss_uri("abfss://lake@acct.dfs.core.windows.net/a/b/") == (
        "lake",
        "acct",
        "acct.dfs.core.windows.net",
        "a/b",
    )
    assert parse_abfss_uri("abfss://lake@acct.dfs.core.windows.net")[3] == ""
    for bad in ("https://acct.dfs.core.windows.net/lake", "abfss://acct.dfs.core.windows.net/x"):
        with pytest.raises(ValueError, match="abfss"):
            parse_abfss_uri(bad)


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_KEY", raising=False)
    monkeypatch.setenv("AZURE_STORAGE_SAS_TOKEN", "?sv=2024-01-01&sig=abc")
    assert credential_from_env("acct") == "sv=2024-01-01&sig=abc"
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", DUMMY_KEY)
    assert credential_from_env("acct") == {"account_name": "acct", "account_key": DUMMY_KEY}
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_KEY")
    monkeypatch.delenv("AZURE_STORAGE_SAS_TOKEN")
    from azure.identity import DefaultAzureCredential

    assert isinstance(credential_from_env("acct"), DefaultAzureCredential)


def test_one_ingest_at_a_time_holds_an_adls_lake(adls_server: AdlsServer) -> None:
    # two runs (two clients of the same lake, as two machines would have) at once: the second
    # is refused at once; once the first ends, the next one goes ahead
    first, second = open_adls(adls_server), open_adls(adls_server)
    with ingest_lock(first):
        with pytest.raises(LakeBusyError) as busy, ingest_lock(second):
            pytest.fail("a second run got the lake")
        message = str(busy.value)
        assert f"is loading into the lake {second.uri}" in message
        holder = f"the run of pid {os.getpid()} on {socket.gethostname()}, started "
        assert f"({holder}" in message and f"holds the lease on {INGEST_LOCK}" in message
        assert f"at most {lake_adls.LEASE_SECONDS} s" in message
        # the held lock file cannot be removed or replaced by another client
        with pytest.raises(HttpResponseError):
            second.delete(INGEST_LOCK)
    with ingest_lock(second):
        assert second.exists(INGEST_LOCK)
    with ingest_lock(first):  # released again
        pass


def test_a_refusal_names_no_ended_run_as_the_holder(adls_server: AdlsServer) -> None:
    # A run that ends takes its name off the lock file. The next holder's own name may fail to
    # be written (a 403 on the metadata call): a refused run must then not be told the ended
    # run holds the lake.
    first, second, third = (open_adls(adls_server) for _ in range(3))
    with ingest_lock(first):
        pass
    lock_file = adls_server.store.file_systems[FILE_SYSTEM][f"warehouse/lake/{INGEST_LOCK}"]
    assert lock_file.metadata == {}
    adls_server.store.refuse_metadata = True
    try:
        with ingest_lock(second), pytest.raises(LakeBusyError) as busy, ingest_lock(third):
            pytest.fail("a third run got the lake")
    finally:
        adls_server.store.refuse_metadata = False
    message = str(busy.value)
    assert f"(it holds the lease on {INGEST_LOCK})" in message
    assert "the run of pid" not in message


def test_a_killed_run_s_lease_runs_out_and_the_lake_is_free_again(
    adls_server: AdlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a run killed mid-way never releases its lease and no longer renews it (no renewal here)
    monkeypatch.setattr(lake_adls, "RENEW_SECONDS", 3600.0)
    killed, later = open_adls(adls_server), open_adls(adls_server)
    with ingest_lock(killed):
        with pytest.raises(LakeBusyError), ingest_lock(later):
            pass
        adls_server.store.expire_leases()  # LEASE_SECONDS later
        with ingest_lock(later):
            pass
    # (the killed run's own release here finds its lease gone: not an error)


def _publish_in_a_forked_worker(endpoint: str, src: str, dst: str) -> str:
    """What `rcm ingest`'s forked workers do: open a lake of their own and publish a load."""
    try:
        open_adls(AdlsServer(Store(), endpoint)).rename(src, dst)
    except LakeBusyError as error:
        return str(error)
    return "published"


def test_the_lease_is_renewed_and_a_run_that_cannot_renew_it_stops_publishing(
    adls_server: AdlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lake_adls, "RENEW_SECONDS", 0.05)
    monkeypatch.setattr(lake_adls, "RETRY_SECONDS", 0.05)
    monkeypatch.setattr(lake_adls, "LOST_AFTER_SECONDS", 1.5)
    store = adls_server.store
    slow, other = open_adls(adls_server), open_adls(adls_server)
    for name in ("one", "two", "three"):
        slow.write_bytes(f"_tmp/{name}/part.parquet", b"p")
    said: list[str] = []

    def wait_for(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not done() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert done()

    fork = multiprocessing.get_context("fork")
    with ingest_lock(slow, said.append), fork.Pool(1) as worker:
        # the worker is forked while the lease is held, as `rcm ingest`'s are: it learns of
        # the lost lease later, from the renewal thread of the process that forked it
        wait_for(lambda: store.renewals >= 2)
        assert said == []
        # a network cut: the renewals fail and are said, with the time left
        store.refuse_leases.add("renew")
        wait_for(lambda: bool(said))
        assert "could not renew the lease on" in said[0]
        assert "without a renewal within" in said[0]
        slow.rename("_tmp/one", "bronze/t/load_id=one")  # still in time: published
        # no renewal for LOST_AFTER_SECONDS: nothing more is published, in this process or a
        # forked worker, as the lease may run out while a load is being published
        wait_for(lambda: any("this run publishes no more loads" in s for s in said))
        with pytest.raises(LakeBusyError, match="cannot publish bronze/t/load_id=two"):
            slow.rename("_tmp/two", "bronze/t/load_id=two")
        refused = worker.apply(
            _publish_in_a_forked_worker,
            (adls_server.endpoint, "_tmp/three", "bronze/t/load_id=3"),
        )
        assert "was not renewed for" in refused and "the next run loads these rows" in refused
        # the lease runs out; another run can take the lake, and publish while it holds it
        store.expire_leases()
        with ingest_lock(other):
            other.rename("_tmp/three", "bronze/t/load_id=three")
        store.refuse_leases.clear()
        # (the other run's lease ended inside this one: this run still publishes nothing)
        with pytest.raises(LakeBusyError):
            slow.rename("_tmp/two", "bronze/t/load_id=two")
    assert slow.list_dirs("bronze/t") == ["bronze/t/load_id=one", "bronze/t/load_id=three"]
    # the next run publishes again
    with ingest_lock(other):
        other.rename("_tmp/two", "bronze/t/load_id=two")
