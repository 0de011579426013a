"""The hub's login throttle and client address, without a hub (the attacks over real HTTP are in
``tests/security/test_login.py``)."""

from __future__ import annotations

from types import SimpleNamespace

from tornado.httputil import HTTPHeaders

from hub_config.auth import LoginThrottle, client_ip


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def throttle(**kw):
    clock = Clock()
    return LoginThrottle(clock=clock, **kw), clock


def test_an_address_is_refused_after_its_failures_then_forgiven_after_the_window():
    t, clock = throttle(ip_max_failures=3, ip_window=60)
    for i in range(3):
        assert t.check(f"user{i}", "10.0.0.1") == (None, 0.0)
        t.failed(f"user{i}", "10.0.0.1")
    assert t.check("anyone", "10.0.0.1")[0] == "ip"
    assert t.check("anyone", "10.0.0.2") == (None, 0.0), "other addresses are not affected"
    clock.now += 61
    assert t.check("anyone", "10.0.0.1") == (None, 0.0)


def test_failures_pause_an_account_from_that_address_only():
    t, clock = throttle(pair_max_failures=5, pair_lock=900, account_free_failures=5)
    for _ in range(5):
        t.failed("admin1", "10.0.0.66")
    assert t.check("admin1", "10.0.0.66")[0] == "pair"
    refusal, delay = t.check("admin1", "10.0.0.7")
    assert refusal is None and 0 < delay <= t.account_max_delay, "the owner elsewhere only waits"
    clock.now += 901
    assert t.check("admin1", "10.0.0.66")[0] is None


def test_the_per_account_delay_is_bounded_and_cleared_by_a_success():
    t, _ = throttle(account_free_failures=2, account_max_delay=3.0, ip_max_failures=1000,
                    pair_max_failures=1000)
    delays = []
    for i in range(12):
        t.failed("admin1", f"10.1.0.{i}")
        delays.append(t.check("admin1", "10.9.9.9")[1])
    assert delays[0] == 0 and delays == sorted(delays) and max(delays) == 3.0
    t.succeeded("admin1", "10.9.9.9")
    assert t.check("admin1", "10.9.9.9") == (None, 0.0)


def test_unknown_and_real_accounts_are_throttled_alike():
    t, _ = throttle(pair_max_failures=2)
    for name in ("admin1", "no_such_person"):
        t.failed(name, "10.0.0.5")
        t.failed(name, "10.0.0.5")
    assert t.check("admin1", "10.0.0.5") == t.check("no_such_person", "10.0.0.5")


def test_made_up_names_cannot_grow_the_tables_forever():
    t, clock = throttle(ip_window=10)
    t.MAX_KEYS = 50
    for i in range(200):
        t.failed(f"name{i}", f"10.2.{i // 250}.{i % 250}")
        clock.now += 1
    assert len(t._ip) + len(t._account) + len(t._pair) < 200


def handler(headers: dict, peer=("127.0.0.1", 5555), trusted=()):
    ctx = SimpleNamespace(address=peer, trusted_downstream=set(trusted))
    req = SimpleNamespace(headers=HTTPHeaders(headers), connection=SimpleNamespace(context=ctx))
    return SimpleNamespace(request=req)


def test_client_ip_is_the_hop_our_proxy_added_not_what_the_client_claims():
    # configurable-http-proxy appends the peer it saw to whatever the client sent
    assert client_ip(handler({"X-Forwarded-For": "6.6.6.6, ::ffff:127.0.0.9",
                              "X-Real-Ip": "7.7.7.7"})) == "127.0.0.9"
    assert client_ip(handler({})) == "127.0.0.1"
    # a TLS proxy in front (JupyterHub.trusted_downstream_ips) is skipped
    assert client_ip(handler({"X-Forwarded-For": "203.0.113.4, 10.0.0.2"},
                             trusted=["10.0.0.2"])) == "203.0.113.4"
