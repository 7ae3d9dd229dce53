"""Public code sets: NPI (NPPES registry API) and ICD-10-CM (NLM Clinical Tables / CMS list).

- :mod:`ingestion.codesets.nppes`: :class:`~ingestion.codesets.nppes.NppesClient`,
  :func:`~ingestion.codesets.nppes.read_extract`, NPI normalisation and check digit.
- :mod:`ingestion.codesets.icd10`: :class:`~ingestion.codesets.icd10.IcdClient`,
  :func:`~ingestion.codesets.icd10.offline_codes`, dotted/undotted code resolution.
- :mod:`ingestion.codesets.http`: the retrying JSON client and the error types both share.

Every row is a ``dict[str, str | None]`` over the module's column tuple (``NPI_COLUMNS``,
``ICD_COLUMNS``): Bronze stores every source column as text.
"""

from ingestion.codesets.http import (
    ApiError,
    CodesetHttpError,
    MalformedResponseError,
    RetriesExhaustedError,
)

__all__ = ["ApiError", "CodesetHttpError", "MalformedResponseError", "RetriesExhaustedError"]
