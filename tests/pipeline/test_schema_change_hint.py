"""An analyst adds a column to an incremental model: `rcm build`'s summary names the model
and the full refresh that rebuilds it and what reads it, and that refresh works.

A small real project (tests/pipeline/small_project.py): an incremental model with
on_schema_change='fail', as the project's, and a table reading it.
"""

from __future__ import annotations

from pathlib import Path

from tests.pipeline.small_project import build, make_project

INCREMENTAL = (
    "{{ config(materialized='incremental', on_schema_change='fail') }}\n"
    "select 1 as visit_id{extra}\n"
)


def test_a_column_added_to_an_incremental_model_names_the_full_refresh(tmp_path: Path) -> None:
    make_project(
        tmp_path,
        {
            "int_visits.sql": INCREMENTAL.replace("{extra}", ""),
            "rpt_visits.sql": (
                "{{ config(materialized='table') }}\nselect * from {{ ref('int_visits') }}\n"
            ),
        },
    )
    assert build(tmp_path)[0] == 0
    models = tmp_path / "models"
    (models / "int_visits.sql").write_text(INCREMENTAL.replace("{extra}", ", 2024 as visit_year"))

    failed, out = build(tmp_path)
    assert failed == 1, out
    fix = "rcm build --full-refresh --select int_visits+"
    assert "what to do: the table of incremental model int_visits has other columns" in out, out
    assert f"`{fix}`" in out, out
    # the command it gives rebuilds the model and its reader
    assert build(tmp_path, "int_visits+")[0] == 0
    assert build(tmp_path)[0] == 0
