"""A child process of tests/test_dlt.py: runs the dlt source and SIGKILLs itself at one point.

Usage: ``python dlt_kill.py CASE PIPELINES_DIR DUCKDB_FILE NAME BASE_URL SINCE UNTIL``; the key
comes from the environment (``SOURCES__TOEFL_ACCESS__AUTHCODE``), as in production. Exits
with -9 when killed, 3 when the run finished without reaching its kill point.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(case: str) -> None:
    """Patch dlt (or the source) so that the process dies at ``case``."""
    if case == "extract":  # mid-extract, after three windows were parsed
        import toefl_access.dlt.source as source

        parse, calls = source.parse_table, [0]  # type: ignore[attr-defined]

        def parse_table(*args: Any, **kw: Any) -> Any:
            calls[0] += 1
            if calls[0] == 4:
                die()
            return parse(*args, **kw)

        source.parse_table = parse_table  # type: ignore[attr-defined]
    elif case == "before_load":  # extracted and normalized, nothing loaded
        from dlt.pipeline.pipeline import Pipeline

        Pipeline.load = lambda self, *a, **k: die()  # type: ignore[method-assign,assignment]
    elif case.startswith("after_commit:"):  # a load job committed, not yet marked done
        from dlt.common.destination.client import RunnableLoadJob

        prefix, _, suffix = case.split(":", 1)[1].partition("*")
        release = RunnableLoadJob._release

        def _release(self: Any, next_state: Any) -> Any:
            name = self.file_name()
            if next_state == "completed" and name.startswith(prefix) and name.endswith(suffix):
                die()
            return release(self, next_state)

        RunnableLoadJob._release = _release  # type: ignore[method-assign]
    elif case == "complete_package":  # every job done, the load not recorded
        from dlt.load.load import Load

        Load.complete_package = lambda self, *a, **k: die()  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown case {case!r}")


def main() -> None:
    case, pipelines_dir, db, name, url, since, until = sys.argv[1:]
    import dlt

    import toefl_access.dlt

    pipeline = dlt.pipeline(name, pipelines_dir=pipelines_dir, dataset_name=name,
                            destination=dlt.destinations.duckdb(db))
    arm(case)
    pipeline.run(toefl_access.dlt.scores(since=since, until=until, base_url=url))
    sys.exit(3)


if __name__ == "__main__":
    main()
