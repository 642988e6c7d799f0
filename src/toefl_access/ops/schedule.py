"""Running ``toefl-access sync`` on a schedule: a hardened systemd service + timer pair, or a
crontab line with ``flock``. Pure text: :mod:`toefl_access.cli` writes or prints it.

>>> plan = systemd_units(command=["/usr/local/bin/toefl-access"], every="1h", user_mode=False,
...                      env={"TOEFL_ACCESS_DB": "sqlite:////var/lib/toefl/scores.db"},
...                      env_file="/etc/toefl-access/toefl-access.env",
...                      writable=["/var/lib/toefl"], workdir="/var/lib/toefl")
>>> sorted(plan)
['env', 'service', 'timer']

The API key never goes into these files: the environment file names the key *file*
(``TOEFL_ACCESS_AUTHCODE_FILE``), which the service reads at each run.
"""

from __future__ import annotations

import datetime as dt
import shlex
from collections.abc import Mapping, Sequence

from ..api.dates import format_duration, parse_duration
from ..errors import UsageError

__all__ = ["calendar", "cron_line", "cron_spec", "env_file_text", "parse_every", "systemd_units"]

NAME = "toefl-access"


def parse_every(text: str) -> dt.timedelta:
    """How often to run: a duration that divides an hour or a day (``15m``, ``1h``, ``6h``,
    ``1d``), so that runs fall at the same times every day."""
    step = parse_duration(text, what="--every")
    seconds = int(step.total_seconds())
    ok = (
        seconds >= 60 and seconds % 60 == 0
        and (
            (seconds < 3600 and 3600 % seconds == 0)
            or (3600 <= seconds <= 86400 and seconds % 3600 == 0 and 86400 % seconds == 0)
        )
    )
    if not ok:
        raise UsageError(
            f"--every {text!r} does not divide an hour or a day: use e.g. 15m, 30m, 1h, 6h or 1d"
        )
    return step


def calendar(step: dt.timedelta) -> str:
    """The systemd ``OnCalendar=`` expression for a step from :func:`parse_every`."""
    minutes = int(step.total_seconds()) // 60
    if minutes < 60:
        return f"*-*-* *:00/{minutes}:00"
    hours = minutes // 60
    return "*-*-* 00:00:00" if hours == 24 else f"*-*-* 00/{hours}:00:00"


def cron_spec(step: dt.timedelta) -> str:
    """The five crontab time fields for a step from :func:`parse_every`."""
    minutes = int(step.total_seconds()) // 60
    if minutes < 60:
        return f"*/{minutes} * * * *"
    hours = minutes // 60
    if hours == 1:
        return "0 * * * *"
    return "0 0 * * *" if hours == 24 else f"0 */{hours} * * *"


def systemd_units(
    *,
    command: Sequence[str],
    every: str,
    user_mode: bool,
    env: Mapping[str, str],
    env_file: str,
    writable: Sequence[str],
    workdir: str,
    run_as: str | None = None,
) -> dict[str, str]:
    """The ``service``, ``timer`` and environment (``env``) files' texts.

    ``command`` runs the sync (toefl-access's path, or Python with ``-m toefl_access``, then
    ``sync`` or ``sync --all``);
    ``writable`` are the folders the service may write (the SQLite database's); everything
    else of the file system is read-only to it (``ProtectSystem=strict``).
    """
    step = parse_every(every)
    hardening = [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        *(f"ReadWritePaths={shlex.quote(p)}" for p in writable),
        "PrivateTmp=yes",
        "UMask=0077",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RestrictRealtime=yes",
    ]
    if not user_mode:
        # These need privileges a user's service manager does not have.
        hardening += [
            "ProtectHome=read-only",
            "PrivateDevices=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectControlGroups=yes",
            "CapabilityBoundingSet=",
        ]
    who = [f"User={run_as}"] if run_as and not user_mode else []
    service = "\n".join([
        "[Unit]",
        "Description=toefl-access: bring new TOEFL score reports into the database",
        "Documentation=https://pypi.org/project/toefl-access/",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        *who,
        f"EnvironmentFile={env_file}",
        # Relative paths in the settings mean what they meant where `schedule` ran.
        f"WorkingDirectory={workdir}",
        f"ExecStart={shlex.join(command)}",
        # Exit codes 1-3 are feed problems (failed windows, refused key, unreachable API):
        # the unit shows as failed, so `systemctl --failed` and OnFailure= hooks see them.
        "TimeoutStartSec=6h",
        *hardening,
        "",
    ])
    timer = "\n".join([
        "[Unit]",
        f"Description=Run toefl-access sync every {format_duration(step)}",
        "",
        "[Timer]",
        f"OnCalendar={calendar(step)}",
        # A run missed while the machine was off runs at the next boot.
        "Persistent=true",
        "RandomizedDelaySec=60",
        f"Unit={NAME}.service",
        "",
        "[Install]",
        "WantedBy=timers.target",
        "",
    ])
    return {"service": service, "timer": timer, "env": env_file_text(env)}


def env_file_text(env: Mapping[str, str]) -> str:
    """The environment file: ``NAME='value'`` lines that systemd's ``EnvironmentFile=`` and
    a POSIX shell's ``.`` read alike (single quotes: nothing inside is expanded)."""
    lines = [
        "# toefl-access settings for the scheduled sync (keep this file private: it may hold",
        "# a database password). The key itself stays in the file TOEFL_ACCESS_AUTHCODE_FILE",
        "# names.",
        *(f"{k}={_env_value(k, v)}" for k, v in env.items()),
        "",
    ]
    return "\n".join(lines)


def cron_line(
    *, command: Sequence[str], every: str, env_file: str, workdir: str, lock_file: str,
    log_file: str,
) -> str:
    """One crontab line: it reads the settings from ``env_file`` (so no password or webhook
    address shows in the crontab, the system log or ``ps``), and ``flock -n`` skips a run
    while the previous one still goes."""
    step = parse_every(every)
    q = shlex.quote
    line = (
        f"cd {q(workdir)} && set -a && . {q(env_file)} && set +a && "
        f"flock -n {q(lock_file)} {shlex.join(command)} >> {q(log_file)} 2>&1"
    )
    # cron gives % a meaning (a newline) in the command part.
    return f"{cron_spec(step)} {line.replace('%', chr(92) + '%')}"


def _env_value(name: str, value: str) -> str:
    if any(c in value for c in "\n\r'"):
        # Not the value: it may be a database URL with its password.
        raise UsageError(f"{name} holds a line break or a single quote, which the "
                         "environment file cannot carry: rename the file or folder it names")
    return f"'{value}'"
