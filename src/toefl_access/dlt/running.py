"""Running the source the way an orchestrator task should: :func:`run`.

dlt's ``pipeline.run(source)`` has one trap for a scheduled task: when a load package of an
earlier run is still pending (the worker was killed, the destination refused a load), it
only finishes that package and **returns without extracting** (it warns and ignores the
source). :func:`run` finishes such a package first, then runs the source, so every task
run reads its windows. It also turns dlt's wrapped errors back into this project's (a
refused key is an :class:`~toefl_access.errors.AuthenticationError` again) and raises
:class:`FailedWindowsError` when windows failed, after the rest was loaded.
"""

from __future__ import annotations

import logging
from typing import Any

from dlt.common.pipeline import LoadInfo
from dlt.extract.source import DltSource
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.pipeline import Pipeline

from toefl_access.errors import ToeflAccessError

log = logging.getLogger("toefl_access.dlt")


class FailedWindowsError(ToeflAccessError):
    """Windows failed in the run (after retries); everything else was loaded, and the next
    run without ``since`` asks for the failed windows again (``toefl-access sync``'s exit
    code 1). ``failed`` lists ``[start, end, error]``."""

    def __init__(self, source: str, failed: list[list[str]]) -> None:
        shown = "; ".join(f"[{a}, {b}): {error}" for a, b, error in failed[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        super().__init__(
            f"{source}: {len(failed)} window(s) failed and were not loaded: {shown}{more}. "
            "The rest was loaded; the next run without since reads them again"
        )
        self.failed = failed


def last_run(pipeline: Pipeline, source: str) -> dict[str, Any]:
    """What the source's last extraction recorded in the pipeline's state: windows
    ``planned``, ``done``, ``records`` and ``failed`` (empty before the first run)."""
    state = pipeline.state.get("sources", {}).get(source, {})
    return dict(state.get("windows", {}).get("last_run", {}))


def _ours(exc: BaseException) -> ToeflAccessError | None:
    """The first of this project's errors in the chain of a dlt error."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, ToeflAccessError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


def run(pipeline: Pipeline, source: DltSource, **kwargs: Any) -> LoadInfo:
    """Run ``source`` in ``pipeline`` (``kwargs`` go to ``pipeline.run``), after finishing
    a load package an earlier run left pending; return the LoadInfo of this run's load.

    Raises the project's error when the source failed (a refused key, a bad setting) and
    :class:`FailedWindowsError` when some windows failed but the others were loaded. A
    package that keeps failing to load stays pending and fails every run until it loads or is
    dropped (``dlt pipeline <name> drop-pending-packages``, or ``pipeline.abort_packages()``:
    its windows are then read again).
    """
    if pipeline.has_pending_data:
        log.info("%s: finishing the load package an earlier run left", pipeline.pipeline_name)
        pipeline.run()
    try:
        info = pipeline.run(source, **kwargs)
    except PipelineStepFailed as exc:
        ours = _ours(exc)
        if ours is None:
            raise
        raise ours from None
    failed = last_run(pipeline, source.name).get("failed") or []
    if failed:
        raise FailedWindowsError(source.name, failed)
    return info
