"""The package as users install it (`pipx install toefl-access`): a wheel built from this
tree, installed into a fresh virtual environment, runs the demo."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str | Path, cwd: Path | None = None, timeout: int = 600) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)
    assert done.returncode == 0, f"{args}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


def test_a_built_wheel_installed_into_a_fresh_venv_runs_the_demo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, ROOT)
    (wheel,) = dist.glob("toefl_access-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in ("toefl_access/formats/layouts/scorelink-1600.csv",
                 "toefl_access/store/migrations/env.py", "toefl_access/py.typed"):
        assert data in names
    assert any(n.startswith("toefl_access/store/migrations/versions/v0006") for n in names)
    web = [n for n in names if n.startswith("toefl_access/web/")]
    assert any(n.endswith(".html") for n in web) and any(n.endswith(".css") for n in web)
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet",
        "--disable-pip-version-check", wheel)
    out = run(venv / "bin" / "toefl-access", "demo", "--days", "3", "--per-day", "5",
              "--db", tmp_path / "demo.db", cwd=tmp_path)
    assert "Done in" in out
    assert "toefl-access status" in out
    assert (tmp_path / "demo.db").stat().st_size > 0
