"""Airflow: a DAG that loads the dlt source for every configured TOEFL Access integration.

The integrations are the ``[[integration]]`` tables of the toefl-access settings file
(``TOEFL_ACCESS_CONFIG``); the DAG lists them when it runs and maps one task instance per
integration (each retried on its own), so adding an integration needs no DAG change. Each
task runs its own dlt pipeline (own state, own dataset) with that integration's key file, URL
and first ``since``; the shared ``[sync]`` settings and ``sensitive``/``hash_key_file`` come
from the top of the same file. The destination is ``TOEFL_ACCESS_DLT_DESTINATION`` (any dlt
destination, default ``duckdb``), its credentials in dlt's config (``.dlt/secrets.toml`` or
``DESTINATION__<NAME>__CREDENTIALS``, e.g. from an Airflow connection exported as env).

Copy it into your DAGs folder; Airflow 3 (``airflow.sdk``)::

    pip install 'toefl-access[dlt]' apache-airflow
    export TOEFL_ACCESS_CONFIG=/etc/toefl-access/toefl-access.toml

The key never travels through Airflow: tasks read the key files themselves (no XCom, no
connection, no task argument holds it). Keep ``pipelines_dir`` on a persistent volume, or
let dlt restore each pipeline's state from the destination on a fresh worker.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from airflow.sdk import dag, task

CONFIG = os.environ.get("TOEFL_ACCESS_CONFIG", "/etc/toefl-access/toefl-access.toml")
DESTINATION = os.environ.get("TOEFL_ACCESS_DLT_DESTINATION", "duckdb")
DATASET_PREFIX = "toefl_"


@dag(
    schedule="7 * * * *",  # hourly; a run reads what was released since the last one
    start_date=dt.datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,  # one pipeline run at a time per integration
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=10)},
    tags=["toefl_access", "dlt"],
)
def toefl_access_dlt() -> None:
    @task
    def integrations() -> list[str]:
        from toefl_access.settings import load

        return [i.name for i in load(config=CONFIG).integrations]

    @task(max_active_tis_per_dagrun=4)
    def load_integration(name: str) -> dict[str, Any]:
        import dlt

        import toefl_access.dlt
        from toefl_access.settings import load

        settings = load(config=CONFIG)
        integration = settings.integration(name)
        source_name = toefl_access.dlt.source_name(name)
        pipeline = dlt.pipeline(
            pipeline_name=f"toefl_access_{source_name}",
            destination=DESTINATION,
            dataset_name=f"{DATASET_PREFIX}{source_name}",
        )
        source = toefl_access.dlt.scores_for(integration, settings)
        # finishes a package a killed run left, then loads this run's windows; raises the
        # project's errors (a refused key) and FailedWindowsError after loading the rest
        info = toefl_access.dlt.run(pipeline, source)
        return {"integration": name, "loads": list(info.loads_ids),
                **toefl_access.dlt.last_run(pipeline, source_name)}

    load_integration.expand(name=integrations())


toefl_access_dlt()
