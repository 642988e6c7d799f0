"""A faithful local TOEFL Access API: for tests, demos and drills, in-process or on loopback.

>>> from toefl_access.mock import DEMO_AUTHCODE, MockApi, serve
>>> api = MockApi(seed=1, per_day=50, faults=["429:0.1"])
>>> with serve(api) as url:                  # doctest: +SKIP
...     ...                                 # http://127.0.0.1:PORT/scores, key DEMO_AUTHCODE
>>> transport = api.transport()             # the same answers for httpx, without sockets

:mod:`.population` decides which reports exist and when they are released, :mod:`.api` the
contract (see its documentation for the exact check order), :mod:`.faults` what can go wrong.
Reports are made of pooled parts rendered once (:mod:`.parts`, :mod:`.wire`): streaming a
report joins a dozen byte strings instead of formatting a hundred fields.
"""

from __future__ import annotations

from . import population
from .answer import Answer
from .api import (
    DEMO_AUTHCODE,
    SANDBOX_PATH,
    SCORES_PATH,
    MockApi,
    Served,
    key_format_ok,
    key_seed,
    numbered_authcode,
)
from .faults import Fault, parse_fault
from .server import serve

__all__ = [
    "DEMO_AUTHCODE",
    "SANDBOX_PATH",
    "SCORES_PATH",
    "Answer",
    "Fault",
    "MockApi",
    "Served",
    "key_format_ok",
    "key_seed",
    "numbered_authcode",
    "parse_fault",
    "population",
    "serve",
]
