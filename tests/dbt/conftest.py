"""Fixtures of the dbt tests (defined in rcm_dbt_e2e).

No ``__init__.py`` here on purpose: as a package this folder would be imported as ``dbt`` and
shadow dbt-core's own ``dbt`` namespace package (pytest puts ``tests/`` on sys.path).
"""

from rcm_dbt_e2e import advanced, pipeline

__all__ = ["advanced", "pipeline"]
