"""Where the review store's rows live: one SQLite file (the default) or a PostgreSQL database
(``CHATBOT_DATABASE_URL``). Every difference between the two is here, nowhere else.

The store's modules write one SQL, SQLite's: ``?`` placeholders, rows read by name or position
(``row["id"]``, ``row[0]``, ``dict(row)``), ``INSERT ... RETURNING id``, ``ON CONFLICT ... DO
UPDATE``, ``COUNT(*) FILTER (WHERE ...)``, the column names ``"end"`` and ``"user"`` quoted.
The PostgreSQL backend turns that into what psycopg 3 runs:

- placeholders ``?`` → ``%s`` and a literal ``%`` → ``%%`` (quoted text left alone);
- ``LIKE`` → ``ILIKE`` (SQLite's LIKE ignores case; so does the staff's text search here);
- in the migrations' DDL, ``INTEGER PRIMARY KEY AUTOINCREMENT`` → an identity column,
  ``INTEGER`` → ``BIGINT`` (SQLite's integers are 64-bit), ``REAL`` → ``DOUBLE PRECISION``
  (PostgreSQL's REAL is 4 bytes: a timestamp would lose minutes), reserved column names quoted;
- the schema version: SQLite's ``PRAGMA user_version``, PostgreSQL's ``schema_version`` table;
  a migration runs in one transaction that holds SQLite's write lock (``BEGIN IMMEDIATE``) or
  PostgreSQL's advisory lock, so two processes starting at once upgrade it once;
- U+0000, which PostgreSQL's text cannot hold, is stored as U+FFFD.

Both run every statement on its own (autocommit): SQLite with a connection per thread (WAL,
``synchronous=NORMAL``, foreign keys on, deleted rows overwritten), PostgreSQL through a small
connection pool shared by the process's threads (``POOL_MAX``), each statement checking a
connection out and back in. When PostgreSQL cannot be reached the store says so at once for
``RETRY_S`` seconds instead of making every caller wait (answers never wait on the store).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from chatbot.config import redact_url
from chatbot.errors import ChatbotError

POOL_MAX = 10  # PostgreSQL connections one server process holds at most
CONNECT_TIMEOUT_S = 5  # unless the URL says otherwise (connect_timeout=...)
WAIT_S = 3.0  # longest wait for a free pooled connection
RETRY_S = 5.0  # after PostgreSQL could not be reached, fail at once for this long
MIGRATION_LOCK = 0x7265_7669_6577  # pg_advisory_xact_lock key ("review")
PG_SCHEMES = ("postgresql", "postgres")


class StoreError(ChatbotError):
    """The review store cannot be opened or written."""


class Rows(Protocol):
    """What a statement returns: its rows (by name or position) and the rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    def execute(self, sql: str, params: Any = ..., /) -> Rows: ...


class Backend(Protocol):
    where: str  # what messages name: the file, or the URL with its password masked
    dialect: str  # "sqlite" | "postgresql"

    def conn(self) -> Conn: ...

    def transaction(self) -> AbstractContextManager[Conn]: ...

    def read_version(self, conn: Conn) -> int: ...

    def write_version(self, conn: Conn, version: int) -> None: ...

    def statements(self, script: str) -> list[str]: ...

    def close(self) -> None: ...

    def errors(self) -> tuple[type[BaseException], ...]: ...


def is_database_url(location: object) -> bool:
    return isinstance(location, str) and location.split(":", 1)[0].lower() in PG_SCHEMES


def open_backend(location: Path | str) -> Backend:
    """A PostgreSQL backend for a ``postgresql://`` URL, else the SQLite file at ``location``."""
    if is_database_url(location):
        return PostgresBackend(str(location))
    return SQLiteBackend(Path(location))


def _split(script: str) -> list[str]:
    return [s for s in script.split(";") if s.strip()]


# -- SQLite ----------------------------------------------------------------------------------

BUSY_WAIT_S = 30  # how long a connection waits for another's write lock


def _enter_wal(conn: sqlite3.Connection) -> None:
    """Switch a new file to write-ahead logging, waiting for other processes doing the same.

    The switch upgrades a read lock to an exclusive one, and SQLite answers "database is locked"
    at once, without its busy handler, when two connections try it together (it would deadlock
    otherwise); so the wait is here.
    """
    deadline = time.monotonic() + BUSY_WAIT_S
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


class SQLiteBackend:
    """One SQLite file with a connection per thread."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of the review store {path}: {exc}") from exc
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=BUSY_WAIT_S, isolation_level=None)
                conn.row_factory = sqlite3.Row
                _enter_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute(f"PRAGMA busy_timeout={BUSY_WAIT_S * 1000}")
                # Deleted rows (retention, purge) are overwritten, not left in free pages.
                conn.execute("PRAGMA secure_delete=ON")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the review store {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")  # the write lock: one process migrates at a time
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def read_version(self, conn: Conn) -> int:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def write_version(self, conn: Conn, version: int) -> None:
        conn.execute(f"PRAGMA user_version={int(version)}")

    def statements(self, script: str) -> list[str]:
        return _split(script)

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)


# -- PostgreSQL ------------------------------------------------------------------------------

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\?|%|\bLIKE\b", re.IGNORECASE)
_OUTSIDE = {"?": "%s", "%": "%%"}


@lru_cache(maxsize=512)
def pg_sql(sql: str) -> str:
    """SQLite's SQL as psycopg runs it on PostgreSQL (see the module's docstring)."""

    def swap(m: re.Match[str]) -> str:
        token = m.group(0)
        if token[0] in "'\"":
            return token.replace("%", "%%")
        return _OUTSIDE.get(token, "ILIKE")

    return _TOKENS.sub(swap, sql)


IDENTITY = "GENERATED BY DEFAULT AS IDENTITY"
_DDL = (
    (re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"), f"BIGINT {IDENTITY} PRIMARY KEY"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"^(\s*)(end|user)\b", re.MULTILINE), r'\1"\2"'),  # a column named so
)  # fmt: skip


def pg_ddl(statement: str) -> str:
    """A migration's SQLite DDL statement as PostgreSQL's."""
    for pattern, replacement in _DDL:
        statement = pattern.sub(replacement, statement)
    return statement


class PgRow:
    """A row read by position or by name, like ``sqlite3.Row`` (``dict(row)`` works too)."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = tuple(values)
        self._index = index

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._index, self._values, strict=True))!r})"


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    index = {col.name: i for i, col in enumerate(cursor.description or ())}
    return lambda values: PgRow(values, index)


class PgRows:
    """A statement's rows, read whole (the connection went back to the pool already)."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return list(self._rows)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


def _params(params: Sequence[Any]) -> list[Any]:
    return [p.replace("\x00", "\ufffd") if isinstance(p, str) else p for p in params]


def _run(conn: Any, sql: str, params: Sequence[Any]) -> PgRows:
    cur = conn.execute(pg_sql(sql), _params(params))
    rows = cur.fetchall() if cur.description is not None else []
    return PgRows(rows, cur.rowcount)


class _PooledConn:
    """Runs each statement on a connection checked out of the pool for it."""

    def __init__(self, backend: PostgresBackend) -> None:
        self._backend = backend

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> PgRows:
        with self._backend.checkout() as conn:
            return _run(conn, sql, params)


class _BoundConn:
    """Runs statements on one connection (inside a transaction)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> PgRows:
        return _run(self._conn, sql, params)


def conninfo(url: str) -> str:
    """The URL as libpq connection parameters, with a connect timeout and our name unless it
    sets them; a URL libpq cannot read is a StoreError (its password masked)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(url)
    except Exception as exc:
        raise StoreError(
            f"CHATBOT_DATABASE_URL {redact_url(url)!r} cannot be read: {exc}"
        ) from None
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    params.setdefault("application_name", "rls-chatbot")
    return make_conninfo("", **params)


class PostgresBackend:
    """A PostgreSQL database (the URL's; its search_path chooses the schema) through a pool."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self.where = redact_url(url)
        self._info = conninfo(url)
        self._down_until = 0.0
        self._down_why = ""
        try:  # the real reason, at once (a pool would only say it timed out)
            psycopg.connect(self._info, autocommit=True).close()
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot reach the review store's PostgreSQL at {self.where}: {_first_line(exc)}"
            ) from None
        self._pool = ConnectionPool(
            self._info,
            min_size=1,
            max_size=POOL_MAX,
            kwargs={"autocommit": True, "row_factory": _row_factory},
            check=ConnectionPool.check_connection,  # one taken down with the server is replaced
            timeout=WAIT_S,
            num_workers=1,
            name="review-store",
            open=True,
        )
        self._pooled = _PooledConn(self)

    @contextmanager
    def checkout(self) -> Iterator[Any]:
        """A pooled connection; a StoreError at once while the server is known unreachable."""
        import psycopg
        from psycopg_pool import PoolTimeout

        now = time.monotonic()
        if now < self._down_until:
            raise StoreError(f"the review store's PostgreSQL is unreachable: {self._down_why}")
        try:
            with self._pool.connection() as conn:
                try:
                    yield conn
                except psycopg.OperationalError as exc:
                    if conn.closed or conn.broken:
                        self._down(exc)
                    raise
        except PoolTimeout as exc:
            self._down(exc)
            raise StoreError(
                f"the review store's PostgreSQL at {self.where} did not answer in {WAIT_S:g} s"
            ) from exc

    def _down(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_S
        self._down_why = f"{self.where}: {_first_line(exc)}"[:300]

    def conn(self) -> Conn:
        return self._pooled

    @contextmanager
    def transaction(self) -> Iterator[Conn]:
        with self.checkout() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            yield _BoundConn(conn)

    def read_version(self, conn: Conn) -> int:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (id INTEGER PRIMARY KEY CHECK (id = 1),"
            " version INTEGER NOT NULL)"
        )
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    def write_version(self, conn: Conn, version: int) -> None:
        conn.execute(
            "INSERT INTO schema_version (id, version) VALUES (1, ?)"
            " ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            (int(version),),
        )

    def statements(self, script: str) -> list[str]:
        return [pg_ddl(s) for s in _split(script)]

    def close(self) -> None:
        self._pool.close()

    def errors(self) -> tuple[type[BaseException], ...]:
        import psycopg

        return (psycopg.Error,)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
