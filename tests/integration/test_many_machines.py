"""Several machines behind one address: each replica its own data folder, all sharing one
PostgreSQL store (``CHATBOT_DATABASE_URL``), one Redis (``CHATBOT_LIMITS_URL``) and one
``CHATBOT_STAFF_SECRET``. A staff cookie signed by one works on the others, a sign-out on one
holds on all, and the sign-in brake and the patients' rate limit count once over all of them.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx
import pytest
from helpers import STAFF_PASSWORD, LiveServer, TinyWorld, live_server_env, pg_schema

from chatbot.config import ConfigError, load_settings
from chatbot.web.auth import StaffAuth

SECRET = "a-shared-secret-for-every-replica-" + "x" * 8
WRONG = "not the staff password"


def replicas_auth(world: TinyWorld, tmp_path: Path, secret: str) -> list[StaffAuth]:
    """Two machines' sign-in: their own data folders, the world's store for both."""
    from chatbot.review.store import Store

    out = []
    for name in ("one", "two"):
        cfg = world.settings.replace(data_dir=tmp_path / name, staff_secret=secret)
        store = Store(world.store_path)
        out.append(StaffAuth(cfg, store=lambda s=store: s))
    return out


def test_one_secret_makes_a_cookie_good_on_every_replica(tmp_path, store_location, password_hash):
    world = TinyWorld(tmp_path, store_location)
    world.settings = world.settings.replace(staff_password_hash=password_hash)
    one, two = replicas_auth(world, tmp_path, SECRET)
    cookie = one.issue("staff")
    assert two.session(cookie)["u"] == "staff"  # signed on one, good on the other
    two.sign_out(two.session(cookie))
    assert one.session(cookie) is None  # signed out on the other: gone on this one too
    # Without the setting each machine keeps its own key in its data folder: the other's
    # cookie is refused (one machine only, as before).
    mine, theirs = replicas_auth(world, tmp_path / "apart", "")
    assert theirs.session(mine.issue("staff")) is None
    assert (tmp_path / "apart" / "one" / "staff_secret").exists()


def test_a_short_staff_secret_is_refused_without_being_shown(monkeypatch):
    monkeypatch.setenv("CHATBOT_STAFF_SECRET", "short-secret-9")
    with pytest.raises(ConfigError, match="CHATBOT_STAFF_SECRET: .*at least 32") as err:
        load_settings()
    assert "short-secret-9" not in str(err.value)


class Browser:
    """A staff member's browser against one replica: cookies kept by hand (they are Secure,
    which a client over plain http would not send back), carried from replica to replica."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def request(self, server: LiveServer, method: str, path: str, **kw) -> httpx.Response:
        header = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        r = httpx.request(method, server.url + path, headers={"Cookie": header}, timeout=60, **kw)
        for name, value in r.cookies.items():
            self.cookies[name] = value
        for line in r.headers.get_list("set-cookie"):
            if "Max-Age=0" in line or "expires=Thu, 01 Jan 1970" in line:
                self.cookies.pop(line.split("=", 1)[0], None)
        return r

    def csrf(self, html: str) -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', html)
        assert m, html[:500]
        return m.group(1)

    def sign_in(self, server: LiveServer, password: str = STAFF_PASSWORD) -> httpx.Response:
        page = self.request(server, "GET", "/staff")
        form = {"username": "staff", "password": password, "csrf": self.csrf(page.text)}
        return self.request(server, "POST", "/staff/login", data=form)

    def signed_in(self, server: LiveServer) -> bool:
        return "Sign in" not in self.request(server, "GET", "/staff").text


@pytest.mark.slow
def test_two_replicas_share_sign_outs_the_brake_and_the_rate_limit(
    real_index_dir, tmp_path, postgres_url, redis_url, monkeypatch
):
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    with pg_schema(postgres_url, monkeypatch) as url:
        shared = {
            "CHATBOT_DATABASE_URL": url,
            "CHATBOT_LIMITS_URL": redis_url,
            "CHATBOT_STAFF_SECRET": secrets.token_urlsafe(32),
            "CHATBOT_RATE_LIMIT_PER_MINUTE": "3",
        }
        servers = [
            LiveServer(live_server_env(real_index_dir, tmp_path / name, **shared))
            for name in ("one", "two")
        ]
        try:
            one, two = (s.wait() for s in servers)
            assert one.health()["store"] == two.health()["store"] == "ok"

            # Patients: three questions a minute from one address, counted over both.
            asks = [s.post("/api/ask", {"question": "is there a cure"})[0] for s in (one, two) * 2]
            assert asks == [200, 200, 200, 429]
            # Both logged into the one store.
            from chatbot.review.store import Store

            logged, total = Store(url).list_answers()
            assert total == 3 and {r["question"] for r in logged} == {"is there a cure"}

            # Staff: signed in on one, the same cookie works on two; signing out on two ends
            # it on one (a copy of the cookie included).
            ann = Browser()
            assert ann.sign_in(one).status_code == 303
            session = ann.cookies["staff_session"]
            assert ann.signed_in(two) and ann.signed_in(one)
            page = ann.request(two, "GET", "/staff").text
            out = ann.request(two, "POST", "/staff/logout", data={"csrf": ann.csrf(page)})
            assert out.status_code == 303
            copy = Browser()
            copy.cookies["staff_session"] = session
            assert not copy.signed_in(one) and not copy.signed_in(two)

            # The brake: five wrong passwords over both machines, then even the right one
            # waits, on each.
            bob = Browser()
            tries = [bob.sign_in(s, WRONG).status_code for s in (one, two, one, two, one)]
            assert tries == [401] * 5
            for s in (one, two):
                r = bob.sign_in(s)
                assert r.status_code == 429 and "Too many failed sign-ins" in r.text
        finally:
            for s in servers:
                s.stop()
