"""The load config: the shipped file validates, and every mistake names line and field."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest

from ingestion.config import DEFAULT_CONFIG_PATH, ConfigError, emr_url, load_config
from ingestion.sources import SourceUnavailableError
from ingestion.sources.landing import find_files

HEADER = (
    "database,datasource,tablename,loadtype,watermark,is_active,targetpath,source_kind,"
    "source_system,landing_dir,file_pattern,primary_key,required_columns"
)
GOOD = "hospital_a,hospital_a,patients,incremental,ModifiedDate,1,,sql,hospital_a,,,PatientID,"


def write(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / "load_config.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_shipped_config_has_every_entity_of_the_contract() -> None:
    config = load_config()
    with DEFAULT_CONFIG_PATH.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(config.entities) == len(rows)
    names = {e.name for e in config.entities}
    for hospital in ("hospital_a", "hospital_b"):
        for table in ("departments", "encounters", "patients", "providers", "transactions"):
            assert f"{hospital}.{table}" in names
        assert f"{hospital}.claims" in names
    assert {"codesets.cpt_codes", "codesets.npi", "codesets.icd10cm_codes"} <= names
    by_name = config.by_name()
    assert by_name["hospital_b.patients"].watermark == "Updated_Date"
    assert by_name["hospital_a.departments"].loadtype == "full"
    assert by_name["hospital_a.claims"].matches("hospital1_claim_data_2024_03.csv")
    assert by_name["hospital_a.claims"].matches("hospital1_claim_data_2024_03_15.csv")
    assert by_name["hospital_a.claims"].matches("hospital1_claim_data.csv")
    assert not by_name["hospital_a.claims"].matches("hospital2_claim_data_2024_03.csv")
    assert by_name["hospital_b.claims"].matches("hospital2_claim_data_2024_03.csv")
    assert by_name["hospital_a.encounters"].target == "bronze/hospital_a/encounters"


def test_good_row_is_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    (entity,) = config.entities
    assert entity.is_active is True
    assert entity.line == 2
    assert entity.target == "bronze/hospital_a/patients"


def test_bad_loadtype_names_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD, GOOD.replace("patients", "encounters").replace("incremental", "delta")
    )
    message = error_of(path)
    assert str(path) in message
    assert "line 3" in message
    assert "'loadtype'" in message
    assert "'delta'" in message
    assert "full" in message and "incremental" in message


def test_incremental_without_watermark(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace("ModifiedDate", "")))
    assert "line 2" in message
    assert "watermark" in message
    assert "set loadtype to full" in message


def test_bad_is_active(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace(",1,", ",maybe,")))
    assert "line 2" in message
    assert "'is_active'" in message
    assert "write 1" in message


def test_unknown_column(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + ",x", header=HEADER + ",schedule")
    message = error_of(path)
    assert "line 1" in message
    assert "'schedule'" in message
    assert "known columns" in message


def test_an_entitys_runtime_errors_name_the_config_file_and_line(tmp_path: Path) -> None:
    # a missing landing folder said "config line 2, landing_dir": which config, with
    # --config pointing at one of several, it did not say
    row = "hospital_a,hospital_a,claims,full,,1,,claims_csv,hospital_a,landing/nowhere,x.*\\.csv,,"
    path = write(tmp_path, row)
    (entity,) = load_config(path).entities
    with pytest.raises(SourceUnavailableError) as info:
        find_files(tmp_path / "sources", entity)
    assert f"(config line 2 of {path}, landing_dir)" in str(info.value)


@pytest.mark.parametrize(("delimiter", "named"), [(";", "';'"), ("\t", "tabs")])
def test_a_header_not_delimited_by_commas_says_so(
    tmp_path: Path, delimiter: str, named: str
) -> None:
    # saved by Excel in a locale with the decimal comma, the config was an "unknown column"
    path = write(tmp_path, GOOD.replace(",", delimiter), header=HEADER.replace(",", delimiter))
    message = error_of(path)
    assert (
        f"{path}: line 1: the header is delimited by {named}, not by commas: the load config "
        "must be comma-separated"
    ) in message


def test_duplicate_entity_names_both_lines(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD, GOOD.replace(",1,", ",0,")))
    assert "line 3" in message
    assert "line 2" in message
    assert "hospital_a.patients" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = error_of(
        write(
            tmp_path,
            GOOD.replace("incremental", "weekly"),
            ",hospital_a,claims,incremental,,1,,claims_csv,,landing/claims,,ClaimID,",
            ",hospital_a,claims2,incremental,,1,,claims_csv,,landing/claims,([bad,,",
        )
    )
    assert "line 2" in message and "'loadtype'" in message
    assert "line 3" in message and "file_pattern" in message
    assert "line 4" in message and "regular expression" in message


def test_sql_row_needs_a_database_and_file_row_no_watermark(tmp_path: Path) -> None:
    message = error_of(
        write(
            tmp_path,
            GOOD.replace("hospital_a,hospital_a", ",hospital_a"),
            ",hospital_a,claims,incremental,ModifiedDate,1,,claims_csv,,landing/claims,x.csv,,",
        )
    )
    assert "line 2" in message and "'database'" in message
    assert "line 3" in message and "only source_kind sql has a watermark" in message


def test_wrong_field_count_and_unsafe_path(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD + ",extra", GOOD.replace(",1,,", ",1,../outside,")))
    assert "line 2" in message and "comma" in message
    assert "line 3" in message and "'targetpath'" in message


def test_emr_url_from_environment_or_default(tmp_path: Path) -> None:
    env = {"RCM_EMR_HOSPITAL_A_URL": "postgresql+psycopg://u@h/db"}
    assert emr_url("hospital_a", tmp_path, env) == env["RCM_EMR_HOSPITAL_A_URL"]
    default = emr_url("hospital_b", tmp_path, env)
    assert default.startswith("sqlite:///")
    assert default.endswith("/emr/hospital_b.db")


def test_a_target_folder_dbt_does_not_read_is_refused(tmp_path: Path) -> None:
    """dbt's sources and rcm build read bronze/<datasource>/<table> only: loads written
    anywhere else were never built (and a second entity writing into another's folder had its
    loads audited again as the other's by recovery)."""
    elsewhere = "hospital_a,hospital_a,notes,full,,1,bronze/emr/hospital_a/notes,sql,hospital_a,,,,"
    shared = "hospital_a,hospital_a,copy,full,,1,bronze/hospital_a/patients,sql,hospital_a,,,,"
    message = error_of(write(tmp_path, GOOD, elsewhere, shared))
    assert (
        "line 3: field 'targetpath': 'bronze/emr/hospital_a/notes' is not read by dbt's "
        "sources nor by rcm build, which read bronze/hospital_a/notes" in message
    )
    assert "line 4: field 'targetpath': 'bronze/hospital_a/patients' is not read" in message
    same = "hospital_a,hospital_a,notes,full,,1,bronze/hospital_a/notes/,sql,hospital_a,,,,"
    assert load_config(write(tmp_path, GOOD, same)).entities[1].target == "bronze/hospital_a/notes"


def test_a_stray_quote_does_not_swallow_the_rows_after_it(tmp_path: Path) -> None:
    """An unclosed quote made the csv module read every later line into one value: those
    entities were silently not configured, and `rcm ingest` loaded the others and exited 0."""
    other = "hospital_b,hospital_b,patients,incremental,Updated_Date,1,,sql,hospital_b,,,ID,"
    path = write(tmp_path, GOOD + '"', other, GOOD.replace("patients", "encounters"))
    message = error_of(path)
    assert 'line 2: a quote (") opened on this line is not closed on it' in message
    assert "lines 2-4 were read as one row" in message
    # on the last line there is nothing after it to take in: the same cause, not a comma
    last = error_of(write(tmp_path, GOOD, other.replace("sql,", 'sql,"')))
    assert 'line 3: a quote (") opened on this line is not closed on it; remove' in last
    assert "missing or extra comma" not in last


def test_a_watermark_with_fallbacks_is_read_in_order_and_a_blank_one_names_the_line(
    tmp_path: Path,
) -> None:
    row = GOOD.replace(",ModifiedDate,", ", ModifiedDate | InsertDate ,")
    (entity,) = load_config(write(tmp_path, row)).entities
    assert entity.watermark == "ModifiedDate|InsertDate"
    assert entity.watermark_columns == ("ModifiedDate", "InsertDate")
    (plain,) = load_config(write(tmp_path, GOOD)).entities
    assert plain.watermark_columns == ("ModifiedDate",)

    empty = write(
        tmp_path,
        GOOD,
        GOOD.replace("patients", "encounters").replace(",ModifiedDate,", ",ModifiedDate|,"),
    )
    message = error_of(empty)
    assert f"{empty}: line 3, field 'watermark'" in message
    assert "empty column name" in message
    twice = error_of(write(tmp_path, GOOD.replace(",ModifiedDate,", ",ModifiedDate|modifieddate,")))
    assert "line 2, field 'watermark'" in twice and "twice" in twice


def test_a_watermark_lookback_is_read_and_a_config_without_the_column_still_loads(
    tmp_path: Path,
) -> None:
    # files written before the column existed have none: their entities do not look back
    (without,) = load_config(write(tmp_path, GOOD)).entities
    assert (without.watermark_lookback, without.lookback) == (None, None)
    header = HEADER + ",watermark_lookback"
    for text, expected in (
        ("", None),
        ("0", None),
        ("00", None),
        ("0s", None),
        ("90s", timedelta(seconds=90)),
        (" 15M ", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("7d", timedelta(days=7)),
        ("168h", timedelta(days=7)),
    ):
        (entity,) = load_config(write(tmp_path, f"{GOOD},{text}", header=header)).entities
        assert entity.lookback == expected, text
    # a one-off full load keeps its lookback: it selects the whole table all the same
    full = GOOD.replace(",incremental,", ",full,")
    (entity,) = load_config(write(tmp_path, f"{full},2h", header=header)).entities
    assert (entity.loadtype, entity.lookback) == ("full", timedelta(hours=2))


def test_a_bad_watermark_lookback_names_line_and_field(tmp_path: Path) -> None:
    full = GOOD.replace("patients", "departments").replace("incremental,ModifiedDate", "full,")
    claims = ",hospital_a,claims,incremental,,1,,claims_csv,,landing/claims,x.csv,,"
    path = write(
        tmp_path,
        f"{GOOD},2 hours",
        f"{GOOD.replace('patients', 'encounters')},8d",
        f"{full},1h",
        f"{claims},1h",
        f"{GOOD.replace('patients', 'transactions')},-1h",
        header=HEADER + ",watermark_lookback",
    )
    message = error_of(path)
    assert (
        f"{path}: line 2, field 'watermark_lookback': '2 hours' is not a lookback: write a whole "
        "number and a unit, s, m, h or d (e.g. 90s, 15m, 2h, 1d)"
    ) in message
    assert f"{path}: line 3, field 'watermark_lookback': '8d' is longer than 7d" in message
    only = "field 'watermark_lookback': only a load of source_kind sql with a watermark looks back"
    assert f"{path}: line 4: {only}; leave it empty for a load without a watermark" in message
    assert f"{path}: line 5: {only}; leave it empty for source_kind claims_csv" in message
    assert f"{path}: line 6, field 'watermark_lookback': '-1h' is not a lookback" in message
