"""Commands: serve_cmds (being written)."""

from __future__ import annotations
