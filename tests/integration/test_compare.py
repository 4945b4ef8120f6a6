"""make compare's harness (tests/bench/compare.py), run for socksify.sh alone: its column of the
README's comparison table must say proxied everywhere (the static program too: the launcher runs it
under socksify-supervise), except the stopped proxy it fails on, with no packet sent direct and no
local DNS query. The peers'
columns are facts we report, not something to assert."""

import json
import os

import pytest

import support
from support import PYTHON, needs

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces and nftables"),
    needs("ip", "nft", "curl", "dig", "gcc"),
]

COMPARE = os.path.join(support.ROOT, "tests", "bench", "compare.py")
EXPECTED = {
    "tcp-ip": "proxied", "tcp-name": "proxied", "udp": "proxied", "udp-connected": "proxied",
    "dns-udp": "proxied", "asyncio": "proxied", "tcp-ipv6": "proxied",
    "static": "proxied", "proxy-down": "refused",
}


@pytest.fixture(scope="module")
def socksify_column(built, tmp_path_factory):
    if support.SANITIZE:
        pytest.skip("compare.py runs the plain build (its programs are not started with the ASan runtime)")
    out = str(tmp_path_factory.mktemp("compare"))
    r = support.run([PYTHON, COMPARE, "--wrappers", "socksify", "--out", out], env=support.base_env(BUILD=support.BUILD),
                    timeout=120)
    assert r.rc == 0, r
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)["results"], r


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_socksify_column(socksify_column, scenario):
    results, run = socksify_column
    res = results[scenario]["socksify"]
    assert res["kind"] == EXPECTED[scenario], (res, run.err[-3000:])
    assert res["direct_packets"] == 0, res
    if scenario != "dns-udp":  # dig's query goes to the trap, through the proxy: the trap sees it there
        assert res["trap_queries"] == [], res
    else:
        assert res["dns_packets"] == 0 and res["trap_queries"], res
    if scenario == "static":
        assert res["proxy_sessions"] == 1, res
