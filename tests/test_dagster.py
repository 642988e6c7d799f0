"""The orchestrator recipes in examples/: the Dagster assets materialize for real, in-process,
against the mock server into DuckDB; the Airflow DAG compiles (Airflow itself is too heavy
for the test extra)."""

from __future__ import annotations

import ast
import base64
import datetime as dt
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

dg = pytest.importorskip("dagster")
duckdb = pytest.importorskip("duckdb")

from toefl_access.api.dates import UTC  # noqa: E402
from toefl_access.mock import MockApi, serve  # noqa: E402
from toefl_access.settings import load  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KEYS = {
    "graduate": base64.b64encode(b"graduate-client:graduate-secret").decode(),
    "language-center": base64.b64encode(b"language-client:language-secret").decode(),
}


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def settings_file(tmp_path: Path, urls: dict[str, str], since: dt.date) -> Path:
    (tmp_path / "hash.key").write_text("a-hash-key-for-the-warehouse-0123")
    tables = ""
    for name, url in urls.items():
        key_file = tmp_path / f"{name}.key"
        key_file.write_text(KEYS[name])
        key_file.chmod(0o600)
        tables += (f'\n[[integration]]\nname = "{name}"\nauthcode_file = "{key_file}"\n'
                   f'base_url = "{url}"\nsince = "{since.isoformat()}"\n')
    path = tmp_path / "toefl-access.toml"
    path.write_text(
        f'db = "sqlite:///{tmp_path}/{{name}}.db"\n'
        f'sensitive = "hash"\nhash_key_file = "{tmp_path / "hash.key"}"\n'
        '\n[sync]\nwindow = "1d"\nlookback = "2d"\nconcurrency = 2\n' + tables
    )
    (tmp_path / "hash.key").chmod(0o600)
    return path


def counts(db: Path) -> dict[str, Any]:
    with duckdb.connect(str(db), read_only=True) as con:
        out: dict[str, Any] = {}
        for dataset in ("toefl_graduate", "toefl_language_center"):
            current = con.execute(f"select count(*), min(_integration) "
                                  f"from {dataset}.score_reports").fetchone()
            revisions = con.execute(
                "select count(*), count(distinct (registration_number, test_date, "
                "institution_code, department_code, _reported_pos)) "
                f"from {dataset}.report_revisions"
            ).fetchone()
            out[dataset] = (current, revisions)
        return out


def test_the_dagster_assets_materialize_each_integration_into_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    for name in ("SOURCES__TOEFL_ACCESS__AUTHCODE", "TOEFL_ACCESS_AUTHCODE",
                 "TOEFL_ACCESS_AUTHCODE_FILE", "TOEFL_ACCESS_HASH_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    since = (dt.datetime.now(UTC) - dt.timedelta(days=3)).date()
    with serve(MockApi(authcode=KEYS["graduate"], seed=1, per_day=20)) as a, \
            serve(MockApi(authcode=KEYS["language-center"], seed=2, per_day=20)) as b:
        config = settings_file(tmp_path, {"graduate": a, "language-center": b}, since)
        monkeypatch.setenv("TOEFL_ACCESS_CONFIG", str(config))
        recipe = example("dagster_assets")
        assert {k.to_user_string() for k in recipe.defs.resolve_all_asset_keys()} == {
            "toefl_access_graduate", "toefl_access_language_center"}
        assets = recipe.integration_assets(load(config=str(config)))
        warehouse = recipe.Warehouse(destination="duckdb",
                                     credentials=str(tmp_path / "warehouse.duckdb"),
                                     pipelines_dir=str(tmp_path / "pipelines"))
        first = dg.materialize(assets, resources={"warehouse": warehouse})
        assert first.success
        events = first.get_asset_materialization_events()
        assert len(events) == 2
        assert all(e.materialization.metadata["records"].value > 0 for e in events)
        loaded = counts(tmp_path / "warehouse.duckdb")
        again = dg.materialize(assets, resources={"warehouse": warehouse})
        assert again.success
    assert counts(tmp_path / "warehouse.duckdb") == loaded  # the lookback re-read adds nothing
    (graduate, revisions), (center, _) = loaded.values()
    assert graduate[0] > 0 and graduate[1] == "graduate" and center[1] == "language-center"
    assert revisions[0] == revisions[1]
    for key in KEYS.values():  # the keys stay in their files
        assert key.encode() not in (tmp_path / "warehouse.duckdb").read_bytes()


def test_the_airflow_dag_compiles_and_maps_a_task_per_integration() -> None:
    path = EXAMPLES / "airflow_dag.py"
    text = path.read_text("utf-8")
    compile(text, str(path), "exec")
    tree = ast.parse(text)
    functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert {"toefl_access_dlt", "integrations", "load_integration"} <= functions
    assert "load_integration.expand(name=integrations())" in text
    assert "toefl_access.dlt.run(pipeline, source)" in text
    assert "toefl_access.dlt.scores_for(integration, settings)" in text  # key read by the task
