"""Commands: alert_cmds (being written)."""

from __future__ import annotations
