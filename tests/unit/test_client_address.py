"""The client's address behind (or without) a reverse proxy, and the rate limit's table."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from chatbot.web.limits import RateLimiter, rate_key
from chatbot.web.middleware import (
    ClientAddressMiddleware,
    TrustedProxies,
    client_address,
    forwarded_scheme,
)


def scope(peer: str | None, **headers: str) -> dict:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "client": (peer, 5555) if peer else None, "headers": raw}


NONE = TrustedProxies()
LOCAL = TrustedProxies(["127.0.0.1", "::1"])
CHAIN = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])


def test_without_trusted_proxies_the_headers_change_nothing():
    for headers in (
        {"x_forwarded_for": "198.51.100.1"},
        {"forwarded": "for=198.51.100.1"},
        {"x_forwarded_for": "198.51.100.1, 127.0.0.1", "forwarded": "for=192.0.2.9"},
    ):
        assert client_address(scope("203.0.113.7", **headers), NONE) == "203.0.113.7"
        assert client_address(scope("127.0.0.1", **headers), NONE) == "127.0.0.1"


def test_a_direct_client_is_not_believed_even_when_proxies_are_trusted():
    spoofed = scope("203.0.113.7", x_forwarded_for="198.51.100.1", x_forwarded_proto="https")
    assert client_address(spoofed, LOCAL) == "203.0.113.7"
    assert forwarded_scheme(spoofed, LOCAL) is None


def test_behind_a_trusted_proxy_the_rightmost_other_address_is_the_client():
    # nginx's $proxy_add_x_forwarded_for appends the client it saw to what the client sent.
    forged = scope("127.0.0.1", x_forwarded_for="1.1.1.1, 2.2.2.2, 198.51.100.7")
    assert client_address(forged, LOCAL) == "198.51.100.7"
    # Two proxies of ours (10.x, then the local one): both skipped.
    chain = scope("127.0.0.1", x_forwarded_for="6.6.6.6, 198.51.100.7, 10.1.2.3")
    assert client_address(chain, CHAIN) == "198.51.100.7"
    # Every hop trusted (a client inside the proxies' network): the leftmost.
    inside = scope("127.0.0.1", x_forwarded_for="10.9.9.9, 10.1.2.3")
    assert client_address(inside, CHAIN) == "10.9.9.9"


def test_several_header_lines_count_as_one_list():
    s = scope("127.0.0.1")
    s["headers"] = [(b"x-forwarded-for", b"1.1.1.1"), (b"x-forwarded-for", b"198.51.100.7")]
    assert client_address(s, LOCAL) == "198.51.100.7"


def test_forwarded_header_rfc_7239():
    s = scope(
        "::1", forwarded='for=192.0.2.60;proto=https;by=203.0.113.43, for="[2001:db8::17]:4711"'
    )
    assert client_address(s, LOCAL) == "2001:db8::17"
    assert forwarded_scheme(s, LOCAL) is None  # the element naming the client has no proto
    s = scope("127.0.0.1", forwarded="for=6.6.6.6;proto=http, for=192.0.2.60;proto=https")
    assert client_address(s, LOCAL) == "192.0.2.60"
    assert forwarded_scheme(s, LOCAL) == "https"
    assert client_address(scope("127.0.0.1", forwarded="for=192.0.2.60:8080"), LOCAL) == (
        "192.0.2.60"
    )
    # X-Forwarded-For wins when both are there (nginx and Caddy set it, and pass Forwarded on).
    both = scope("127.0.0.1", x_forwarded_for="198.51.100.7", forwarded="for=1.1.1.1")
    assert client_address(both, LOCAL) == "198.51.100.7"


@pytest.mark.parametrize("hop", ["unknown", "_hidden", "not-an-ip", "", "999.1.1.1", '"[::1'])
def test_a_garbled_hop_stops_at_the_last_address_a_proxy_vouched_for(hop):
    s = scope("127.0.0.1", x_forwarded_for=f"1.1.1.1, {hop}")
    assert client_address(s, LOCAL) == "127.0.0.1"
    s = scope("127.0.0.1", x_forwarded_for=f"{hop}, 10.1.2.3")
    assert client_address(s, CHAIN) == "10.1.2.3"


def test_ipv4_mapped_peers_and_networks():
    assert TrustedProxies(["127.0.0.0/8"]).trusts("::ffff:127.0.0.5")
    assert not TrustedProxies(["127.0.0.0/8"]).trusts("::1")
    assert not LOCAL.trusts("localhost") and not LOCAL.trusts(None)
    s = scope("::ffff:127.0.0.1", x_forwarded_for="198.51.100.7")
    assert client_address(s, LOCAL) == "198.51.100.7"


def test_scheme_from_a_trusted_proxy():
    assert forwarded_scheme(scope("127.0.0.1", x_forwarded_proto="https"), LOCAL) == "https"
    assert forwarded_scheme(scope("127.0.0.1", x_forwarded_proto="gopher"), LOCAL) is None
    assert forwarded_scheme(scope("127.0.0.1"), LOCAL) is None


def test_no_client_at_all():
    assert client_address(scope(None, x_forwarded_for="1.1.1.1"), LOCAL) == "unknown"


def test_the_setting_takes_addresses_and_networks_only():
    from chatbot.config import ConfigError, load_settings

    web = load_settings(trusted_proxies="127.0.0.1, 10.0.0.0/8, ::1").web
    assert web.trusted_proxies == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    assert load_settings().web.trusted_proxies == []  # none by default
    with pytest.raises(ConfigError, match="CHATBOT_TRUSTED_PROXIES.*'proxy.local' is not an IP"):
        load_settings(trusted_proxies="proxy.local")


# --- the rate limit's keys and table ------------------------------------------------------------


def test_an_ipv6_client_counts_by_its_slash_64():
    assert (
        rate_key("2001:db8:1:2:aaaa::1")
        == rate_key("2001:db8:1:2:bbbb::9")
        == ("2001:db8:1:2::/64")
    )
    assert rate_key("2001:db8:1:3::1") != rate_key("2001:db8:1:2::1")
    assert rate_key("::ffff:192.0.2.1") == "192.0.2.1" == rate_key("192.0.2.1")
    assert rate_key("") == "unknown"


@pytest.fixture
def clock(monkeypatch):
    """The limits library's clock and ours, moved by hand."""
    import limits.storage.memory as memory

    now = [1000.0]
    monkeypatch.setattr(memory, "time", SimpleNamespace(time=lambda: now[0]))
    return now


def test_the_table_of_clients_does_not_grow_without_bound(clock):
    limiter = RateLimiter(3, clock=lambda: clock[0])
    for i in range(5000):  # 5,000 addresses, one request each
        assert limiter.check(f"198.51.{i // 250}.{i % 250}") == 0
    assert limiter.prune() == 5000  # all still inside their window
    clock[0] += 61
    assert limiter.check("192.0.2.1") == 0
    limiter.storage._MemoryStorage__expire_events()  # what its timer does every few ms
    assert limiter.prune() == 1  # only the one who asked within the minute is left


def _host_seen(peer: str, trusted: TrustedProxies) -> list[bytes]:
    """The X-Forwarded-Host values the app behind ClientAddressMiddleware is given."""
    seen: list[bytes] = []

    async def app(scope, receive, send):
        seen.extend(v for k, v in scope["headers"] if k == b"x-forwarded-host")

    # Driven by hand (nothing in it waits): the suite may already have an event loop running.
    call = ClientAddressMiddleware(app, trusted)(
        scope(peer, x_forwarded_host="clinic.example"), None, None
    )
    with pytest.raises(StopIteration):
        call.send(None)
    return seen


def test_only_a_trusted_proxy_may_name_the_public_host():
    # The staff pages' same-origin check reads X-Forwarded-Host as the public host: a client
    # that names it itself must not get past that check.
    assert _host_seen("203.0.113.7", NONE) == []
    assert _host_seen("203.0.113.7", LOCAL) == []
    assert _host_seen("127.0.0.1", NONE) == []
    assert _host_seen("127.0.0.1", LOCAL) == [b"clinic.example"]
