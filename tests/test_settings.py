"""Settings: a TOML file < environment variables < flags; `config` shows them, key masked;
`sync` takes its defaults from them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support import USER_VARIABLES, away_from_the_user

from toefl_access.cli import main
from toefl_access.errors import UsageError
from toefl_access.mock import DEMO_AUTHCODE, MockApi, serve
from toefl_access.settings import load

CLEAN: dict[str, str | None] = dict.fromkeys(USER_VARIABLES)


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder (no ./toefl-access.toml) without the user's variables."""
    away_from_the_user(tmp_path, monkeypatch)


def toml(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_file_then_environment_then_flag(tmp_path: Path) -> None:
    conf = toml(tmp_path / "c.toml", 'db = "sqlite:///file.db"\nsensitive = "drop"\n'
                '[sync]\nwindow = "6h"\nconcurrency = 2\n')  # fmt: skip
    s = load(config=conf, env={})
    assert (s.db, s.sensitive, s.window, s.concurrency) == ("sqlite:///file.db", "drop", "6h", 2)
    assert s.where("db") == conf and s.where("window") == conf and s.where("lag") == "default"
    env = {"TOEFL_ACCESS_DB": "sqlite:///env.db", "TOEFL_ACCESS_SENSITIVE": "keep"}
    s = load(config=conf, env=env)
    assert (s.db, s.sensitive) == ("sqlite:///env.db", "keep")
    assert s.where("db") == "env TOEFL_ACCESS_DB"
    s = load(config=conf, env=env, db="sqlite:///flag.db", window="2h", sensitive=None)
    assert (s.db, s.window, s.sensitive) == ("sqlite:///flag.db", "2h", "keep")
    assert s.where("db") == "flag --db" and s.where("window") == "flag --window"
    assert s.concurrency == 2  # from the file: no flag, no variable


def test_where_the_file_comes_from(tmp_path: Path) -> None:
    assert load(env={}).config_path is None
    toml(tmp_path / "toefl-access.toml", 'sensitive = "drop"\n')
    s = load(env={})
    assert s.config_path == "toefl-access.toml" and s.sensitive == "drop"
    other = toml(tmp_path / "other.toml", 'sensitive = "keep"\n')
    assert load(env={"TOEFL_ACCESS_CONFIG": other}).sensitive == "keep"
    flagged = toml(tmp_path / "flagged.toml", 'sensitive = "hash"\n')
    s = load(config=flagged, env={"TOEFL_ACCESS_CONFIG": other})
    assert s.sensitive == "hash" and s.where("config_path") == "flag --config"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('authcode = "abc"\n', "do not put the API key in the config file"),
        ('colour = "red"\n', "unknown setting 'colour'"),
        ('[sync]\nspeed = 3\n', "unknown setting sync.speed"),
        ('sensitive = "maybe"\n', "sensitive = 'maybe'"),
        ('[sync]\nwindow = "soon"\n', "sync.window"),
        ('[sync]\nconcurrency = 500\n', "1 to 64"),
        ('[sync]\nconcurrency = "4"\n', "must be a whole number"),
        ('db = 5\n', "must be a string"),
        ('db = "x\n', "is not valid TOML"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    conf = toml(tmp_path / "bad.toml", text)
    with pytest.raises(UsageError, match=message) as info:
        load(config=conf, env={})
    assert "bad.toml" in str(info.value)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load(config=str(tmp_path / "none.toml"), env={})


def test_config_command_masks_the_key_and_shows_sources(tmp_path: Path) -> None:
    conf = toml(tmp_path / "c.toml", 'db = "postgresql://u:hunter2@db.example/x"\n'
                'sensitive = "drop"\n[sync]\nlookback = "7d"\n')  # fmt: skip
    env = {**CLEAN, "TOEFL_ACCESS_AUTHCODE": DEMO_AUTHCODE, "TOEFL_ACCESS_SENSITIVE": "keep"}
    result = CliRunner(env={**env, "COLUMNS": "200"}).invoke(main, ["config", "--config", conf])
    assert result.exit_code == 0, result.output
    out = result.output
    decoded = base64.b64decode(DEMO_AUTHCODE).decode()
    for secret in (DEMO_AUTHCODE, decoded, decoded.split(":", 1)[1], "hunter2"):
        assert secret not in out
    assert "postgresql://u:***@db.example/x" in out
    assert "sha256" in out and "env TOEFL_ACCESS_AUTHCODE" in out
    assert "keep" in out and "env TOEFL_ACCESS_SENSITIVE" in out
    assert "7d" in out and conf in out
    flagged = CliRunner(env={**env, "COLUMNS": "200"}).invoke(
        main, ["config", "--config", conf, "--db", "sqlite:///x.db"])
    assert "sqlite:///x.db" in flagged.output and "flag --db" in flagged.output


def run_params(db: Path) -> dict[str, Any]:
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        params = conn.execute(sa.text("SELECT params FROM sync_runs ORDER BY id DESC")).scalar()
        mode = conn.execute(
            sa.text("SELECT value FROM store_meta WHERE key = 'sensitive.mode'")).scalar()
    engine.dispose()
    return {**json.loads(params), "stored_mode": mode}


def test_sync_takes_its_defaults_from_the_settings(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(DEMO_AUTHCODE + "\n")
    key_file.chmod(0o600)
    db = tmp_path / "scores.db"
    api = MockApi(seed=0, per_day=5)
    with serve(api) as base:
        conf = toml(tmp_path / "c.toml", f'db = "sqlite:///{db}"\nbase_url = "{base}"\n'
                    f'authcode_file = "{key_file}"\nsensitive = "drop"\n'
                    '[sync]\nwindow = "12h"\nlookback = "1d"\nconcurrency = 2\n')  # fmt: skip
        args = ["sync", "--config", conf, "--since", "2026-03-01", "--until", "2026-03-03"]
        first = CliRunner(env=CLEAN).invoke(main, args)
        assert first.exit_code == 0, first.output
        params = run_params(db)
        assert (params["window"], params["lookback"], params["concurrency"]) == ("12h", "1d", 2)
        assert params["sensitive"] == "drop" and params["stored_mode"] == "drop"
        env = {**CLEAN, "TOEFL_ACCESS_SENSITIVE": "hash"}
        second = CliRunner(env=env).invoke(main, [*args, "--window", "1d", "--sensitive", "keep"])
        assert second.exit_code == 0, second.output
        params = run_params(db)
        assert params["window"] == "1d" and params["sensitive"] == "keep"
        assert "Warning: sensitive is 'keep' now but was 'drop'" in second.output
        third = CliRunner(env=env).invoke(main, args)
        assert third.exit_code == 0, third.output
        assert run_params(db)["sensitive"] == "hash"  # the variable beats the file


def test_bad_sync_settings_end_in_a_sentence(tmp_path: Path) -> None:
    conf = toml(tmp_path / "c.toml", '[sync]\nlag = "later"\n')
    result = CliRunner(env=CLEAN).invoke(main, ["sync", "--config", conf])
    assert result.exit_code == 1
    assert "sync.lag" in result.output and "c.toml" in result.output
