"""Dagster: one asset per TOEFL Access integration, each loading the dlt source into a warehouse.

The integrations are the ``[[integration]]`` tables of the toefl-access settings file
(``TOEFL_ACCESS_CONFIG``, else ``toefl-access.toml`` in the current folder): each asset runs
its own dlt pipeline (its own state, its own dataset) with that integration's key file, URL
and first ``since``; ``window``, ``lookback``, ``lag``, ``concurrency``, ``sensitive`` and
``hash_key_file`` come from the top of the same file. The warehouse is the resource
``warehouse``: any dlt destination, its credentials in dlt's own config
(``.dlt/secrets.toml`` or ``DESTINATION__<NAME>__CREDENTIALS``).

::

    pip install 'toefl-access[dlt]' dagster dagster-webserver
    export TOEFL_ACCESS_CONFIG=/etc/toefl-access/toefl-access.toml
    dagster dev -f examples/dagster_assets.py

Schedule it hourly (``toefl_access_hourly`` below) or materialize one integration by hand. An
asset whose windows failed fails after loading the rest; its next run reads them again.
"""

# no `from __future__ import annotations`: Dagster reads the annotations of `context` and
# of the resource at definition time
from typing import Any

import dagster as dg
import dlt
from dlt.common.destination import Destination
from dlt.common.pipeline import get_dlt_pipelines_dir

import toefl_access.dlt
from toefl_access.settings import Integration, Settings, load


class Warehouse(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where the pipelines load. ``destination`` is a dlt destination name (``duckdb``,
    ``snowflake``, ``bigquery``, ``postgres``, ...); ``credentials`` is optional (a DuckDB
    file, a connection string), else dlt reads them from its config. On workers without a
    persistent ``pipelines_dir`` dlt restores each pipeline's state from the destination."""

    destination: str = "duckdb"
    credentials: str | None = None
    dataset_prefix: str = "toefl_"
    pipelines_dir: str | None = None


def source_for(integration: Integration, settings: Settings) -> Any:
    """The dlt source of one integration: its key file and URL, the shared sync settings."""
    return toefl_access.dlt.scores_for(integration, settings)


def integration_asset(integration: Integration, settings: Settings) -> dg.AssetsDefinition:
    name = toefl_access.dlt.source_name(integration.name)

    @dg.asset(
        name=f"toefl_access_{name}",
        group_name="toefl_access",
        kinds={"dlt"},
        description=f"TOEFL score reports of the integration {integration.name!r}: "
        "score_reports (current), report_revisions (history)",
    )
    def _load(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:  # type: ignore[type-arg]
        pipeline = dlt.pipeline(
            pipeline_name=f"toefl_access_{name}",
            destination=Destination.from_reference(warehouse.destination,
                                                   credentials=warehouse.credentials),
            dataset_name=f"{warehouse.dataset_prefix}{name}",
            pipelines_dir=warehouse.pipelines_dir or get_dlt_pipelines_dir(),
        )
        # finishes a package a killed run left, then loads this run's windows; raises the
        # project's errors (a refused key) and FailedWindowsError after loading the rest
        info = toefl_access.dlt.run(pipeline, source_for(integration, settings))
        run = toefl_access.dlt.last_run(pipeline, name)
        context.log.info(f"{integration.name}: {run}")
        return dg.MaterializeResult(metadata={
            "windows": run.get("done", 0),
            "records": run.get("records", 0),
            "dataset": pipeline.dataset_name,
            "load_ids": ", ".join(info.loads_ids),
        })

    return _load


def integration_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    return [integration_asset(i, settings) for i in settings.integrations]


def definitions(config: str | None = None) -> dg.Definitions:
    settings = load(config=config)
    assets = integration_assets(settings)
    hourly = dg.ScheduleDefinition(
        name="toefl_access_hourly", cron_schedule="7 * * * *",
        target=dg.AssetSelection.groups("toefl_access"),
    )
    return dg.Definitions(assets=assets, schedules=[hourly] if assets else [],
                          resources={"warehouse": Warehouse()})


defs = definitions()
