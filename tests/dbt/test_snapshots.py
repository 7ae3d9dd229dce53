"""After `rcm generate --advance-to`, ingest and build: the snapshots hold new versions for
exactly the changed patients, providers and claims of truth/changes_<date>.csv."""

from __future__ import annotations

from rcm_dbt_e2e import SNAPSHOT_KEYS, Advanced

from ingestion.build import format_summary


def test_second_build_has_no_errors(advanced: Advanced) -> None:
    assert advanced.build.exit_code == 0, format_summary(advanced.build)


def test_snapshots_version_exactly_the_changed_rows(advanced: Advanced) -> None:
    dropped = advanced.dropped_versions()
    for entity in SNAPSHOT_KEYS:
        existing = advanced.before[entity]
        # A change whose new version was quarantined or refused at load opens no version.
        changed = {
            f"{row['hospital']}:{row['key']}"
            for row in advanced.changes
            if row["entity"] == entity and f"{row['hospital']}:{row['key']}" in existing
        } - dropped
        # New members (inserted by the advance) are first versions, not new versions.
        versioned = {
            key
            for key, count in advanced.after[entity].items()
            if key in existing and count > existing[key]
        }
        if entity != "providers":  # provider changes are rare: none at tiny scales
            assert changed, f"the truth lists no change to an existing {entity} row"

        assert versioned == changed, (
            f"{entity}: new versions for {sorted(versioned - changed)[:5]} not in the truth; "
            f"changes without a new version {sorted(changed - versioned)[:5]}"
        )


def test_new_rows_enter_the_snapshots(advanced: Advanced) -> None:
    for entity in SNAPSHOT_KEYS:
        assert set(advanced.before[entity]) <= set(advanced.after[entity])
