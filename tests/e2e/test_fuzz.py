"""Schema-admitted input never crashes a tool; schema-violating input is refused naming the argument.

Arguments are generated from each tool's published inputSchema (hypothesis-jsonschema), so the test
follows the catalog. Valid arguments sometimes carry real ids, so calls reach past the argument check
into the Console client and the sandbox. Mutations then break the schema in the ways clients do: a
missing field, an unknown one, wrong types, huge strings, control characters and non-ASCII text.

Generation is derandomized (the same examples every run) and each call is time-boxed; waits are capped
with `Limits(max_wait_s=...)`, so the file stays fast on a small CI box.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from mcp import Client
from mcp_types import CallToolResult, Tool

from bimpe_mcp.sandbox import RunningSandbox, request_log
from bimpe_mcp.server import build_server
from bimpe_mcp.settings import Settings
from bimpe_mcp.tools import ALL_TOOLS, CATALOG
from bimpe_mcp.tools._runtime import Limits
from tests.e2e.test_auth import initialize
from tests.harness import connect, http_server, populate_agent, text_of

VALID_EXAMPLES = 6
FUZZED_EXAMPLES = 3
CALL_TIMEOUT_S = 15
MAX_WAIT_S = 0.3

SPECS = {spec.name: spec for spec in ALL_TOOLS}
TOOLSETS = sorted({spec.toolset for spec in ALL_TOOLS})

UNKNOWN_FIELD = "unexpected_field"
HUGE = "x" * 70_000
CONTROL = "a\x00b\r\nc\td\x1b[0m\x7f\u2028e"
NON_ASCII = "Ünïcødé—中文🙂\u202eend"

GENERATION = settings(
    max_examples=VALID_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def draw_examples(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """`count` reproducible examples of `strategy`, drawn up front so the async calls run in one session."""
    drawn: list[Any] = []

    @settings(GENERATION, max_examples=count)
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


# ---- what the sandbox holds -------------------------------------------------------------------------


async def known_ids(sandbox: RunningSandbox) -> dict[str, list[str]]:
    """Real ids of the demo agent's data, by parameter name, made through the tools themselves."""
    store = sandbox.store
    agent_id = store.demo_agent_id or ""
    async with connect("memory", sandbox) as conn:
        made = await populate_agent(conn, agent_id)
    workflow_id = store.demo_workflow_id or ""
    butterbase = store.butterbase
    butterbase.configure({"toolkit": "gmail"})
    started = butterbase.connect({"toolkit": "gmail", "userId": "user-1"}, f"{sandbox.base_url}/callback")
    butterbase.callback(started["authUrl"].split("state=", 1)[1])
    return {
        "toolkit": ["gmail"],
        "connection_id": list(butterbase.connections),
        "user_id": ["user-1"],
        "agent_id": [agent_id],
        "submitted_by_agent_id": [agent_id],
        "workflow_id": [workflow_id],
        "source_workflow_id": [workflow_id],
        "kb_id": [made["kb_id"]],
        "integration_id": [made["integration_id"], made["mcp_integration_id"]],
        "tool_id": [made["tool_id"]],
        "conversation_id": [made["conversation_id"]],
        "message_id": [made["message_id"]],
        "call_id": [made["call_id"]],
        "phone_number_id": [store.demo_phone_number_id or ""],
    }


@asynccontextmanager
async def fuzz_client(sandbox: RunningSandbox) -> AsyncIterator[Client]:
    """A client of an unscoped in-memory server, with every wait capped short."""
    env = {"BIMPE_BASE_URL": sandbox.base_url, "BIMPE_API_KEY": sandbox.store.demo_api_key or ""}
    butterbase = sandbox.store.butterbase
    env |= {
        "BUTTERBASE_BASE_URL": sandbox.base_url,
        "BUTTERBASE_API_KEY": butterbase.api_key,
        "BUTTERBASE_APP_ID": butterbase.app_id,
    }
    server = build_server(Settings.load(env))
    server.backend.limits = Limits(max_wait_s=MAX_WAIT_S)
    try:
        async with Client(server.mcp, read_timeout_seconds=60) as client:
            yield client
    finally:
        await server.aclose()


# ---- arguments -------------------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


@st.composite
def valid_arguments(draw: st.DrawFn, tool: Tool, ids: dict[str, list[str]]) -> dict[str, Any]:
    """Schema-valid arguments; each id is sometimes a real one, and a destructive tool is sometimes confirmed
    (only for made-up targets, so nothing real is deleted)."""
    schema = tool.input_schema
    arguments = dict(draw(from_schema(schema, custom_formats={"password": st.text(max_size=40)})))
    for name in schema.get("properties", {}):
        if name in ids and name in arguments and draw(st.booleans()):
            arguments[name] = draw(st.sampled_from(ids[name]))
    target = SPECS[tool.name].confirm
    real = {value for values in ids.values() for value in values}
    if target and target in arguments and arguments[target] not in real and draw(st.booleans()):
        arguments["confirm"] = arguments[target]
    return arguments


def with_real_ids(arguments: dict[str, Any], ids: dict[str, list[str]]) -> dict[str, Any]:
    """`arguments` with every id the sandbox knows made real, so mutations of it reach the Console."""
    return {name: ids[name][0] if name in ids and name in arguments else value for name, value in arguments.items()}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def fuzzed_arguments(draw: st.DrawFn, tool: Tool, ids: dict[str, list[str]]) -> dict[str, Any]:
    """Valid arguments with one value replaced by arbitrary JSON: may or may not be valid."""
    arguments = draw(valid_arguments(tool, ids))
    names = [*sorted(tool.input_schema.get("properties", {})), UNKNOWN_FIELD]
    arguments[draw(st.sampled_from(names))] = draw(_JSON)
    return arguments


def _wrong_value(schema: dict[str, Any]) -> Any:
    """A value of a JSON type `schema` does not admit (None when every type is admitted)."""
    types = _types(schema)
    if "enum" in schema:
        return 7
    for kind, wrong in (("string", 12345), ("integer", "twelve"), ("number", "twelve"), ("boolean", "maybe")):
        if kind in types:
            return wrong
    if "array" in types:
        return "not a list"
    if "object" in types:
        return ["not", "an", "object"]
    return None


def _string_properties(tool: Tool) -> dict[str, bool]:
    """Every property that takes a string (idempotency_key included), and whether it is a list of them."""
    schema = tool.input_schema
    defs = schema.get("$defs", {})
    found = {}
    for name, prop in schema.get("properties", {}).items():
        prop = _resolve(prop, defs)
        if "string" in _types(prop):
            found[name] = False
        elif "array" in _types(prop) and "string" in _types(_resolve(prop.get("items", {}), defs)):
            found[name] = True
    return found


@dataclass(frozen=True)
class Case:
    label: str
    arguments: dict[str, Any]
    invalid: bool
    """Certainly violates the schema: must be refused."""
    named: str | None = None
    """The argument the refusal must name, when one is certain."""


def mutations(tool: Tool, base: dict[str, Any]) -> list[Case]:
    """Deterministic schema violations of a valid `base`, derived from the schema."""
    schema = tool.input_schema
    defs = schema.get("$defs", {})
    props = schema.get("properties", {})
    cases = [
        Case(f"drop:{name}", {k: v for k, v in base.items() if k != name}, True, name)
        for name in schema.get("required", [])
    ]
    cases.append(Case("unknown-field", {**base, UNKNOWN_FIELD: "x"}, True, UNKNOWN_FIELD))
    for name, prop in props.items():
        wrong = _wrong_value(_resolve(prop, defs))
        if wrong is not None:
            cases.append(Case(f"wrong-type:{name}", {**base, name: wrong}, True, name))
    for name, is_list in _string_properties(tool).items():
        for label, text in (("huge", HUGE), ("control-chars", CONTROL), ("non-ascii", NON_ASCII)):
            cases.append(Case(f"{label}:{name}", {**base, name: [text] if is_list else text}, False))
    return cases


# ---- checking ------------------------------------------------------------------------------------


def _argument_error(text: str) -> bool:
    return "Invalid arguments" in text or "validation_error" in text


def problems_with(tool: Tool, case: Case, result: CallToolResult) -> list[str]:
    """What is wrong with one result: a crash, a refusal that names no argument, or an accepted violation."""
    text = text_of(result)
    found = []
    if "failed unexpectedly" in text:
        found.append(f"crashed: {text[:160]!r}")
    names = {*tool.input_schema.get("properties", {}), *case.arguments}
    if result.is_error and _argument_error(text) and not any(name in text for name in names):
        found.append(f"names no argument: {text[:160]!r}")
    if case.invalid and not result.is_error:
        found.append("accepted")
    elif case.named and result.is_error and _argument_error(text) and case.named not in text:
        found.append(f"does not name {case.named}: {text[:160]!r}")
    return found


async def run_cases(client: Client, tool: Tool, cases: list[Case]) -> tuple[list[str], list[dict[str, Any]]]:
    """Call `tool` with every case: the problems found, and the arguments of the calls that succeeded."""
    failures, worked = [], []
    for case in cases:
        try:
            with anyio.fail_after(CALL_TIMEOUT_S):
                result = await client.call_tool(tool.name, case.arguments)
        except Exception as error:
            failures.append(f"{tool.name} [{case.label}]: raised {type(error).__name__}: {str(error)[:160]}")
            continue
        failures.extend(f"{tool.name} [{case.label}]: {problem}" for problem in problems_with(tool, case, result))
        if not result.is_error:
            worked.append(case.arguments)
    return failures, worked


@pytest.mark.parametrize("toolset", TOOLSETS)
async def test_generated_arguments_never_crash_a_tool(toolset: str, sandbox: RunningSandbox) -> None:
    """Per toolset: valid, fuzzed and mutated arguments for every tool; each outcome a clean result or a
    clean isError. Mutations start from a call that worked, so they reach past the argument check."""
    ids = await known_ids(sandbox)
    failures: list[str] = []
    toolsets = {facts.name: facts.toolset for facts in CATALOG}
    async with fuzz_client(sandbox) as client:
        tools = [tool for tool in (await client.list_tools()).tools if toolsets[tool.name] == toolset]
        assert tools, f"no tools in toolset {toolset}"
        for tool in tools:
            valid = draw_examples(valid_arguments(tool, ids), VALID_EXAMPLES)
            fuzzed = draw_examples(fuzzed_arguments(tool, ids), FUZZED_EXAMPLES)
            cases = [Case(f"valid#{n}", arguments, False) for n, arguments in enumerate(valid)]
            cases += [Case(f"fuzzed#{n}", arguments, False) for n, arguments in enumerate(fuzzed)]
            found, worked = await run_cases(client, tool, cases)
            base = worked[0] if worked else with_real_ids(valid[0], ids)
            found += (await run_cases(client, tool, mutations(tool, base)))[0]
            failures += found
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures)


# ---- malformed API keys ----------------------------------------------------------------------------


class CountingTransport(httpx.AsyncBaseTransport):
    """The real network, counting every attempt to send (also those the HTTP stack refuses locally)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


MALFORMED_KEYS = {
    "whitespace-only": "   \t ",
    "crlf": "sk_test_abcdefgh\r\nX-Injected: 1",
    "trailing-newline": "sk_test_abcdefgh\n",
    "inner-space": "sk_test abcdefgh",
    "non-ascii": "sk_test_äbcdéfgh",
    "nul": "sk_test_abc\x00defgh",
}


def _sent_with(sandbox: RunningSandbox, key: str) -> int:
    """Requests the sandbox received carrying `key`: as given, stripped, or as UTF-8 bytes read as latin-1."""
    forms = {key, key.strip(), key.encode().decode("latin-1"), key.strip().encode().decode("latin-1")} - {""}
    return sum(1 for request in request_log(sandbox.app) if request.api_key in forms)


@pytest.mark.parametrize("key", MALFORMED_KEYS.values(), ids=MALFORMED_KEYS.keys())
async def test_malformed_server_key_is_named_and_not_retried(key: str, sandbox: RunningSandbox) -> None:
    """A BIMPE_API_KEY that cannot go on the wire is an isError naming BIMPE_API_KEY, sent at most once."""
    counting = CountingTransport()
    env = {"BIMPE_BASE_URL": sandbox.base_url, "BIMPE_API_KEY": key, "BIMPE_MAX_RETRIES": "3"}
    server = build_server(Settings.load(env), http_transport=counting)
    try:
        async with Client(server.mcp, read_timeout_seconds=60) as client:
            with anyio.fail_after(CALL_TIMEOUT_S):
                result = await client.call_tool("list_workflows", {})
    finally:
        await server.aclose()
    text = text_of(result)
    assert result.is_error, result.structured_content
    assert "BIMPE_API_KEY" in text, text
    assert "failed unexpectedly" not in text, text
    assert counting.attempts <= 1, f"{counting.attempts} attempts: {text}"
    assert _sent_with(sandbox, key) <= 1


HTTP_KEYS: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "inner-space-x-header": ("sk_test abcdefgh", lambda key: {"X-Bimpe-Api-Key": key}),
    "tab-bearer": ("sk_test\tabcdefgh", lambda key: {"Authorization": f"Bearer {key}"}),
    "non-ascii-x-header": ("sk_test_äbcdéfgh", lambda key: {"X-Bimpe-Api-Key": key.encode()}),
    "non-ascii-bearer": ("sk_test_äbcdéfgh", lambda key: {"Authorization": f"Bearer {key}".encode()}),
    "empty-bearer": ("", lambda key: {"Authorization": "Bearer"}),
}


@pytest.mark.parametrize(("key", "headers"), HTTP_KEYS.values(), ids=HTTP_KEYS.keys())
async def test_malformed_header_key_is_named_and_not_retried(
    key: str, headers: Callable[[str], dict[str, Any]], sandbox: RunningSandbox
) -> None:
    """Over HTTP, a malformed per-request key gets 403 naming the header it came in, and is never sent."""
    sent = headers(key)
    settings = Settings.load({"BIMPE_BASE_URL": sandbox.base_url}, transport="http")
    with http_server(settings) as base:
        refused = initialize(f"{base}/mcp", sent)
    header = next(iter(sent))
    assert refused.status_code == 403, refused.text
    assert header in refused.json()["message"], refused.text
    assert _sent_with(sandbox, key) == 0
