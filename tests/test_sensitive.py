"""Personal data on both backends: with ``sensitive = hash`` (the default) no ID number is in
the database or the archive; ``drop`` keeps nothing; ``keep`` keeps the value and says so."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import zlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from toefl_access.api.client import Client
from toefl_access.api.dates import UTC
from toefl_access.cli import main
from toefl_access.errors import UsageError
from toefl_access.formats.sensitive import META_KEY, META_MODE, Protector, key_id, spans
from toefl_access.formats.textformat import codec
from toefl_access.mock import DEMO_AUTHCODE, MockApi
from toefl_access.mock.population import released
from toefl_access.store import open_store, report_key
from toefl_access.sync import SyncResult, SyncSettings, sync
from toefl_access.sync.preparing import prepare_answer

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SINCE = dt.datetime(2026, 2, 10, tzinfo=UTC)
PER_DAY = 15


def run_sync(url: str, **kw: Any) -> SyncResult:
    api = MockApi(seed=0, per_day=PER_DAY)
    with Client(authcode=DEMO_AUTHCODE, base_url="http://127.0.0.1/scores",
                transport=api.transport()) as client, open_store(url) as store:
        result = sync(client, store, SyncSettings(since=SINCE, **kw), now=NOW)
    assert result.exit_code == 0
    return result


def clear_ids() -> dict[str, str]:
    """report key -> the clear ID number the mock sent (the newest version of each)."""
    return {
        report_key(*r.identity): r["security_id_number"]
        for r in released(SINCE, NOW, seed=0, per_day=PER_DAY)
        if r["security_id_number"]
    }


def stored_blobs(url: str) -> list[bytes]:
    """Every value of every table as bytes, archived bodies decompressed too; for SQLite
    also the database files themselves (freed pages and the WAL included)."""
    out: list[bytes] = []
    with open_store(url) as store, store.engine.connect() as conn:
        for name in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{name}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        data = bytes(value)
                        out.append(data)
                        with contextlib.suppress(zlib.error):
                            out.append(zlib.decompress(data))
                    elif value is not None:
                        out.append(str(value).encode("utf-8"))
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        out += [p.read_bytes() for p in path.parent.glob(path.name + "*")]
    return out


def leaks(url: str, ids: set[str]) -> set[str]:
    everything = b"\0".join(stored_blobs(url))
    return {i for i in ids if i.encode() in everything}


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_by_default_no_id_number_is_stored(store_url: str, fmt: str) -> None:
    run_sync(store_url, format=fmt)
    ids = clear_ids()
    assert len(set(ids.values())) > 50
    assert not leaks(store_url, set(ids.values()))
    with open_store(store_url) as store:
        rows = {r["report_key"]: r for r in store.reports()}
        key = bytes.fromhex(store.meta_get(META_KEY) or "")
        assert store.meta_get(META_MODE) == "hash"
        archived = store.archived_body(1)
    assert set(rows) >= set(ids)
    for k, clear in ids.items():
        expected = hmac.new(key, clear.upper().encode(), hashlib.sha256).hexdigest()
        assert rows[k]["security_id_number"] == expected
    if fmt == "text":
        row = next(iter(rows.values()))
        assert row["raw"][731:756] == b"*" * 25
        assert b"*" * 25 in archived
    else:
        assert b'"security_id_number":"*************************"' in archived


def test_hashes_match_a_person_across_reports(store_url: str) -> None:
    run_sync(store_url)
    ids = clear_ids()
    with open_store(store_url) as store:
        stored = {r["report_key"]: r["security_id_number"] for r in store.reports()}
    by_person: dict[str, set[str]] = {}
    for k, clear in ids.items():
        by_person.setdefault(clear, set()).add(k)
    shared = [keys for keys in by_person.values() if len(keys) > 1]
    assert shared, "the mock pools people: some have two reports"
    for keys in shared:
        assert len({stored[k] for k in keys}) == 1
    assert len({stored[k] for k in ids}) == len(by_person)  # different people, different hashes


def test_drop_keeps_nothing(store_url: str) -> None:
    run_sync(store_url, sensitive="drop")
    ids = clear_ids()
    assert not leaks(store_url, set(ids.values()))
    with open_store(store_url) as store:
        rows = list(store.reports())
        assert store.meta_get(META_MODE) == "drop" and store.meta_get(META_KEY) is None
    assert all(r["security_id_number"] is None for r in rows)
    assert all(r["raw"][731:756] == b" " * 25 for r in rows)


def test_keep_keeps_the_value_and_status_says_so(store_url: str) -> None:
    run_sync(store_url, sensitive="keep")
    ids = clear_ids()
    with open_store(store_url) as store:
        stored = {r["report_key"]: r["security_id_number"] for r in store.reports()}
    for k, clear in ids.items():
        assert stored[k] == clear
    assert leaks(store_url, set(ids.values())) == set(ids.values())  # the scan finds them
    status = CliRunner().invoke(main, ["status", "--db", store_url])
    assert status.exit_code == 0, status.output
    assert "ID numbers are stored IN CLEAR (sensitive = keep)" in status.output


def test_status_says_hash_by_default(store_url: str) -> None:
    run_sync(store_url)
    status = CliRunner().invoke(main, ["status", "--db", store_url])
    assert "ID numbers are stored as keyed hashes (sensitive = hash)" in status.output


def test_a_change_of_mode_is_recorded_and_warned(store_url: str) -> None:
    first = run_sync(store_url)
    assert first.notices == []
    second = run_sync(store_url, sensitive="keep")
    assert any("was 'hash' in the previous run" in n for n in second.notices)
    with open_store(store_url) as store:
        assert store.meta_get(META_MODE) == "keep"
        params = store.status().runs[0].params
    assert params["sensitive"] == "keep"
    third = run_sync(store_url, sensitive="keep")
    assert third.notices == []


def test_a_key_file_gives_the_same_hashes_in_two_databases(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    urls = [f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db", f"sqlite:///{tmp_path}/c.db"]
    run_sync(urls[0], hash_key_file=str(key_file))
    run_sync(urls[1], hash_key_file=str(key_file))
    run_sync(urls[2])
    hashes = []
    for url in urls:
        with open_store(url) as store:
            hashes.append({r["report_key"]: r["security_id_number"] for r in store.reports()})
            if url != urls[2]:
                assert store.meta_get(META_KEY) is None  # the key stays in its file
    assert hashes[0] == hashes[1]
    common = set(hashes[0]) & set(hashes[2])
    assert all(hashes[0][k] != hashes[2][k] for k in common if hashes[0][k])
    key_file.write_bytes(b"another key of enough length!!")
    again = run_sync(urls[0], hash_key_file=str(key_file))
    assert any("hash key differs" in n for n in again.notices)
    key_file.write_bytes(b"short")
    with pytest.raises(UsageError, match="at least 16"):
        run_sync(urls[0], hash_key_file=str(key_file))


def test_masking_is_idempotent_and_keeps_the_body_otherwise() -> None:
    rec = next(iter(released(SINCE, NOW, seed=0, per_day=PER_DAY)))
    line = codec("scorelink-1600").encode(rec)
    body = b"\xef\xbb\xbf" + line + b"\r\n" + line + b"\r\n"
    protector = Protector("hash", b"k" * 32)
    once = prepare_answer(body, "text", protector=protector)
    twice = prepare_answer(once.body, "text", protector=protector)
    assert once.body == twice.body and once.body.startswith(b"\xef\xbb\xbf")
    assert once.body.count(b"\r\n") == 2 and len(once.body) == len(body)
    assert once.sha256 == hashlib.sha256(once.body).hexdigest() and twice.sha256 is None
    assert rec["security_id_number"].encode() not in once.body
    # A body read again knows which fields arrived masked (replay restores them).
    assert twice.premasked == {1: ("security_id_number",), 2: ("security_id_number",)}
    assert once.parse(once.items[0])["security_id_number"] == protector.hash(
        rec["security_id_number"])
    assert twice.parse(twice.items[0])["security_id_number"] is None
    (start, end, name, size), = spans(codec("scorelink-1600").layout)
    assert (start, end, name, size) == (731, 756, "security_id_number", 25)


def test_protector_never_shows_its_key() -> None:
    p = Protector("hash", b"secret-key-0123456789")
    assert "secret" not in repr(p)
    assert key_id(b"secret-key-0123456789") not in repr(p)
    assert p.hash(" ab 12 ") == p.hash("AB12")
    with pytest.raises(UsageError):
        Protector("hash")
    with pytest.raises(UsageError):
        Protector("maybe", b"x" * 32)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_replay_keeps_the_recorded_mode_unless_asked(store_url: str, fmt: str) -> None:
    run_sync(store_url, sensitive="keep", format=fmt)
    ids = clear_ids()
    runner = CliRunner()
    same = runner.invoke(main, ["replay", "--db", store_url])
    assert same.exit_code == 0, same.output
    assert "revisions created: 0" in same.output and "Warning" not in same.output
    switched = runner.invoke(main, ["replay", "--db", store_url, "--sensitive", "hash"])
    assert switched.exit_code == 0, switched.output
    assert "Warning: sensitive is 'hash' now but was 'keep'" in switched.output
    with open_store(store_url) as store:
        rows = {r["report_key"]: r for r in store.reports()}
        assert store.meta_get(META_MODE) == "hash"
        old = store.revisions(next(iter(ids)))
    assert f"revisions created: {len(rows)}" in switched.output
    for k, clear in ids.items():
        assert rows[k]["security_id_number"] not in (None, clear)
        assert clear.encode() not in rows[k]["raw"]
    assert old[0]["fields"]["security_id_number"] == ids[next(iter(ids))]  # history as stored
