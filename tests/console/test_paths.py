"""No id can change the route: every id is one encoded segment, or refused before anything is sent."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bimpe_mcp.console import ConsoleResponseError, InvalidIdError, route
from bimpe_mcp.console import models as m

from .conftest import ok

HOSTILE = [
    "../agt_B",
    "../../agt_B",
    "..%2fagt_B",
    "%2e%2e/agt_B",
    "a/b",
    "a\\b",
    "a?x=1",
    "a#frag",
    "a b",
    "a%00b",
    "agt\uff0fB",
    "\u2024\u2024",
    "агент",
]
REFUSED = ["", ".", "..", " ..", "a\x00b", "a\r\nb", "a\tb", " agt", "agt ", "x" * 100_000]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_id_stays_one_segment(hostile: str) -> None:
    path = route("/agents/{agent_id}/knowledge_bases/{kb_id}", agent_id="agt_A", kb_id=hostile)
    prefix = "/agents/agt_A/knowledge_bases/"
    assert path.startswith(prefix)
    encoded = path.removeprefix(prefix)
    assert "/" not in encoded and "?" not in encoded and "#" not in encoded and "\\" not in encoded
    assert httpx.URL("http://x" + path).path.startswith(prefix)  # httpx does not fold it away


@pytest.mark.parametrize("refused", REFUSED)
def test_an_unsendable_id_is_refused_naming_it(refused: str) -> None:
    with pytest.raises(InvalidIdError) as caught:
        route("/agents/{agent_id}/calls/{call_id}", agent_id="agt_A", call_id=refused)
    assert caught.value.field == "call_id" and "call_id" in str(caught.value)


@pytest.mark.parametrize("hostile", HOSTILE + REFUSED)
async def test_the_client_never_sends_outside_the_named_resource(scripted: Callable[..., Any], hostile: str) -> None:
    """Every endpoint that takes an id, fed a hostile one: what reaches the wire stays under the agent."""
    client, script = scripted(ok({}))
    calls = [
        lambda: client.knowledge_bases.update("agt_A", hostile, m.KnowledgeBaseUpdate(name="x")),
        lambda: client.conversations.get("agt_A", hostile),
        lambda: client.conversations.list_messages("agt_A", hostile),
        lambda: client.calls.get("agt_A", hostile),
        lambda: client.integrations.disconnect("agt_A", "custom_api", hostile),
        lambda: client.integrations.delete_custom_api_tool("agt_A", "int_1", hostile),
    ]
    for call in calls:
        with contextlib.suppress(InvalidIdError, ConsoleResponseError):  # refused, or the answer's shape
            await call()
    for request in script.requests:
        segments = request.url.raw_path.decode().split("?")[0].split("/")
        assert segments[:6] == ["", "api", "v1", "console", "agents", "agt_A"], segments
        assert not {"..", ".", "agt_B"} & set(segments), segments
