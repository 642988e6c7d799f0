"""Commands: ``schedule`` (a systemd timer or a crontab line for ``sync``)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from ..errors import ToeflAccessError, UsageError
from ..settings import ENV_AUTHCODE, Settings
from .base import main
from .configured import load_settings, settings_options

#: Settings from the environment that the scheduled run gets too; never the key itself.
_NOT_COPIED = {ENV_AUTHCODE, "TOEFL_ACCESS_SERVE_TOKEN"}


@main.command("schedule")
@click.option("--systemd", "kind", flag_value="systemd",
              help="Write a systemd service + timer pair (see --user, --print, --dir).")
@click.option("--cron", "kind", flag_value="cron",
              help="Write the settings file for cron and print a crontab line (with flock, so "
              "runs never overlap).")
@click.option("--every", default="1h", show_default=True,
              help="How often: a duration dividing an hour or a day (15m, 1h, 6h, 1d).")
@click.option("--user", "user_mode", is_flag=True,
              help="A user timer (systemctl --user) instead of a system one.")
@click.option("--print", "print_only", is_flag=True,
              help="Print the files instead of writing them.")
@click.option("--dir", "target_dir", type=click.Path(file_okay=False),
              help="Write the files into this folder (default: systemd's folders, and "
              "~/.config/toefl-access or /etc/toefl-access for the environment file).")
@click.option("--run-as", help="The user a system service runs as (default: you).")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
@settings_options
def schedule_cmd(
    kind: str | None,
    every: str,
    user_mode: bool,
    print_only: bool,
    target_dir: str | None,
    run_as: str | None,
    force: bool,
    config_path: str | None,
    db_url: str | None,
) -> None:
    """Run `sync` on a schedule: a hardened systemd timer, or a crontab line.

    The scheduled run uses this command's settings (the settings file, the database, the
    key file and the other TOEFL_ACCESS_* variables set now); the key stays in its file.
    The first sync needs a start (`sync --since DATE`); the timer goes on from there.
    """
    from ..ops import schedule

    if kind is None:
        raise UsageError("choose --systemd or --cron")
    schedule.parse_every(every)
    conf = load_settings(config_path, db=db_url)
    env = _environment(conf)
    command = [*_command(), "sync", *(["--all"] if conf.integrations else [])]
    folders = list(dict.fromkeys(f for f in map(_db_folder, _databases(conf)) if f))
    folder = folders[0] if len(folders) == 1 else None
    workdir = str(Path.cwd())
    if kind == "cron":
        if user_mode or run_as:
            raise UsageError("--user and --run-as go with --systemd")
        env_dir = Path(target_dir) if target_dir else _config_home() / "toefl-access"
        env_path = (env_dir / "toefl-access.env").absolute()
        place = folder or Path.home()
        line = schedule.cron_line(
            command=command, every=every, env_file=str(env_path), workdir=workdir,
            lock_file=str(place / ".toefl-access-sync.lock"),
            log_file=str(place / "toefl-access-sync.log"),
        )
        env_text = schedule.env_file_text(env)
        if print_only:
            click.echo(f"# {env_path}\n{env_text}\n# crontab line\n{line}")
            return
        _write({"env": env_path}, {"env": env_text}, force=force, err=True)  # stdout: the line
        click.echo(line)
        click.echo("Add the line with `crontab -e` (keep your other lines).", err=True)
        _first_run_hint(conf)
        return
    if user_mode:
        units = Path(target_dir) if target_dir else _config_home() / "systemd" / "user"
        env_dir = Path(target_dir) if target_dir else _config_home() / "toefl-access"
    else:
        units = Path(target_dir or "/etc/systemd/system")
        env_dir = Path(target_dir or "/etc/toefl-access")
    if not user_mode and run_as is None and os.geteuid() != 0:
        run_as = _me()
    files = schedule.systemd_units(
        command=command, every=every, user_mode=user_mode, env=env,
        env_file=str((env_dir / "toefl-access.env").absolute()),
        writable=[str(f) for f in folders], workdir=workdir, run_as=run_as,
    )
    paths = {
        "service": units / "toefl-access.service",
        "timer": units / "toefl-access.timer",
        "env": env_dir / "toefl-access.env",
    }
    if print_only:
        for name, path in paths.items():
            click.echo(f"# {path.absolute()}\n{files[name]}")
        return
    _write(paths, files, force=force)
    ctl = "systemctl --user" if user_mode else "systemctl"
    click.echo(f"Next: {ctl} daemon-reload && {ctl} enable --now toefl-access.timer")
    click.echo(f"Check: {ctl} list-timers toefl-access.timer; "
               f"journalctl {'--user ' if user_mode else ''}-u toefl-access.service")
    if user_mode:
        click.echo(f"To run while you are logged out: loginctl enable-linger {_me()}")
    if not user_mode and run_as is None:
        click.echo("Warning: the service runs as root; give --run-as USER to run it as a "
                   "user that can read the key file and write the database.", err=True)
    _first_run_hint(conf)


def _environment(conf: Settings) -> dict[str, str]:
    env = {k: v for k, v in sorted(os.environ.items())
           if k.startswith("TOEFL_ACCESS_") and k not in _NOT_COPIED}
    if conf.config_path:
        env["TOEFL_ACCESS_CONFIG"] = str(Path(conf.config_path).absolute())
    if conf.integrations:  # `sync --all`: each key file and database from the settings file
        for i in conf.integrations:
            _key_file(i.authcode_file, f"[[integration]] {i.name}")
        env.pop("TOEFL_ACCESS_DB", None)
        env.pop("TOEFL_ACCESS_AUTHCODE_FILE", None)
        return dict(sorted(env.items()))
    if not conf.authcode_file:
        raise UsageError(
            "a scheduled sync reads the key from a file: write the key to a file only the "
            "service's user can read (chmod 600) and set TOEFL_ACCESS_AUTHCODE_FILE or "
            "authcode_file in the settings file"
        )
    env["TOEFL_ACCESS_AUTHCODE_FILE"] = str(_key_file(conf.authcode_file, "the key file"))
    env["TOEFL_ACCESS_DB"] = _absolute_db(conf.db)
    return dict(sorted(env.items()))


def _key_file(path: str, what: str) -> Path:
    key_file = Path(path).expanduser().absolute()
    if not key_file.is_file():
        raise UsageError(f"{what}: the key file {key_file} does not exist")
    return key_file


def _databases(conf: Settings) -> list[str]:
    """The database URLs the scheduled run writes (one, or each integration's)."""
    return [_absolute_db(i.db) for i in conf.integrations] or [_absolute_db(conf.db)]


def _absolute_db(url: str) -> str:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(url.removeprefix("sqlite:///")).expanduser().absolute())
    return url


def _db_folder(url: str) -> Path | None:
    return Path(url.removeprefix("sqlite:///")).parent if url.startswith("sqlite:///") else None


def _command() -> list[str]:
    """How to run this very toefl-access (its script beside this Python, else on PATH)."""
    beside = Path(sys.executable).with_name("toefl-access")
    if beside.is_file():
        return [str(beside.absolute())]
    found = shutil.which("toefl-access")
    return [str(Path(found).absolute())] if found else [sys.executable, "-m", "toefl_access"]


def _config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def _me() -> str:
    import getpass

    return getpass.getuser()


def _write(paths: dict[str, Path], files: dict[str, str], *, force: bool,
           err: bool = False) -> None:
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not force:
        raise UsageError(f"{', '.join(existing)} already exist(s): give --force to replace")
    for name, path in paths.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            # The environment file may hold a database password: private from the start.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                         0o600 if name == "env" else 0o644)
            with os.fdopen(fd, "w") as f:
                f.write(files[name])
            os.replace(tmp, path)
        except PermissionError:
            raise UsageError(
                f"cannot write {path}: run as root for a system timer, or give --user"
            ) from None
        click.echo(f"Wrote {path}", err=err)


def _first_run_hint(conf: Settings) -> None:
    from ..store import open_store

    if conf.integrations:
        return  # each [[integration]] has its own `since` for the first run
    url = _absolute_db(conf.db)
    folder = _db_folder(url)
    if folder is not None and not Path(url.removeprefix("sqlite:///")).exists():
        click.echo("Note: the database does not exist yet: run `toefl-access sync --since "
                   "YYYY-MM-DD` once by hand first.", err=True)
        return
    try:
        with open_store(url, upgrade=False) as store:
            empty = store.watermark() is None
    except ToeflAccessError:  # only a hint; the scheduled sync reports real errors
        return
    if empty:
        click.echo("Note: nothing is synced yet: run `toefl-access sync --since YYYY-MM-DD` "
                   "once by hand first; the timer goes on from its watermark.", err=True)
