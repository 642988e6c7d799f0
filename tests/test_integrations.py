"""Many integrations in one configuration: `[[integration]]` tables, `sync --all` with one
bounded pool of requests across them (the real mock over loopback, real SQLite files),
`status` for every integration, and a mock that serves many keys."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from receivers import free_port, webhook_receiver
from support import away_from_the_user, snapshot

from toefl_access.api.client import Client
from toefl_access.cli import main
from toefl_access.errors import UsageError
from toefl_access.mock import DEMO_AUTHCODE, MockApi, key_seed, numbered_authcode, serve
from toefl_access.settings import Integration, load
from toefl_access.store import open_store
from toefl_access.sync import SyncSettings
from toefl_access.sync.many import EXIT_ORDER, AllResult, IntegrationEvent, severity, sync_all

KEYS = {"north": numbered_authcode(1), "south": numbered_authcode(2),
        "west": numbered_authcode(3)}  # fmt: skip
UTC = dt.UTC


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder without the user's variables."""
    away_from_the_user(tmp_path, monkeypatch)


@pytest.fixture
def api() -> MockApi:
    """A mock accepting the keys of north and south (west's key is refused)."""
    return MockApi(authcodes=[KEYS["north"], KEYS["south"]], per_day=5, latency_ms=20)


@pytest.fixture
def mock_url(api: MockApi) -> Iterator[str]:
    with serve(api) as url:
        yield url


def cli(*args: str, **env: str) -> Result:
    return CliRunner(env={"COLUMNS": "250", **env}).invoke(main, list(args))


def key_file(folder: Path, name: str, key: str) -> str:
    path = folder / f"{name}.key"
    path.write_text(key + "\n")
    path.chmod(0o600)
    return str(path)


def write_config(folder: Path, url: str, names: tuple[str, ...] = tuple(KEYS), *,
                 since: str = "2026-11-20", extra: str = "") -> Path:  # fmt: skip
    """toefl-access.toml: one database per integration (db = .../{name}.db)."""
    text = (f'db = "sqlite:///{folder}/{{name}}.db"\nbase_url = "{url}"\nsensitive = "keep"\n'
            f'{extra}[sync]\nconcurrency = 2\n')  # fmt: skip
    for name in names:
        text += (f'[[integration]]\nname = "{name}"\n'
                 f'authcode_file = "{key_file(folder, name, KEYS[name])}"\nsince = "{since}"\n')
    path = folder / "toefl-access.toml"
    path.write_text(text)
    return path


def registrations(db: Path) -> set[str]:
    with open_store(f"sqlite:///{db}") as store:
        return {r["registration_number"] for r in store.reports()}


# -- settings -----------------------------------------------------------------------------


def toml(folder: Path, text: str) -> str:
    path = folder / "c.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_integration_tables_are_read_with_their_defaults(tmp_path: Path) -> None:
    conf = toml(tmp_path, 'db = "postgresql://toefl:hunter2@db.example/toefl_{name}"\n'
                'base_url = "https://mirror.example/scores"\n'
                '[[integration]]\nname = "grad-school"\nauthcode_file = "/k/grad"\n'
                'since = 2025-01-01\n'
                '[[integration]]\nname = "law_2"\nauthcode_file = "/k/law"\n'
                'db = "sqlite:///law.db"\nbase_url = "http://127.0.0.1:9/scores"\n'
                'since = "2025-02-01T06:00:00+01:00"\n')  # fmt: skip
    s = load(config=conf, env={})
    grad, law = s.integrations
    assert grad == Integration(
        name="grad-school", authcode_file="/k/grad", base_url="https://mirror.example/scores",
        db="postgresql://toefl:hunter2@db.example/toefl_grad-school",
        since=dt.datetime(2025, 1, 1, tzinfo=UTC),
    )
    assert (law.db, law.base_url) == ("sqlite:///law.db", "http://127.0.0.1:9/scores")
    assert law.since == dt.datetime(2025, 2, 1, 5, 0, tzinfo=UTC)
    assert s.integration("law_2") is law
    with pytest.raises(UsageError, match=r"no \[\[integration\]\] is called 'x'.*grad-school"):
        s.integration("x")
    # --db names one database; the integrations keep the template of the file
    flagged = load(config=conf, env={}, db="sqlite:///one.db")
    assert flagged.db == "sqlite:///one.db" and flagged.integrations == s.integrations
    assert load(env={}).integrations == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[integration]]\nname = "a"\nauthcode_file = "k"\ndb = "sqlite:///a.db"\n'
         '[[integration]]\nname = "a"\nauthcode_file = "k2"\ndb = "sqlite:///b.db"\n',
         "number 2 \\('a'\\): name 'a' is taken by \\[\\[integration\\]\\] number 1"),
        ('[[integration]]\nname = "a"\ndb = "sqlite:///a.db"\n',
         "number 1 \\('a'\\): authcode_file is missing"),
        ('[[integration]]\nname = "a"\nauthcode_file = "k"\ndb = "sqlite:///x.db"\n'
         '[[integration]]\nname = "b"\nauthcode_file = "k"\ndb = "sqlite:///./x.db"\n',
         "number 2 \\('b'\\): db 'sqlite:///./x.db' is the database of \\[\\[integration\\]\\] "
         "number 1 too"),
        ('db = "postgresql://u:p@h/one"\n[[integration]]\nname = "a"\nauthcode_file = "k"\n',
         "number 1 \\('a'\\): db is missing.*\\{name\\}"),
        ('[[integration]]\nname = "a b"\nauthcode_file = "k"\ndb = "sqlite:///a.db"\n',
         "name = 'a b' must be 1-64 letters, digits, - or _"),
        ('[[integration]]\nauthcode_file = "k"\ndb = "sqlite:///a.db"\n',
         "number 1: name is missing"),
        ('[[integration]]\nname = "a"\nauthcode = "c2VjcmV0"\n', "authcode must not be in"),
        ('[[integration]]\nname = "a"\nauthcode_file = "k"\ndb = "sqlite:///a.db"\nkey = 1\n',
         "key is not a setting of \\[\\[integration\\]\\]"),
        ('[[integration]]\nname = "a"\nauthcode_file = "k"\ndb = "sqlite:///a.db"\n'
         'since = "soon"\n', "number 1 \\('a'\\): since 'soon' is not a date"),
        ('[[integration]]\nname = "a"\nauthcode_file = 5\n', "authcode_file = 5 must be a string"),
        ('[integration]\nname = "a"\n', "write \\[\\[integration\\]\\] \\(two brackets\\)"),
    ],
)  # fmt: skip
def test_bad_integration_tables_name_the_table_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message) as info:
        load(config=toml(tmp_path, text), env={})
    assert "c.toml" in str(info.value)


def test_config_shows_the_integrations_without_keys_or_passwords(tmp_path: Path) -> None:
    conf = toml(tmp_path, 'db = "postgresql://toefl:hunter2@db.example/toefl_{name}"\n'
                f'[[integration]]\nname = "north"\nauthcode_file = '
                f'"{key_file(tmp_path, "north", KEYS["north"])}"\nsince = "2025-01-01"\n')
    result = cli("config", "--config", conf)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "integration.north.db" in out and "postgresql://toefl:***@db.example/toefl_north" in out
    assert f"read from {tmp_path}/north.key" in out and "2025-01-01T00:00:00Z" in out
    decoded = base64.b64decode(KEYS["north"]).decode()
    for secret in ("hunter2", KEYS["north"], decoded.split(":")[1]):
        assert secret not in out


# -- sync --all ---------------------------------------------------------------------------


def test_sync_all_one_refused_key_fails_only_its_integration(
    tmp_path: Path, mock_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="toefl_access.sync")
    write_config(tmp_path, mock_url)
    args = ("sync", "--all", "--until", "2026-11-26")
    first = cli(*args)
    assert first.exit_code == 2, first.output
    lines = {line.split()[0]: line for line in first.stdout.splitlines()}
    assert "exit 0  6/6 windows" in lines["north"] and "exit 0" in lines["south"]
    assert "exit 2" in lines["west"] and "key refused" in lines["west"]
    assert "2 ok, failed: west; exit code 2 (the API refused the key) from west" in first.stdout
    assert "Error: west: the API refused the key" in first.stderr
    assert f"put it in {tmp_path}/west.key" in first.stderr
    assert "west: window [2026-11-20T00:00:00, 2026-11-21T00:00:00) failed" in caplog.text
    # each database holds its own integration's reports, exactly what its key reads
    for name in ("north", "south"):
        with Client(authcode=KEYS[name], base_url=mock_url) as client:
            served = {r["registration_number"] for r in
                      client.fetch("2026-11-20", "2026-11-26", format="json")}  # fmt: skip
        assert served and registrations(tmp_path / f"{name}.db") == served
    assert not registrations(tmp_path / "north.db") & registrations(tmp_path / "south.db")
    assert registrations(tmp_path / "west.db") == set()
    # alerts were judged for each integration's own database
    with open_store(f"sqlite:///{tmp_path}/west.db") as store:
        assert list(store.open_alerts()) == ["key_refused"]
    with open_store(f"sqlite:///{tmp_path}/north.db") as store:
        assert store.open_alerts() == {}
        before = snapshot(store)
    # the second run writes nothing: the windows again, every report unchanged
    second = cli(*args)
    assert second.exit_code == 2, second.output
    again = {line.split()[0]: line for line in second.stdout.splitlines()}
    assert " 0 new  0 changed " in again["north"] and " 0 new  0 changed " in again["south"]
    with open_store(f"sqlite:///{tmp_path}/north.db") as store:
        assert snapshot(store) == before


def test_sync_all_sends_each_integrations_alerts_with_its_database(
    tmp_path: Path, mock_url: str
) -> None:
    with webhook_receiver() as hook:
        write_config(tmp_path, mock_url, extra="", since="2026-11-20")
        conf = tmp_path / "toefl-access.toml"
        conf.write_text(conf.read_text() + f'[alerts]\nwebhook = "{hook.url}"\n')
        result = cli("sync", "--all", "--until", "2026-11-22")
        assert result.exit_code == 2, result.output
        assert hook.events() == [("key_refused", "open")]
        assert hook.posts[0]["database"] == f"sqlite:///{tmp_path}/west.db"
        assert "Alert key_refused (open) sent by webhook." in result.stderr
        assert KEYS["west"].encode() not in b"".join(hook.raw)


def test_the_pool_bounds_the_requests_across_integrations(tmp_path: Path) -> None:
    api = MockApi(authcodes=list(KEYS.values()), per_day=5, latency_ms=40)
    until = SyncSettings(until=dt.datetime(2026, 11, 30, tzinfo=UTC), concurrency=4)
    with serve(api) as url:
        todo = [integration(tmp_path, name, url, key) for name, key in KEYS.items()]
        # three integrations at once, each asking for 4 windows at a time, share 2 slots
        out = sync_all(todo, pool=2, workers=3, settings_for=lambda i: until)
        assert out.exit_code == 0 and out.peak_requests == 2
        assert api.requests == 30 and api.in_flight == 0
        assert api.max_in_flight == 2  # at the server: never more than the pool, and all used
    wide = MockApi(authcodes=list(KEYS.values()), per_day=5, latency_ms=40)
    with serve(wide) as url:  # the command: 3 integrations of 2 windows at a time, pool 16
        write_config(tmp_path, url)
        result = cli("sync", "--all", "--pool", "16", "--since", "2026-11-20", "--until",
                     "2026-11-30")  # fmt: skip
        assert result.exit_code == 0, result.output
        assert 2 < wide.max_in_flight <= 6 and wide.in_flight == 0


def test_the_command_passes_its_pool(tmp_path: Path) -> None:
    api = MockApi(authcodes=list(KEYS.values()), per_day=5, latency_ms=40)
    with serve(api) as url:
        write_config(tmp_path, url)
        result = cli("sync", "--all", "--pool", "1", "--until", "2026-11-25")
        assert result.exit_code == 0, result.output
        assert api.requests == 15 and api.max_in_flight == 1


def test_as_many_integrations_at_once_as_fill_the_pool(tmp_path: Path, mock_url: str) -> None:
    names = [f"i{n}" for n in range(6)]
    todo = [integration(tmp_path, n, mock_url, KEYS["north"]) for n in names]
    running: set[str] = set()
    most = [0]
    guard = threading.Lock()

    def on_event(e: IntegrationEvent) -> None:
        with guard:
            (running.add if e.kind == "started" else running.discard)(e.integration.name)
            most[0] = max(most[0], len(running))

    until = SyncSettings(until=dt.datetime(2026, 11, 23, tzinfo=UTC), concurrency=4)
    out = sync_all(todo, pool=8, settings_for=lambda i: until, on_event=on_event)
    assert out.exit_code == 0 and most[0] == 2  # 8 slots / 4 windows ahead each


def test_sync_all_refuses_what_does_not_fit(tmp_path: Path, mock_url: str) -> None:
    nothing = cli("sync", "--all")
    assert nothing.exit_code == 1 and "none is configured" in nothing.stderr
    write_config(tmp_path, mock_url)
    with_db = cli("sync", "--all", "--db", "sqlite:///x.db")
    assert with_db.exit_code == 1 and "--db goes with a single sync" in with_db.stderr
    single = cli("sync", "--since", "2026-11-20")
    assert single.exit_code == 1 and "template of the integrations' databases" in single.stderr
    assert not list(tmp_path.glob("*.db"))


# -- the library: what fails where ---------------------------------------------------------


def integration(tmp_path: Path, name: str, url: str, key: str, **kw: Any) -> Integration:
    return Integration(name=name, authcode_file=key_file(tmp_path, name, key), base_url=url,
                       db=kw.pop("db", f"sqlite:///{tmp_path}/{name}.db"),
                       since=dt.datetime(2026, 11, 20, tzinfo=UTC), **kw)  # fmt: skip


def quick_client(i: Integration) -> Client:
    """One attempt, a short timeout: a dead server fails at once."""
    key = Path(i.authcode_file).read_text().strip()
    return Client(authcode=key, base_url=i.base_url or "", retries=1, timeout=5)


def test_a_dead_server_a_locked_database_and_a_missing_key_file_fail_only_theirs(
    tmp_path: Path, mock_url: str
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/scores"
    good = integration(tmp_path, "good", mock_url, KEYS["north"])
    unreachable = integration(tmp_path, "unreachable", dead, KEYS["south"])
    locked = integration(tmp_path, "locked", mock_url, KEYS["south"])
    missing = Integration(name="missing", authcode_file=str(tmp_path / "none.key"),
                          base_url=mock_url, db=f"sqlite:///{tmp_path}/missing.db")
    events: list[tuple[str, str, bool]] = []
    guard = threading.Lock()

    def on_event(e: IntegrationEvent) -> None:
        with guard:
            events.append((e.kind, e.integration.name, e.store is not None))

    until = SyncSettings(until=dt.datetime(2026, 11, 23, tzinfo=UTC))
    with open_store(locked.db) as holder, holder.sync_lock():
        out = sync_all([good, unreachable, locked], pool=4, settings_for=lambda i: until,
                       client_for=quick_client, on_event=on_event)  # fmt: skip
    codes = {name: o.exit_code for name, o in out.outcomes.items()}
    assert codes == {"good": 0, "unreachable": 3, "locked": 1}
    assert out.exit_code == 3 and out.culprits == ["unreachable"]
    assert out.failed == ["unreachable", "locked"]
    assert "another toefl-access sync is running" in str(out.outcomes["locked"].error)
    assert out.outcomes["good"].result is not None and out.reports == 15
    assert sorted(events) == sorted([("started", n, False) for n in codes]
                                    + [("finished", n, True) for n in codes])  # fmt: skip
    # a key file that cannot be read: that integration could not run, with no database
    out = sync_all([missing, good], settings_for=lambda i: until)
    assert out.outcomes["missing"].exit_code == 1 and out.exit_code == 1
    assert "does not exist" in str(out.outcomes["missing"].error)
    assert not (tmp_path / "missing.db").exists()


def test_the_worst_exit_code_wins_in_the_documented_order() -> None:
    assert EXIT_ORDER == (2, 3, 1, 0)
    assert sorted([0, 1, 2, 3], key=severity) == [0, 1, 3, 2]
    assert AllResult().exit_code == 0 and AllResult().culprits == []


@pytest.mark.postgres
def test_integrations_on_postgresql_and_sqlite_side_by_side(
    tmp_path: Path, mock_url: str, pg_url: str
) -> None:
    on_pg = integration(tmp_path, "pg", mock_url, KEYS["north"], db=pg_url)
    on_sqlite = integration(tmp_path, "lite", mock_url, KEYS["south"])
    until = SyncSettings(until=dt.datetime(2026, 11, 23, tzinfo=UTC))
    out = sync_all([on_pg, on_sqlite], pool=3, settings_for=lambda i: until)
    assert out.exit_code == 0 and out.reports == 30
    again = sync_all([on_pg, on_sqlite], pool=3, settings_for=lambda i: until)
    assert {n: o.result.counts.new for n, o in again.outcomes.items() if o.result} == {
        "pg": 0, "lite": 0}
    with open_store(pg_url) as store:
        assert store.status().reports == 15


# -- status -------------------------------------------------------------------------------


def test_status_shows_every_integration(tmp_path: Path, mock_url: str) -> None:
    since = (dt.datetime.now(UTC) - dt.timedelta(days=2)).strftime("%Y-%m-%d")
    write_config(tmp_path, mock_url, since=since)
    assert cli("sync", "--all").exit_code == 2
    conf = tmp_path / "toefl-access.toml"  # a fourth integration, never synced
    conf.write_text(conf.read_text() + '[[integration]]\nname = "east"\nauthcode_file = '
                    f'"{key_file(tmp_path, "east", DEMO_AUTHCODE)}"\n')  # fmt: skip

    shown = cli("status")
    assert shown.exit_code == 0, shown.output
    rows = {cells[1].strip(): line for line in shown.stdout.splitlines()
            if len(cells := line.split("│")) > 5 and cells[1].strip() not in ("", "integration")}
    assert list(rows) == ["north", "south", "west", "east"]
    assert "│ ok " in rows["north"] and "│ ok " in rows["south"] and "exit 0" in rows["north"]
    assert "NOT OK" in rows["west"] and "refused" in rows["west"] and "key_refused" in rows["west"]
    assert "never synced" in rows["east"] and "Healthy: 2 of 4" in shown.stdout
    assert not (tmp_path / "east.db").exists()

    body = json.loads(cli("status", "--json").stdout)
    assert list(body["integrations"]) == ["north", "south", "west", "east"]
    assert body["healthy"] is False and body["integrations"]["north"]["healthy"] is True
    assert body["integrations"]["west"]["key"] == "refused"
    assert body["integrations"]["west"]["last_run"]["exit_code"] == 2
    assert body["integrations"]["east"]["reasons"][0].startswith("never synced")
    assert cli("status", "--check").exit_code == 1
    assert cli("status", "--json", "--check").exit_code == 1

    one = cli("status", "--integration", "north", "--check")
    assert one.exit_code == 0, one.output
    assert f"Database: sqlite:///{tmp_path}/north.db" in one.stdout and "Recent runs" in one.stdout
    assert cli("status", "--integration", "west", "--check").exit_code == 1
    unknown = cli("status", "--integration", "nowhere")
    assert unknown.exit_code == 1 and "north, south, west, east" in unknown.stderr
    assert cli("status", "--db", f"sqlite:///{tmp_path}/south.db", "--check").exit_code == 0

    write_config(tmp_path, mock_url, ("north", "south"), since=since)
    assert cli("status", "--check").exit_code == 0
    assert json.loads(cli("status", "--json").stdout)["healthy"] is True


# -- the mock: many keys, requests in flight ---------------------------------------------


def test_the_mock_serves_each_key_its_own_reports() -> None:
    api = MockApi(seed=7, authcodes=[numbered_authcode(1), numbered_authcode(2)], per_day=20)
    single = MockApi(seed=7, per_day=20)
    assert api.seed_for(DEMO_AUTHCODE) == 7 and api.seed_for(numbered_authcode(1)) == key_seed(
        7, numbered_authcode(1))

    def lines(mock: MockApi, key: str) -> list[bytes]:
        http = httpx.Client(transport=mock.transport(), base_url="http://mock")
        answer = http.get("/scores", headers={"authcode": key}, params={
            "startdate": "2026-01-01T00:00:00", "enddate": "2026-01-03T00:00:00",
            "type": "TOEFL", "reportby": "scorelinkbyreportdate"})  # fmt: skip
        assert answer.status_code == 200, answer.text
        return answer.content.splitlines()

    demo, one, two = (lines(api, k) for k in (DEMO_AUTHCODE, *map(numbered_authcode, (1, 2))))
    assert demo == lines(single, DEMO_AUTHCODE)  # the first key: the mock's own population
    assert len(demo) == len(one) == len(two) == 40
    assert not set(demo) & set(one) and not set(one) & set(two)
    refused = httpx.Client(transport=api.transport(), base_url="http://mock").get(
        "/scores", headers={"authcode": numbered_authcode(3)})
    assert refused.status_code == 401
    assert api.in_flight == 0 and api.max_in_flight == 1
    assert numbered_authcode(2) == base64.b64encode(b"client-2:secret-2").decode()


def test_the_mock_counts_requests_in_flight_until_their_bodies_end() -> None:
    api = MockApi(per_day=5, latency_ms=0)
    http = httpx.Client(transport=api.transport(), base_url="http://mock")
    params = {"startdate": "2026-01-01T00:00:00", "enddate": "2026-01-02T00:00:00",
              "type": "TOEFL", "reportby": "scorelinkbyreportdate"}  # fmt: skip
    with http.stream("GET", "/scores", headers={"authcode": DEMO_AUTHCODE}, params=params) as a, \
            http.stream("GET", "/scores", headers={"authcode": DEMO_AUTHCODE},
                        params=params) as b:  # fmt: skip
        assert api.in_flight == 2
        a.read()
        assert api.in_flight == 1 and b.status_code == 200  # b is closed unread below
    assert api.in_flight == 0 and api.max_in_flight == 2


def test_sync_integration_syncs_only_the_named_ones(tmp_path: Path, mock_url: str) -> None:
    write_config(tmp_path, mock_url)
    result = cli("sync", "--integration", "south", "--integration", "north",
                 "--until", "2026-11-26")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(line.split()[0] for line in result.stdout.splitlines()[:2]) == [
        "north", "south"]
    assert registrations(tmp_path / "south.db") and registrations(tmp_path / "north.db")
    assert not (tmp_path / "west.db").exists()
    unknown = cli("sync", "--integration", "east")
    assert unknown.exit_code == 1
    assert "no [[integration]] is called 'east' in the settings (north, south, west)" in (
        unknown.output)
