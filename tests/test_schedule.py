"""`schedule`: the systemd units and the crontab line, checked as text and run for real."""

from __future__ import annotations

import datetime as dt
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from toefl_access.cli import main
from toefl_access.errors import UsageError
from toefl_access.mock import DEMO_AUTHCODE, MockApi, serve
from toefl_access.ops.schedule import calendar, cron_spec, parse_every
from toefl_access.store import open_store

EXE = str(Path(sys.executable).with_name("toefl-access"))


@pytest.mark.parametrize(("every", "on_calendar", "cron"), [
    ("15m", "*-*-* *:00/15:00", "*/15 * * * *"),
    ("1h", "*-*-* 00/1:00:00", "0 * * * *"),
    ("6h", "*-*-* 00/6:00:00", "0 */6 * * *"),
    ("1d", "*-*-* 00:00:00", "0 0 * * *"),
    ("24h", "*-*-* 00:00:00", "0 0 * * *"),
])
def test_every_gives_calendar_and_cron_times(every: str, on_calendar: str, cron: str) -> None:
    step = parse_every(every)
    assert (calendar(step), cron_spec(step)) == (on_calendar, cron)


@pytest.mark.parametrize("every", ["7m", "5h", "90s", "0", "2d", "soon"])
def test_every_must_divide_an_hour_or_a_day(every: str) -> None:
    with pytest.raises(UsageError, match="--every"):
        parse_every(every)


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("TOEFL_ACCESS_"):
            monkeypatch.delenv(name)
    key = tmp_path / "key"
    key.write_text(DEMO_AUTHCODE + "\n")
    key.chmod(0o600)
    monkeypatch.setenv("TOEFL_ACCESS_AUTHCODE_FILE", str(key))
    monkeypatch.setenv("TOEFL_ACCESS_AUTHCODE", DEMO_AUTHCODE)  # set in the shell: not copied
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_systemd_print_shows_the_three_files(setup: Path) -> None:
    result = CliRunner().invoke(main, ["schedule", "--systemd", "--user", "--print", "--every",
                                       "30m", "--dir", str(setup / "units"), "--db",
                                       "sqlite:///data/scores.db"])
    assert result.exit_code == 0, result.output
    units = setup / "units"
    assert result.stdout == f"""\
# {units}/toefl-access.service
[Unit]
Description=toefl-access: bring new TOEFL score reports into the database
Documentation=https://pypi.org/project/toefl-access/
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
EnvironmentFile={units}/toefl-access.env
WorkingDirectory={setup}
ExecStart={EXE} sync
TimeoutStartSec=6h
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={setup}/data
PrivateTmp=yes
UMask=0077
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictRealtime=yes

# {units}/toefl-access.timer
[Unit]
Description=Run toefl-access sync every 30m

[Timer]
OnCalendar=*-*-* *:00/30:00
Persistent=true
RandomizedDelaySec=60
Unit=toefl-access.service

[Install]
WantedBy=timers.target

# {units}/toefl-access.env
# toefl-access settings for the scheduled sync (keep this file private: it may hold
# a database password). The key itself stays in the file TOEFL_ACCESS_AUTHCODE_FILE
# names.
TOEFL_ACCESS_AUTHCODE_FILE='{setup}/key'
TOEFL_ACCESS_DB='sqlite:///{setup}/data/scores.db'

"""
    assert DEMO_AUTHCODE not in result.output
    assert not units.exists()


def test_a_system_service_is_hardened_further_and_runs_as_a_user(setup: Path) -> None:
    result = CliRunner().invoke(main, ["schedule", "--systemd", "--print", "--run-as",
                                       "toefl", "--dir", str(setup)])
    assert result.exit_code == 0, result.output
    for line in ("User=toefl", "ProtectHome=read-only", "PrivateDevices=yes",
                 "CapabilityBoundingSet=", f"ReadWritePaths={setup}"):
        assert f"\n{line}\n" in result.stdout


def test_without_a_key_file_schedule_says_what_to_do(setup: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOEFL_ACCESS_AUTHCODE_FILE")
    result = CliRunner().invoke(main, ["schedule", "--systemd", "--print"])
    assert result.exit_code == 1
    assert "TOEFL_ACCESS_AUTHCODE_FILE" in result.output and "chmod 600" in result.output
    assert DEMO_AUTHCODE not in result.output


def test_choose_one_kind(setup: Path) -> None:
    result = CliRunner().invoke(main, ["schedule"])
    assert result.exit_code == 1 and "choose --systemd or --cron" in result.output
    result = CliRunner().invoke(main, ["schedule", "--cron", "--user"])
    assert result.exit_code == 1 and "go with --systemd" in result.output


def test_a_value_that_the_environment_file_cannot_carry_is_refused_without_showing_it(
    setup: Path,
) -> None:
    secret_url = "postgresql://toefl:it's-secret@db.example.edu/admissions"
    result = CliRunner().invoke(main, ["schedule", "--systemd", "--print", "--db", secret_url])
    assert result.exit_code == 1
    assert "TOEFL_ACCESS_DB holds a line break or a single quote" in result.output
    assert "secret" not in result.output


def test_written_files_are_private_and_not_overwritten(setup: Path) -> None:
    target = setup / "units"
    args = ["schedule", "--systemd", "--user", "--dir", str(target)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "systemctl --user daemon-reload && systemctl --user enable --now" in result.stdout
    assert (target / "toefl-access.env").stat().st_mode & 0o777 == 0o600
    assert (target / "toefl-access.timer").read_text().count("OnCalendar=") == 1
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "--force" in again.output
    assert CliRunner().invoke(main, [*args, "--force"]).exit_code == 0


def test_systemd_accepts_the_units(setup: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    target = setup / "units"
    result = CliRunner().invoke(main, ["schedule", "--systemd", "--user", "--dir", str(target)])
    assert result.exit_code == 0, result.output
    check = subprocess.run(
        [analyze, "verify", "--man=no", str(target / "toefl-access.service"),
         str(target / "toefl-access.timer")],
        capture_output=True, text=True, timeout=60,
    )
    if "Failed to" in check.stderr and "toefl-access" not in check.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {check.stderr.strip()[:200]}")
    assert check.returncode == 0, check.stderr
    assert "toefl-access" not in check.stderr, check.stderr


@pytest.fixture
def mock_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with serve(MockApi(seed=1, per_day=5)) as url:
        monkeypatch.setenv("TOEFL_ACCESS_BASE_URL", url)
        monkeypatch.delenv("TOEFL_ACCESS_AUTHCODE")  # the key comes from its file only
        yield url


def first_sync(db: str) -> None:
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).strftime("%Y-%m-%d")
    result = CliRunner().invoke(main, ["sync", "--db", db, "--since", since])
    assert result.exit_code == 0, result.output


def runs(db: str) -> list[int | None]:
    with open_store(db) as store:
        return [r.exit_code for r in store.status(runs=10).runs]


def env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            out[name] = shlex.split(value)[0]
    return out


def test_the_systemd_service_runs_a_sync(setup: Path, mock_url: str) -> None:
    db = f"sqlite:///{setup}/data/scores.db"
    (setup / "data").mkdir()
    first_sync(db)
    target = setup / "units"
    result = CliRunner().invoke(main, ["schedule", "--systemd", "--user", "--dir", str(target),
                                       "--db", db])
    assert result.exit_code == 0, result.output
    service = (target / "toefl-access.service").read_text()
    (exec_start,) = [ln.removeprefix("ExecStart=") for ln in service.splitlines()
                     if ln.startswith("ExecStart=")]
    env = env_file(target / "toefl-access.env")
    assert env["TOEFL_ACCESS_BASE_URL"] == mock_url and "TOEFL_ACCESS_AUTHCODE" not in env
    done = subprocess.run(shlex.split(exec_start), env={"PATH": "/usr/bin:/bin", **env},
                          cwd="/", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert runs(db) == [0, 0]


def test_the_cron_line_runs_a_sync_under_flock(setup: Path, mock_url: str) -> None:
    db = f"sqlite:///{setup}/scores.db"
    first_sync(db)
    (setup / "work").mkdir()
    os.chdir(setup / "work")
    conf = setup / "conf"
    result = CliRunner().invoke(main, ["schedule", "--cron", "--every", "15m", "--db", db,
                                       "--dir", str(conf)])
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    env = conf / "toefl-access.env"
    assert line == (
        f"*/15 * * * * cd {setup}/work && set -a && . {env} && set +a && flock -n "
        f"{setup}/.toefl-access-sync.lock {EXE} sync >> {setup}/toefl-access-sync.log 2>&1"
    )
    assert env.stat().st_mode & 0o777 == 0o600
    assert env_file(env)["TOEFL_ACCESS_BASE_URL"] == mock_url
    assert "crontab -e" in result.stderr
    command = line.split(" ", 5)[5]
    done = subprocess.run(["sh", "-c", command], env={"PATH": "/usr/bin:/bin"}, cwd="/",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.stderr, (setup / "toefl-access-sync.log").read_text())
    assert runs(db) == [0, 0]
    assert "new" in (setup / "toefl-access-sync.log").read_text()


def test_the_cron_settings_file_is_printed_or_written_once(setup: Path) -> None:
    conf = setup / "conf"
    printed = CliRunner().invoke(main, ["schedule", "--cron", "--print", "--dir", str(conf)])
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.startswith(f"# {conf}/toefl-access.env\n# toefl-access settings")
    assert "\n# crontab line\n0 * * * * cd " in printed.stdout and not conf.exists()
    args = ["schedule", "--cron", "--dir", str(conf)]
    assert CliRunner().invoke(main, args).exit_code == 0
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "--force" in again.output


def test_with_integrations_the_schedule_runs_sync_all(setup: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOEFL_ACCESS_AUTHCODE_FILE")
    key = setup / "key"
    (setup / "east").mkdir()
    (setup / "west").mkdir()
    conf = setup / "toefl-access.toml"
    conf.write_text(
        f'[[integration]]\nname = "east"\nauthcode_file = "{key}"\n'
        f'db = "sqlite:///{setup}/east/scores.db"\n'
        f'[[integration]]\nname = "west"\nauthcode_file = "{key}"\n'
        f'db = "sqlite:///{setup}/west/scores.db"\n'
    )
    result = CliRunner().invoke(main, ["schedule", "--systemd", "--user", "--print",
                                       "--dir", str(setup / "u")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"\nExecStart={EXE} sync --all\n" in out
    assert f"\nReadWritePaths={setup}/east\nReadWritePaths={setup}/west\n" in out
    assert f"\nTOEFL_ACCESS_CONFIG='{conf}'\n" in out
    assert "TOEFL_ACCESS_DB=" not in out and "TOEFL_ACCESS_AUTHCODE_FILE=" not in out
    cron = CliRunner().invoke(main, ["schedule", "--cron", "--print", "--dir", str(setup)])
    assert cron.exit_code == 0 and f" {EXE} sync --all >> " in cron.stdout
    key.unlink()
    missing = CliRunner().invoke(main, ["schedule", "--cron", "--print"])
    assert missing.exit_code == 1
    assert "[[integration]] east: the key file" in missing.output
