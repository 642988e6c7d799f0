"""toefl-access: TOEFL score reports from the TOEFL Access API into your own database.

The public names are re-exported here; everything else is an implementation detail.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import ToeflAccessError
from .layout import Field, Layout
from .parse import parse
from .record import Record, RecordWarning
from .textformat import render

__all__ = [
    "Field",
    "Layout",
    "Record",
    "RecordWarning",
    "ToeflAccessError",
    "__version__",
    "parse",
    "render",
]
