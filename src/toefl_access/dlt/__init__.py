"""TOEFL score reports for warehouses and orchestrators: a `dlt <https://dlthub.com>`_ source.

::

    import dlt
    import toefl_access.dlt

    pipeline = dlt.pipeline("toefl_access", destination="duckdb", dataset_name="toefl")
    toefl_access.dlt.run(pipeline, toefl_access.dlt.scores(since="2025-01-01"))

:func:`scores` returns a dlt source with the resources ``score_reports`` (the current revision
of each report, merged on its identity), ``report_revisions`` (every sighting, for history)
and ``unkeyed_records`` (records without a test date); the window state travels with each
load (:mod:`.source`), the merge keeps the latest *reported* revision (:mod:`.columns`), and
:func:`run` runs it the way a scheduled task should (:mod:`.running`). Needs the extra:
``pip install 'toefl-access[dlt]'``.
"""

from __future__ import annotations

from toefl_access.errors import MissingExtraError

try:
    import dlt  # noqa: F401  (the library, not this package: imports are absolute)
except ModuleNotFoundError as exc:
    if exc.name != "dlt":
        raise
    raise MissingExtraError("dlt", "dlt", "toefl_access.dlt (the dlt source)") from None

from toefl_access.dlt.columns import KEY, POSITION, TABLES, columns
from toefl_access.dlt.running import FailedWindowsError, last_run, run
from toefl_access.dlt.source import scores, scores_for, source_name

__all__ = [
    "KEY",
    "POSITION",
    "TABLES",
    "FailedWindowsError",
    "columns",
    "last_run",
    "run",
    "scores",
    "scores_for",
    "source_name",
]
