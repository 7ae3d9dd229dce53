"""`rcm docs`: dbt docs generate --static gives one self-contained HTML file."""

from __future__ import annotations

from rcm_dbt_e2e import Pipeline

from ingestion.build import run_docs


def test_static_docs_site(pipeline: Pipeline) -> None:
    html = run_docs(target_path=pipeline.target)
    assert html.is_file()
    text = html.read_text()
    assert "fct_transactions" in text
    assert "rcm_finance_dashboard" in text
