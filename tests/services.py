"""Real PostgreSQL and Redis servers for the tests, from Debian's packages (`make services`
installs them), each started on a private free loopback port in a temporary folder and stopped
at the end. conftest.py wraps them as session fixtures (``postgres_url``, ``redis_url``).

PostgreSQL refuses to run as root, so as root both run as an unprivileged user (``nobody``,
through ``subprocess``'s ``user``/``group``); as any other user they run as that user. Nothing
listens anywhere but 127.0.0.1, nothing is written outside the temporary folder, and Redis keeps
nothing on disk.

Run one by hand: ``.venv/bin/python tests/services.py`` starts both, prints their URLs and
waits for Ctrl-C.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SERVICE_USER = "nobody"
MISSING = "{what} is not installed: `make services` installs it (Debian's {package} package)"


class ServiceError(RuntimeError):
    """A test server that is missing or would not start (the message says why and what to do)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin_dir() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian keeps them per major version)."""

    def major(path: str) -> int:
        name = Path(path).parent.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=major)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise ServiceError(MISSING.format(what="PostgreSQL", package="postgresql"))


def redis_binary() -> Path:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None
    )
    if not found:
        raise ServiceError(MISSING.format(what="Redis", package="redis-server"))
    return Path(found)


def _as_service_user() -> dict:
    """``subprocess`` keywords that run a command as the unprivileged service user when we are
    root (PostgreSQL refuses root), else as ourselves."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(SERVICE_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _private_folder(prefix: str) -> Path:
    """A fresh folder only the service user can enter (its parent, /tmp, is world-searchable;
    pytest's own temp folders are not, so they cannot hold a server run as ``nobody``)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVICE_USER)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    folder.chmod(0o700)
    return folder


def _wait_for_port(port: int, proc: subprocess.Popen | None, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"server exited ({proc.returncode}): {_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise ServiceError(f"server did not listen on port {port} in {timeout:.0f} s: {_tail(log)}")


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


class PostgresServer:
    """A throwaway PostgreSQL cluster: ``initdb`` into a temp folder, ``pg_ctl start`` on a free
    port (TCP on 127.0.0.1 only, its socket in the same folder), trust auth for user
    ``postgres``, one database ``chatbot``. ``url`` is a libpq URL (psycopg, SQLAlchemy)."""

    user = "postgres"
    database = "chatbot"

    def __init__(self) -> None:
        self.bin = postgres_bin_dir()
        self.root = _private_folder("chatbot-pg-")
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.running = False

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        done = subprocess.run(
            [str(self.bin / argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            **_as_service_user(),
        )
        if done.returncode != 0:
            raise ServiceError(
                f"{argv[0]} failed ({done.returncode}): {(done.stderr or done.stdout)[-1500:]}"
            )

    def start(self, attempts: int = 3) -> PostgresServer:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",  # a test cluster: durability is not the point, speed is
        )
        for attempt in range(attempts):
            self.port = free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                )
                break
            except ServiceError:
                if attempt == attempts - 1:  # another process took the port: try another
                    raise ServiceError(f"PostgreSQL would not start: {_tail(self.log)}") from None
        self.running = True
        self._run(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database
        )
        return self

    def halt(self) -> None:
        """Stop the server but keep its data and port (``resume`` starts it again): an outage."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)
        self.running = False

    def resume(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        self.running = True

    def stop(self) -> None:
        if self.running:
            with contextlib.suppress(ServiceError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisServer:
    """A throwaway Redis on a free port of 127.0.0.1: no persistence (``--save ''``, no AOF),
    its working folder a temp folder. ``url`` is a redis:// URL (redis-py, ``limits``)."""

    def __init__(self) -> None:
        self.binary = redis_binary()
        self.root = _private_folder("chatbot-redis-")
        self.log = self.root / "server.log"
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, attempts: int = 3) -> RedisServer:
        for attempt in range(attempts):
            self.port = free_port()
            argv = [
                str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.root),
                "--daemonize", "no", "--protected-mode", "yes",
            ]  # fmt: skip
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen(
                    argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.root, **_as_service_user()
                )
            try:
                _wait_for_port(self.port, self.proc, 30, self.log)
                return self
            except ServiceError:
                self._kill()
                if attempt == attempts - 1:
                    raise
        return self

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        self._kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    with PostgresServer() as pg, RedisServer() as rd:
        print(f"CHATBOT_DATABASE_URL={pg.url}\nCHATBOT_LIMITS_URL={rd.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
