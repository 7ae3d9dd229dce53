"""Readers, one per source kind: EMR tables (``sql``), landing files, code sets.

They only read and yield string rows; writing Bronze, watermarks and the audit are the
orchestrator's (``ingestion.ingest``).
"""


class SourceUnavailableError(RuntimeError):
    """A source cannot be read (database down, file or folder missing, API unreachable)."""


class SourceFormatError(ValueError):
    """A source can be read but not used as it is (e.g. a required column is missing)."""
