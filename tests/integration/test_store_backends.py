"""The review store's two backends (``review/backend.py``): the same schema from the same
migrations, a store made before PostgreSQL existed still opening with its rows, bad and
unreachable database URLs, and PostgreSQL going down and coming back while patients are answered.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest
from helpers import ROOT, TinyWorld, pg_schema
from services import PostgresServer, free_port

from chatbot.config import ConfigError, load_settings
from chatbot.review import backend
from chatbot.review.db import MIGRATIONS, StoreError
from chatbot.review.store import Store, open_store

BEFORE_POSTGRES = ROOT / "tests" / "data" / "store_before_postgres.sqlite3"
TYPES = {"TEXT": "text", "INTEGER": "bigint", "REAL": "double precision"}


def sqlite_schema(path: Path) -> dict[str, dict[str, tuple[str, bool]]]:
    conn = sqlite3.connect(path)
    tables = [
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        if r[0] != "sqlite_sequence"  # AUTOINCREMENT's bookkeeping
    ]
    return {
        t: {
            c[1]: (TYPES[c[2]], bool(c[3]) or bool(c[5]))
            for c in conn.execute(f"PRAGMA table_info({t})")
        }
        for t in tables
    }


def pg_schema_of(store: Store) -> dict[str, dict[str, tuple[str, bool]]]:
    out: dict[str, dict[str, tuple[str, bool]]] = {}
    for r in store._conn().execute(
        "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable,"
        " (SELECT COUNT(*) FROM information_schema.key_column_usage k"
        "  JOIN information_schema.table_constraints tc ON tc.constraint_name = k.constraint_name"
        "  AND tc.table_schema = k.table_schema WHERE tc.constraint_type = 'PRIMARY KEY'"
        "  AND k.table_schema = c.table_schema AND k.table_name = c.table_name"
        "  AND k.column_name = c.column_name) AS pk"
        " FROM information_schema.columns c WHERE c.table_schema = current_schema()"
    ):
        if r["table_name"] != "schema_version":
            nullable = r["is_nullable"] == "YES"
            out.setdefault(r["table_name"], {})[r["column_name"]] = (
                r["data_type"],
                not nullable or bool(r["pk"]),
            )
    return out


def test_both_backends_build_the_same_schema(tmp_path: Path, postgres_url: str, monkeypatch):
    lite = Store(tmp_path / "s.sqlite3")
    with pg_schema(postgres_url, monkeypatch) as url:
        pg = Store(url)
        assert pg.schema_version == lite.schema_version == len(MIGRATIONS)
        ours, theirs = sqlite_schema(tmp_path / "s.sqlite3"), pg_schema_of(pg)
        assert ours.keys() == theirs.keys()
        for table, columns in ours.items():
            assert columns == theirs[table], table
        indexes = {
            r[0] for r in pg._conn().execute("SELECT indexname FROM pg_indexes WHERE schemaname ="
                                             " current_schema() AND indexname NOT LIKE '%pkey'")
        }  # fmt: skip
        lite_indexes = {
            r[0]
            for r in sqlite3.connect(tmp_path / "s.sqlite3").execute(
                "SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
            )
        }
        assert lite_indexes <= indexes


def test_a_store_newer_than_the_program_is_refused_on_both(store_location):
    Store(store_location).close()
    if isinstance(store_location, Path):
        conn = sqlite3.connect(store_location)
        conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 5}")
        conn.close()
    else:
        with psycopg.connect(store_location, autocommit=True) as conn:
            conn.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS) + 5,))
    with pytest.raises(StoreError, match="newer than this program"):
        Store(store_location)


def test_processes_opening_a_new_store_at_once_upgrade_it_once(store_location):
    opened: list[Store] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            opened.append(Store(store_location))  # each with its own connections, as processes
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(opened) == 6
    assert {s.schema_version for s in opened} == {len(MIGRATIONS)}
    if opened[0].path is None:  # PostgreSQL: one version row, written under the advisory lock
        rows = opened[0]._conn().execute("SELECT version FROM schema_version").fetchall()
        assert [r[0] for r in rows] == [len(MIGRATIONS)]
    for store in opened:
        store.close()


class _SwitchRefused:
    """A connection whose switch to write-ahead logging is refused ``times`` times, as SQLite
    refuses it at once (no busy wait) to the second of two connections switching together."""

    def __init__(self, times: int, message: str = "database is locked") -> None:
        self.left, self.message, self.tries = times, message, 0

    def execute(self, sql: str) -> None:
        assert sql == "PRAGMA journal_mode=WAL"
        self.tries += 1
        if self.left:
            self.left -= 1
            raise sqlite3.OperationalError(self.message)


def test_a_connection_waits_its_turn_to_switch_a_new_file_to_wal():
    conn = _SwitchRefused(times=3)
    backend._enter_wal(conn)  # type: ignore[arg-type]
    assert conn.tries == 4


def test_a_switch_refused_for_another_reason_is_not_retried():
    conn = _SwitchRefused(times=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        backend._enter_wal(conn)  # type: ignore[arg-type]
    assert conn.tries == 1


def test_a_store_made_before_postgres_opens_in_place_and_keeps_its_rows(tmp_path: Path):
    """tests/data/store_before_postgres.sqlite3 was written by the SQLite-only store (schema 6)."""
    path = tmp_path / "data" / "chatbot.sqlite3"
    path.parent.mkdir()
    shutil.copy(BEFORE_POSTGRES, path)
    store = open_store(load_settings(data_dir=tmp_path / "data"))
    assert store.path == path and store.schema_version == len(MIGRATIONS)
    row = store.get_answer("answer-v6-1")
    assert row is not None and row["question"] == "Why are my legs worse at night?"
    assert row["feedback"][0]["comment"] == "clear" and row["verdict"]["verdict"] == "correct"
    assert row["citation_verdicts"][1]["verdict"] == "supports"
    assert [r["id"] for r in row["conversation_turns"]] == ["answer-v6-1"]
    assert store.list_answers()[1] == 2
    assert store.excluded_spans() == {("what-is-rls", 0, 9)}
    assert store.session_open("nonce-open") and not store.session_open("nonce-out")
    assert [u["name"] for u in store.users()] == ["ann"] and store.user_hash("ann")
    assert store.audit(target="answer:answer-v6-1")[0]["detail"] == {"verdict": "correct"}
    assert [a["examples"] for a in store.approved_list()] == [["is it genetic?"]]
    # It goes on: new rows get new ids after the old ones.
    assert store.record("ann", "again") == 2
    store.end_sessions("ann")
    assert not store.session_open("nonce-open")


def test_sqlite_sql_becomes_postgres_sql_in_one_place():
    assert backend.pg_sql("SELECT '100%', ? FROM t WHERE a LIKE ? AND b = '?'") == (
        "SELECT '100%%', %s FROM t WHERE a ILIKE %s AND b = '?'"
    )
    assert backend.pg_sql('SELECT "end" FROM t WHERE x % 2 = ?') == (
        'SELECT "end" FROM t WHERE x %% 2 = %s'
    )
    ddl = backend.pg_ddl(
        "CREATE TABLE x (\n  id INTEGER PRIMARY KEY AUTOINCREMENT,\n  end INTEGER NOT NULL,\n"
        "  user TEXT,\n  created REAL NOT NULL)"
    )
    assert "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" in ddl
    assert '"end" BIGINT NOT NULL' in ddl and '"user" TEXT' in ddl
    assert "created DOUBLE PRECISION" in ddl and "REAL" not in ddl


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://app:s3cret-pw@db.example/chatbot", "not a PostgreSQL URL"),
        ("postgresql://app:s3cret-pw@db.example:port/chatbot", "port is not a number"),
        ("postgresql://app:s3cret-pw@db.example:5432", "names no database"),
        ("sqlite:///data/chatbot.sqlite3", "leave it empty"),
    ],
)
def test_a_malformed_database_url_is_a_clear_setting_error(monkeypatch, url, says):
    monkeypatch.setenv("CHATBOT_DATABASE_URL", url)
    with pytest.raises(ConfigError, match="CHATBOT_DATABASE_URL") as err:
        load_settings()
    assert says in str(err.value) and "s3cret-pw" not in str(err.value)


def test_database_url_forms(monkeypatch):
    monkeypatch.setenv("CHATBOT_DATABASE_URL", "postgres://app@db.example/chatbot")
    assert load_settings().staff.database_url == "postgresql://app@db.example/chatbot"
    monkeypatch.setenv("CHATBOT_DATABASE_URL", "postgresql+psycopg://app@db.example/chatbot")
    assert load_settings().staff.database_url == "postgresql://app@db.example/chatbot"
    monkeypatch.setenv("CHATBOT_DATABASE_URL", "  ")
    assert load_settings().staff.database_url == ""  # the SQLite file, as before


def test_an_unreachable_or_wrong_database_is_a_clear_store_error(postgres_url: str):
    closed = f"postgresql://app:s3cret-pw@127.0.0.1:{free_port()}/chatbot"
    with pytest.raises(StoreError, match="cannot reach the review store's PostgreSQL") as err:
        Store(closed)
    assert "Connection refused" in str(err.value) and "s3cret-pw" not in str(err.value)
    assert "app:***@127.0.0.1" in str(err.value)
    with pytest.raises(StoreError, match='database "no_such_db" does not exist'):
        Store(postgres_url.rsplit("/", 1)[0] + "/no_such_db")


def test_with_postgres_unreachable_patients_are_answered_and_healthz_says_why(tmp_path: Path):
    from chatbot.pipeline import Bot, open_index, open_log

    world = TinyWorld(tmp_path, f"postgresql://app:pw@127.0.0.1:{free_port()}/chatbot")
    from chatbot.embedding import FakeEmbedder

    emb = FakeEmbedder()
    bot = Bot(
        world.settings,
        open_index(world.settings, emb, rebuild=True),
        emb,
        log=open_log(world.settings),
    )
    answer = bot.ask("Why is iron deficiency linked to restless legs?")
    assert answer.status == "answered" and answer.citations
    health = bot.log.health()
    assert health["store"] == "failing" and "cannot reach" in health["store_error"]
    assert ":pw@" not in health["store_error"]


def test_postgres_going_down_and_back_never_stops_an_answer(tmp_path: Path, monkeypatch):
    from chatbot.embedding import FakeEmbedder
    from chatbot.pipeline import Bot, open_index, open_log

    monkeypatch.setattr(backend, "WAIT_S", 1.0)
    monkeypatch.setattr(backend, "RETRY_S", 0.2)
    question = "Why is iron deficiency linked to restless legs?"
    with PostgresServer() as server:
        world = TinyWorld(tmp_path, server.url)
        emb = FakeEmbedder()
        bot = Bot(
            world.settings, open_index(world.settings, emb, rebuild=True), emb,
            log=open_log(world.settings),
        )  # fmt: skip
        first = bot.ask(question)
        assert bot.store.get_answer(first.id) is not None
        server.halt()
        during = [bot.ask(question) for _ in range(3)]
        assert all(a.status == "answered" and a.citations for a in during)
        health = bot.log.health()
        assert health["store"] == "failing" and health["store_failures"] >= 3
        server.resume()
        threading.Event().wait(0.3)  # past RETRY_S: the store is tried again
        after = bot.ask(question)
        assert bot.store.get_answer(after.id) is not None  # logged again, on a new connection
        assert bot.log.health()["store"] == "ok"
        assert bot.store.get_answer(during[0].id) is None  # what the outage lost, and only that
        bot.store.close()
