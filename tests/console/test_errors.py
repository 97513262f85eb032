"""Each Console error code becomes its typed error; every malformed answer becomes ConsoleResponseError."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bimpe_mcp.console import (
    CODE_TABLE,
    AuthenticationError,
    ConflictError,
    ConsoleAPIError,
    ConsoleClient,
    ConsoleResponseError,
    ConsoleTransport,
    FieldError,
    InvalidApiKeyError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionError,
    RateLimitError,
    RequestSpec,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from bimpe_mcp.console import (
    models as m,
)
from bimpe_mcp.sandbox import SandboxStore

from .conftest import FAST, Scripted, fail, ok

NO_RETRY = RetryPolicy(max_retries=0)


def _client(transport: ConsoleTransport, key: str | None) -> ConsoleClient:
    assert key is not None
    return ConsoleClient(transport, key)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # invalid on purpose: the sandbox must say so
async def test_validation_errors_carry_field_errors(client: ConsoleClient, store: SandboxStore) -> None:
    with pytest.raises(ValidationError) as caught:
        await client.workflows.create(
            m.WorkflowCreate.model_construct(
                name="W", system_prompt="p", rules=[{"name": "no id"}], faq=[{"question": "q"}]
            )
        )
    error = caught.value
    assert (error.status, error.code) == (400, "validation_error")
    assert error.field_errors == (
        FieldError("rules.0.id", "is required"),
        FieldError("faq.0.answer", "is required"),
    )
    assert "rules.0.id: is required" in error.message and error.request_id

    with pytest.raises(ValidationError) as caught:
        await client.knowledge_bases.create(
            store.demo_agent_id or "", m.KnowledgeBaseCreate.model_construct(type="url", name="Site", url="not a url")
        )
    assert caught.value.field_errors == (FieldError("url", "must be an http(s) URL"),)


async def test_bad_request_is_a_validation_error(client: ConsoleClient, store: SandboxStore) -> None:
    agent = store.demo_agent_id or ""
    mcp = await client.integrations.configure_mcp_server(
        agent, m.McpServerConfigure(name="Dead", server_url="https://unreachable.example.com")
    )
    with pytest.raises(ValidationError) as caught:
        await client.integrations.discover_mcp_server(agent, mcp.data.id)
    assert (caught.value.code, caught.value.status, caught.value.field_errors) == ("bad_request", 400, ())
    with pytest.raises(PreconditionError) as failed:
        await client.integrations.test_mcp_server(agent, mcp.data.id)
    assert failed.value.code == "integration_connection_failed"


async def test_authentication_errors(transport: ConsoleTransport, store: SandboxStore) -> None:
    expired = store.add_key(store.demo_team_id or "", ["agents:read"], expired=True)
    for key, code in (("sk_test_unknown", "api_key_invalid"), (expired, "api_key_expired")):
        with pytest.raises(AuthenticationError) as caught:
            await _client(transport, key).agents.list()
        assert (caught.value.code, caught.value.status) == (code, 401)


@pytest.mark.parametrize("key", ["", "   ", "sk_test\r\nX-Evil: 1", "sk_test key", "sk_tëst", "sk\x00"])
async def test_unsendable_keys_are_refused_before_sending(transport: ConsoleTransport, key: str) -> None:
    """A key that cannot be one header value is a configuration error: never sent, never retried."""
    with pytest.raises(InvalidApiKeyError):
        await _client(transport, key).agents.list()


async def test_permission_errors(transport: ConsoleTransport, store: SandboxStore) -> None:
    narrow = store.add_key(store.demo_team_id or "", ["agents:read", "workflows:read"])
    client = _client(transport, narrow)
    assert (await client.agents.list()).data
    with pytest.raises(PermissionDeniedError) as caught:
        await client.agents.update(store.demo_agent_id or "", m.AgentUpdate(name="x"))
    assert (caught.value.code, caught.value.status, caught.value.missing_scope) == (
        "insufficient_scope",
        403,
        "agents:write",
    )
    with pytest.raises(PermissionDeniedError) as caught:
        await client.conversations.list(store.demo_agent_id or "")
    assert caught.value.missing_scope == "conversations:read"

    demo = _client(transport, store.demo_api_key)
    public = (await demo.workflows.list(scope="public")).data[0]
    with pytest.raises(PermissionDeniedError) as forbidden:
        await demo.workflows.update(public.id, m.WorkflowUpdate(name="mine now"))
    assert (forbidden.value.code, forbidden.value.missing_scope) == ("forbidden", None)


async def test_not_found_and_conflicts(client: ConsoleClient, store: SandboxStore) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.agents.get("agt_missing")
    assert (caught.value.code, caught.value.status) == ("not_found", 404)
    with pytest.raises(ConflictError) as conflict:
        await client.workflows.delete(store.demo_workflow_id or "")
    assert conflict.value.code == "conflict"
    await client.workflows.create(m.WorkflowCreate(name="A", system_prompt="p"), idempotency_key="k1")
    with pytest.raises(ConflictError):  # the same key with another body
        await client.workflows.create(m.WorkflowCreate(name="B", system_prompt="p"), idempotency_key="k1")


async def test_plan_limits_are_conflicts(transport: ConsoleTransport, store: SandboxStore) -> None:
    _, key = store.add_team("Free", "free")
    client = _client(transport, key)
    wf = await client.workflows.create(m.WorkflowCreate(name="W", system_prompt="p"))
    agent = await client.agents.create(m.AgentCreate(workflow_id=wf.data.id, name="One", description="d"))
    with pytest.raises(ConflictError) as caught:
        await client.agents.create(m.AgentCreate(workflow_id=wf.data.id, name="Two", description="d"))
    assert (caught.value.code, caught.value.status) == ("agent_limit_reached", 409)

    for name in ("a", "b"):
        await client.integrations.configure_custom_api(agent.data.id, m.CustomApiConfigure(name=name))
    with pytest.raises(ConflictError) as caught:
        await client.integrations.configure_custom_api(agent.data.id, m.CustomApiConfigure(name="c"))
    assert caught.value.code == "integration_limit_reached"


async def test_preconditions(client: ConsoleClient, store: SandboxStore) -> None:
    agent = store.demo_agent_id or ""
    with pytest.raises(PreconditionError) as caught:
        await client.calls.create(agent, m.CallCreate(destination="+2348012345678", is_test_call=False))
    assert (caught.value.code, caught.value.status) == ("channel_not_configured", 400)
    with pytest.raises(PreconditionError) as caught:
        await client.integrations.configure_bimpeai(
            agent, m.BimpeaiConfigure(type="paystack", public_key="nope", secret_key="nope")
        )
    assert caught.value.code == "integration_connection_failed"
    detached = await client.agents.update(agent, m.AgentUpdate(workflow_id=None))
    assert detached.data.workflow_id is None
    with pytest.raises(PreconditionError) as caught:
        await client.integrations.configure_pipedream(agent, m.PipedreamConfigure(app_slug="slack"))
    assert caught.value.code == "workflow_required"


async def test_rate_limit_past_the_cap_raises_without_sleeping(
    transport: ConsoleTransport, store: SandboxStore
) -> None:
    key = store.add_key(store.demo_team_id or "", ["agents:read"], rate_limit=2)
    client = _client(transport, key)
    await client.agents.list()
    second = await client.agents.list()
    assert (second.rate_limit.limit, second.rate_limit.remaining) == (2, 0)
    started = time.monotonic()
    with pytest.raises(RateLimitError) as caught:
        await client.agents.list()
    assert time.monotonic() - started < 1.0  # Retry-After (up to 60 s) is past the 2 s cap
    error = caught.value
    assert (error.code, error.status) == ("too_many_requests", 429)
    assert error.retry_after is not None and error.retry_after > FAST.retry_after_cap
    assert (error.rate_limit.limit, error.rate_limit.remaining) == (2, 0)
    assert error.rate_limit.reset is not None and error.rate_limit.reset > time.time()


async def test_not_implemented_is_a_server_error_and_not_retried(store: SandboxStore) -> None:
    from bimpe_mcp.sandbox import create_app

    script = Scripted(inner=httpx.ASGITransport(app=create_app(store)))
    async with ConsoleTransport(base_url="http://sandbox", retry=FAST, transport=script) as transport:
        with pytest.raises(ServerError) as caught:
            await transport.request(RequestSpec("GET", "/calls"), api_key=store.demo_api_key or "")
    assert (caught.value.code, caught.value.status) == ("not_implemented", 501)
    assert script.attempts == 1


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [(CODE_TABLE[code].status, code, CODE_TABLE[code].error) for code in CODE_TABLE]
    + [
        (418, "", ConsoleAPIError),
        (422, "", ValidationError),
        (599, "brand_new", ServerError),
        (403, "new", PermissionDeniedError),
    ],
)
async def test_every_code_maps_to_its_class(
    scripted: Callable[..., Any], status: int, code: str, cls: type[ConsoleAPIError]
) -> None:
    client, script = scripted(fail(status, code, "why"), retry=NO_RETRY)
    with pytest.raises(ConsoleAPIError) as caught:
        await client.agents.get("agt")
    assert type(caught.value) is cls
    assert (caught.value.status, caught.value.code) == (status, code or f"http_{status}")
    assert caught.value.request_id == "rid-server" and script.attempts == 1


async def test_errors_list_body_shape(scripted: Callable[..., Any]) -> None:
    body = {
        "statusCode": 422,
        "message": "Unprocessable Entity",
        "errors": [
            {"path": ["auth_config", "token"], "message": "is required"},
            {"field": "name", "msg": "too long"},
            {"property": "url", "message": "must be a URL"},
            "something else",
        ],
    }
    client, _ = scripted(httpx.Response(422, json=body), retry=NO_RETRY)
    with pytest.raises(ValidationError) as caught:
        await client.agents.get("agt")
    assert caught.value.field_errors == (
        FieldError("auth_config.token", "is required"),
        FieldError("name", "too long"),
        FieldError("url", "must be a URL"),
        FieldError("", "something else"),
    )
    assert caught.value.message == "Unprocessable Entity"


async def test_errors_list_without_code_or_status_code(scripted: Callable[..., Any]) -> None:
    body = {"message": "Validation failed", "errors": [{"path": "name", "message": "is required"}]}
    client, _ = scripted(httpx.Response(400, json=body), retry=NO_RETRY)
    with pytest.raises(ValidationError) as caught:
        await client.agents.get("agt")
    assert caught.value.field_errors == (FieldError("name", "is required"),)


async def test_message_list_with_and_without_paths(scripted: Callable[..., Any]) -> None:
    messages = ["name: must not be empty", "auth_config.token: is required", "body is odd"]
    client, _ = scripted(fail(400, "validation_error", messages), retry=NO_RETRY)
    with pytest.raises(ValidationError) as caught:
        await client.agents.get("agt")
    assert [str(f) for f in caught.value.field_errors] == messages
    assert caught.value.field_errors[2] == FieldError("", "body is odd")
    assert caught.value.message == "; ".join(messages)


TRUNCATED = b'{"message": "Success", "data": {"id": "agt_1", "na'

MALFORMED = {
    "html_502": httpx.Response(
        502, content=b"<html><h1>502 Bad Gateway</h1></html>", headers={"content-type": "text/html"}
    ),
    "truncated_200": httpx.Response(200, content=TRUNCATED, headers={"content-type": "application/json"}),
    "text_200": httpx.Response(200, content=b"\x1f\x8bGARBAGE ~~~", headers={"content-type": "text/plain"}),
    "json_not_envelope": httpx.Response(200, json=[{"id": "agt_1"}]),
    "envelope_without_message": httpx.Response(200, json={"data": {"id": "agt_1", "name": "A"}}),
    "empty_200": httpx.Response(200),
    "error_without_envelope": httpx.Response(400, json={"detail": "bad"}),
    "invalid_utf8_json": httpx.Response(
        200, content=b'{"message": "\xff\xfe"}', headers={"content-type": "application/json"}
    ),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
async def test_malformed_answers_are_response_errors(scripted: Callable[..., Any], kind: str) -> None:
    client, script = scripted(MALFORMED[kind])
    with pytest.raises(ConsoleResponseError) as caught:
        await client.agents.get("agt_1", request_id="rid-m")
    assert caught.value.status == MALFORMED[kind].status_code
    assert caught.value.request_id == "rid-m"
    # a GET is retried on a 5xx and on a garbled 2xx, never on a 4xx
    assert script.attempts == (1 if kind == "error_without_envelope" else FAST.max_retries + 1)


async def test_malformed_write_to_a_real_call_is_not_replayed(scripted: Callable[..., Any]) -> None:
    client, script = scripted(MALFORMED["truncated_200"])
    with pytest.raises(ConsoleResponseError):
        await client.calls.create("agt", m.CallCreate(destination="+2348012345678", is_test_call=False))
    assert script.attempts == 1


@pytest.mark.parametrize(
    "data",
    [
        {"id": "agt_1"},  # name missing
        {"id": 5, "name": ["x"]},
        "agt_1",
        None,
    ],
)
async def test_data_that_does_not_match_the_model(scripted: Callable[..., Any], data: Any) -> None:
    client, script = scripted(ok(data))
    with pytest.raises(ConsoleResponseError) as caught:
        await client.agents.get("agt_1")
    assert "did not match the documented shape" in caught.value.message and caught.value.status == 200
    assert script.attempts == 1


async def test_list_items_that_do_not_match(scripted: Callable[..., Any]) -> None:
    client, _ = scripted(ok([{"id": "a", "name": "ok"}, {"id": "b"}]))
    with pytest.raises(ConsoleResponseError) as caught:
        await client.agents.list()
    assert "1.name" in caught.value.message


async def test_bad_meta_is_ignored_not_fatal(scripted: Callable[..., Any]) -> None:
    client, _ = scripted(ok([], meta={"total_count": "many"}))
    result = await client.agents.list()
    assert result.data == [] and result.meta is None


async def test_empty_204_on_delete_is_success(scripted: Callable[..., Any]) -> None:
    client, script = scripted(httpx.Response(204), httpx.Response(200), ok(None))
    first = await client.agents.delete("agt_1")
    second = await client.workflows.delete("wf_1")
    third = await client.knowledge_bases.delete("agt_1", "kb_1")
    assert (first.status, first.data, second.status, second.data, third.data) == (204, None, 200, None, None)
    assert script.attempts == 3


async def test_empty_204_on_a_write_with_a_body_is_an_error(scripted: Callable[..., Any]) -> None:
    client, _ = scripted(httpx.Response(204), retry=NO_RETRY)
    with pytest.raises(ConsoleResponseError):
        await client.agents.update("agt_1", m.AgentUpdate(name="x"))


async def test_an_undecodable_answer_to_an_unrepeatable_write_is_a_response_error() -> None:
    def garbled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-encoding": "gzip"}, content=b"not gzip at all")

    script = Scripted(garbled)
    transport = ConsoleTransport(base_url="http://console.test", transport=script, retry=FAST)
    with pytest.raises(ConsoleResponseError, match="could not be decoded"):
        await transport.request(RequestSpec("POST", "/workflows", replay="never"), api_key="sk_test_1")
    assert script.attempts == 1
