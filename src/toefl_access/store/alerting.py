"""The alerts log: which feed problems are open, and what was sent about them."""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa

from . import schema as s
from .core import StoreCore, _new_id
from .structs import AlertEvent

_encode = msgspec.json.Encoder().encode


class AlertKeeper(StoreCore):
    """Reads and appends ``alert_events`` (see :mod:`toefl_access.ops.alerts`)."""

    def record_alert(self, ev: AlertEvent) -> int:
        """Append an alert (an event opening or resolving); returns its id."""
        with self._guard("recording an alert"), self._write() as conn:
            result = conn.execute(
                s.alert_events.insert().values(
                    event=ev.event, status=ev.status, at=ev.at, text=ev.text,
                    details=_encode(ev.details).decode(), run_id=ev.run_id,
                    delivered=_encode(ev.delivered).decode(),
                )
            )
            return _new_id(result)

    def set_delivered(self, alert_id: int, delivered: dict[str, str]) -> None:
        """Record what each channel answered for an alert."""
        a = s.alert_events
        with self._guard("recording an alert's delivery"), self._write() as conn:
            conn.execute(
                a.update().where(a.c.id == alert_id)
                .values(delivered=_encode(delivered).decode())
            )

    def alerts(self, limit: int = 50) -> list[AlertEvent]:
        """The latest alerts, newest first."""
        a = s.alert_events
        with self._guard("reading the alerts"), self._read() as conn:
            rows = conn.execute(sa.select(a).order_by(a.c.id.desc()).limit(limit)).all()
        return [_event(r._mapping) for r in rows]

    def latest_alerts(self) -> dict[str, AlertEvent]:
        """Each event's latest row (open or resolved), by event name."""
        a = s.alert_events
        latest = sa.select(sa.func.max(a.c.id)).group_by(a.c.event).scalar_subquery()
        with self._guard("reading the latest alerts"), self._read() as conn:
            rows = conn.execute(sa.select(a).where(a.c.id.in_(latest))).all()
        return {ev.event: ev for ev in (_event(r._mapping) for r in rows)}

    def open_alerts(self) -> dict[str, AlertEvent]:
        """Each event whose latest row is ``open``, by event name."""
        return {k: ev for k, ev in self.latest_alerts().items() if ev.status == "open"}


def _event(m: Any) -> AlertEvent:
    return AlertEvent(
        event=m["event"], status=m["status"], at=m["at"], text=m["text"],
        details=msgspec.json.decode(m["details"]), run_id=m["run_id"],
        delivered=msgspec.json.decode(m["delivered"]), id=m["id"],
    )
