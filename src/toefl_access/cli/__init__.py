"""The ``toefl-access`` command: a thin click skin over the library.

Every command turns a :class:`~toefl_access.errors.ToeflAccessError` into one sentence on
stderr and the error's exit code; no traceback reaches the user.
"""

from __future__ import annotations

# The commands live in modules by family; importing them registers them on ``main``.
from . import (
    alert_cmds,  # noqa: F401
    api_cmds,  # noqa: F401
    export_cmds,  # noqa: F401
    history_cmds,  # noqa: F401
    match_cmds,  # noqa: F401
    mock_cmds,  # noqa: F401
    ops_cmds,  # noqa: F401
    parse_cmds,  # noqa: F401
    serve_cmds,  # noqa: F401
    sync_cmds,  # noqa: F401
)
from .base import err_console, main, output_stream, write_records

__all__ = ["err_console", "main", "output_stream", "write_records"]
