"""The key never leaks: not in output, debug logs, the database, the archive or files."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import zlib
from pathlib import Path

import sqlalchemy as sa

from toefl_access.mock import DEMO_AUTHCODE, MockApi, serve

SECRETS = (DEMO_AUTHCODE, base64.b64decode(DEMO_AUTHCODE).decode(), "demo-secret")


def toefl_access(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "toefl_access", "-vv", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def database_bytes(db: Path) -> list[bytes]:
    """The database file itself and every archived body, decompressed."""
    blobs = [db.read_bytes()]
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        for (body,) in conn.execute(sa.text("SELECT body FROM response_archive")):
            if body is not None:
                blobs.append(zlib.decompress(body))
    engine.dispose()
    return blobs


def test_the_key_appears_nowhere_after_a_run_with_faults(tmp_path: Path) -> None:
    api = MockApi(
        seed=3, per_day=30, faults=["500:0.1", "429:0.1:0", "reset:0.05", "truncate:0.05"]
    )
    db = tmp_path / "scores.db"
    with serve(api) as base:
        env = {**os.environ, "TOEFL_ACCESS_AUTHCODE": DEMO_AUTHCODE, "TOEFL_ACCESS_BASE_URL": base}
        env.pop("TOEFL_ACCESS_AUTHCODE_FILE", None)
        runs = [
            toefl_access(
                "sync",
                "--db",
                f"sqlite:///{db}",
                "--since",
                "2026-03-01",
                "--until",
                "2026-03-08",
                env=env,
                cwd=tmp_path,
            ),
            toefl_access("check-key", env=env, cwd=tmp_path),
            toefl_access(
                "fetch",
                "--start",
                "2026-03-01",
                "--end",
                "2026-03-02",
                "--raw",
                env=env,
                cwd=tmp_path,
            ),
            toefl_access("status", "--db", f"sqlite:///{db}", env=env, cwd=tmp_path),
            toefl_access(
                "sync",
                "--db",
                f"sqlite:///{db}",
                env={**env, "TOEFL_ACCESS_AUTHCODE": base64.b64encode(b"someone:else").decode()},
                cwd=tmp_path,
            ),
        ]
    assert [r.returncode for r in runs[:4]] == [0, 0, 0, 0], [r.stderr[-2000:] for r in runs]
    assert runs[4].returncode == 2
    assert any("retrying" in r.stderr for r in runs), "the faults should have caused retries"
    assert any("DEBUG" in r.stderr for r in runs), "debug logging should have been on"
    texts = [r.stdout + r.stderr for r in runs]
    files = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p != db]
    for secret in SECRETS:
        for text in texts:
            assert secret not in text
        for blob in [*database_bytes(db), *files]:
            assert secret.encode() not in blob


def test_status_reports_a_database_file_others_can_read(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from toefl_access.cli import main
    from toefl_access.store import open_store

    db = tmp_path / "loose.db"
    with open_store(f"sqlite:///{db}"):
        pass
    runner = CliRunner()
    quiet = runner.invoke(main, ["status", "--db", f"sqlite:///{db}"])
    assert quiet.exit_code == 0 and "other users" not in quiet.stderr
    db.chmod(0o644)
    loud = runner.invoke(main, ["status", "--db", f"sqlite:///{db}"])
    assert loud.exit_code == 0
    assert loud.stderr == (
        f"Warning: the database file {db} can be read by other users (mode 644) and holds "
        f"personal data: chmod 600 {db}\n"
    )
