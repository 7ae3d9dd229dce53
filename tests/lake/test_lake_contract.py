"""One behavioural contract, run on LocalLake and on AdlsLake (real Azure SDK, local dfs server).

AdlsLake talks to the in-memory ADLS Gen2 stand-in of ``conftest.py``: Azurite has no ``dfs``
endpoint, so the stand-in serves the few REST calls the SDK sends.
"""

from __future__ import annotations

import pytest

from ingestion.lake import Lake


def fill(lake: Lake, paths: list[str]) -> None:
    for path in paths:
        lake.write_bytes(path, f"content of {path}".encode())


def test_write_then_read_and_overwrite(lake: Lake) -> None:
    lake.write_bytes("bronze/a/part-0.parquet", b"first")
    assert lake.read_bytes("bronze/a/part-0.parquet") == b"first"
    payload = bytes(range(256)) * 300
    lake.write_bytes("bronze/a/part-0.parquet", payload)
    assert lake.read_bytes("bronze/a/part-0.parquet") == payload
    lake.write_bytes("bronze/a/empty.json", b"")
    assert lake.read_bytes("bronze/a/empty.json") == b""
    assert lake.list_files("bronze") == ["bronze/a/empty.json", "bronze/a/part-0.parquet"]


def test_read_of_a_missing_file_raises(lake: Lake) -> None:
    with pytest.raises(FileNotFoundError):
        lake.read_bytes("nothing/here.txt")


def test_exists(lake: Lake) -> None:
    fill(lake, ["audit/run_id=1/x.parquet"])
    assert lake.exists("audit/run_id=1/x.parquet")
    assert lake.exists("audit/run_id=1")
    assert lake.exists("audit")
    assert not lake.exists("audit/run_id=2")
    assert not lake.exists("audit/run_id=1/y.parquet")


def test_list_files_is_recursive_sorted_and_lake_relative(lake: Lake) -> None:
    paths = [
        "bronze/hospital_b/patients/load_id=2/part-00000.parquet",
        "bronze/hospital_a/patients/load_id=1/part-00001.parquet",
        "bronze/hospital_a/patients/load_id=1/part-00000.parquet",
        "bronze/hospital_a/patients/load_id=1/_load.json",
        "bronze/hospital_a/claims/load_id=3/part-00000.parquet",
        "rejected/hospital_a/claims/load_id=3/rejected.parquet",
    ]
    fill(lake, paths)
    bronze = sorted(p for p in paths if p.startswith("bronze/"))
    assert lake.list_files("bronze") == bronze
    assert lake.list_files("bronze/") == bronze
    assert lake.list_files("bronze/hospital_a/patients") == sorted(
        p for p in paths if p.startswith("bronze/hospital_a/patients/")
    )
    assert lake.list_files("") == sorted(paths)
    assert lake.list_files("missing") == []
    single = "rejected/hospital_a/claims/load_id=3/rejected.parquet"
    assert lake.list_files(single) == [single]


def test_list_dirs_lists_immediate_folders(lake: Lake) -> None:
    fill(
        lake,
        [
            "bronze/t/load_id=2/part.parquet",
            "bronze/t/load_id=1/part.parquet",
            "bronze/t/load_id=1/deeper/part.parquet",
            "bronze/t/load_id=3/part.parquet",
            "bronze/t/not_a_dir.json",
        ],
    )
    assert lake.list_dirs("bronze/t") == [
        "bronze/t/load_id=1",
        "bronze/t/load_id=2",
        "bronze/t/load_id=3",
    ]
    assert lake.list_dirs("bronze") == ["bronze/t"]
    assert lake.list_dirs("bronze/missing") == []
    assert lake.list_dirs("bronze/t/not_a_dir.json") == []


def test_rename_moves_a_whole_folder(lake: Lake) -> None:
    tmp = "_tmp/load-1"
    fill(lake, [f"{tmp}/part-00000.parquet", f"{tmp}/part-00001.parquet", f"{tmp}/_load.json"])
    final = "bronze/hospital_a/patients/load_id=1"
    lake.rename(tmp, final)
    assert lake.list_files(final) == [
        f"{final}/_load.json",
        f"{final}/part-00000.parquet",
        f"{final}/part-00001.parquet",
    ]
    assert lake.read_bytes(f"{final}/_load.json") == f"content of {tmp}/_load.json".encode()
    assert not lake.exists(tmp)
    assert lake.list_files("_tmp") == []


def test_rename_moves_a_file(lake: Lake) -> None:
    fill(lake, ["a/x.txt"])
    lake.rename("a/x.txt", "b/c/y.txt")
    assert lake.read_bytes("b/c/y.txt") == b"content of a/x.txt"
    assert not lake.exists("a/x.txt")


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_rename_fails_when_the_target_exists(lake: Lake, kind: str) -> None:
    if kind == "file":
        fill(lake, ["src.txt", "dst.txt"])
        src, dst = "src.txt", "dst.txt"
    else:
        fill(lake, ["_tmp/load/part.parquet", "bronze/load/part.parquet"])
        src, dst = "_tmp/load", "bronze/load"
    with pytest.raises(FileExistsError):
        lake.rename(src, dst)
    assert lake.exists(src)
    files = lake.list_files(dst)
    assert files and all(lake.read_bytes(f) == f"content of {f}".encode() for f in files)


def test_rename_of_a_missing_source_raises(lake: Lake) -> None:
    with pytest.raises(FileNotFoundError):
        lake.rename("nothing", "somewhere")


def test_delete_removes_files_and_whole_trees(lake: Lake) -> None:
    fill(lake, ["_tmp/x/a/1.parquet", "_tmp/x/b/2.parquet", "_tmp/y.json", "keep/z.json"])
    lake.delete("_tmp/x")
    assert not lake.exists("_tmp/x")
    assert lake.list_files("_tmp") == ["_tmp/y.json"]
    lake.delete("_tmp/y.json")
    assert lake.list_files("_tmp") == []
    lake.delete("_tmp/never-existed")  # nothing to do, no error
    assert lake.list_files("") == ["keep/z.json"]


def test_paths_may_not_escape_the_lake(lake: Lake) -> None:
    with pytest.raises(ValueError):
        lake.write_bytes("../outside.txt", b"x")


def test_writes_leave_no_temporary_files(lake: Lake) -> None:
    for i in range(3):
        lake.write_bytes("bronze/t/_load.json", f"version {i}".encode())
    assert lake.list_files("bronze") == ["bronze/t/_load.json"]
    assert lake.read_bytes("bronze/t/_load.json") == b"version 2"
