"""The sandbox's request log: what arrived on the wire, so tests can prove what was (not) sent."""

from __future__ import annotations

import httpx

from bimpe_mcp.sandbox import RecordedRequest, RunningSandbox, request_log

from .conftest import PREFIX


def test_every_request_is_recorded_as_sent(live: RunningSandbox) -> None:
    """Raw path (percent-encoding kept), query and key, from either auth header, even for unknown routes."""
    key = live.store.demo_api_key or ""
    with httpx.Client(base_url=live.base_url) as http:
        http.get(f"{PREFIX}/agents/..%2Fx%2e", params={"q": "a b"}, headers={"Authorization": f"Bearer {key}"})
        http.get(f"{PREFIX}/workflows", headers={"X-Api-Key": "sk_other"})
        http.post("/_sandbox/teams", json={"name": "T"})
    assert list(request_log(live.app)) == [
        RecordedRequest("GET", f"{PREFIX}/agents/..%2Fx%2e", "q=a+b", key),
        RecordedRequest("GET", f"{PREFIX}/workflows", "", "sk_other"),
        RecordedRequest("POST", "/_sandbox/teams", "", None),
    ]
    assert live.app.state.request_log is request_log(live.app)
