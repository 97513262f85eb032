"""The Butterbase client: every endpoint against the emulator in-process, every error class, and the shared
retry rules (a timed-out execute is never sent again; a keyed write is retried with the same key)."""

from __future__ import annotations

import httpx
import pytest

from bimpe_mcp.butterbase import (
    ButterbaseAPIError,
    ButterbaseAuthError,
    ButterbaseClient,
    ButterbaseConnectionError,
    ButterbaseIdError,
    ButterbaseKeyError,
    ButterbaseNotFoundError,
    ButterbaseRateLimitError,
    ButterbaseRequestError,
    ButterbaseResponseError,
    ButterbaseServerError,
    ButterbaseTimeoutError,
    ButterbaseTransport,
    ButterbaseValidationError,
    ExecutionFailedError,
    IntegrationsNotConfiguredError,
    ToolkitNotEnabledError,
)
from bimpe_mcp.sandbox import SandboxStore, create_app
from bimpe_mcp.upstream import RetryPolicy

FAST = RetryPolicy(max_retries=2, backoff_base=0.01, backoff_max=0.02)


def emulated(store: SandboxStore) -> ButterbaseClient:
    transport = ButterbaseTransport(
        base_url="http://butterbase", retry=FAST, transport=httpx.ASGITransport(create_app(store))
    )
    return ButterbaseClient(transport, store.butterbase.api_key, store.butterbase.app_id)


class Script:
    """A scripted Butterbase: answers (or raises) in order, recording each request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def scripted(script: Script) -> ButterbaseClient:
    transport = ButterbaseTransport(base_url="http://butterbase", retry=FAST, transport=httpx.MockTransport(script))
    return ButterbaseClient(transport, "bb_sk_test_key", "app_1", idempotency_prefix="K")


def error(status: int, code: str, remediation: str = "Do this.", **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": "It failed.", "remediation": remediation}}
    return httpx.Response(status, json=body, headers=headers)


async def test_every_endpoint_against_the_emulator(store: SandboxStore) -> None:
    client = emulated(store)
    assert [t.toolkit for t in (await client.available("calendar")).data] == ["google-calendar"]
    enabled = (await client.configure("gmail", "Mail", ["gmail.send"])).data
    assert (enabled.toolkit, enabled.displayName, enabled.scopes) == ("gmail", "Mail", ["gmail.send"])
    assert [t.toolkit for t in (await client.config()).data] == ["gmail"]
    started = (await client.connect("gmail", "u1")).data
    assert store.butterbase.callback(started.authUrl.split("state=")[1]) is None
    [connection] = (await client.connections("u1")).data
    assert (await client.connections("someone-else")).data == []
    assert "GMAIL_SEND_EMAIL" in [t.name for t in (await client.tools()).data]
    ran = (await client.execute("GMAIL_SEND_EMAIL", {"to": "a@b.c", "subject": "s", "body": "b"}, "u1")).data
    assert ran.successful and store.butterbase.outbox[0]["userId"] == "u1"
    await client.disconnect(connection.id)
    await client.disable("gmail")
    assert not store.butterbase.connections and not store.butterbase.enabled
    assert len(client.request_ids) == 10 and client.write_may_have_happened


CASES: list[tuple[httpx.Response, type[ButterbaseAPIError]]] = [
    (error(400, "INTEGRATIONS_NOT_CONFIGURED"), IntegrationsNotConfiguredError),
    (error(400, "INTEGRATIONS_TOOLKIT_NOT_ENABLED"), ToolkitNotEnabledError),
    (error(422, "INTEGRATIONS_EXECUTION_FAILED"), ExecutionFailedError),
    (error(502, "INTEGRATIONS_EXECUTION_FAILED"), ExecutionFailedError),
    (error(400, "SOMETHING_NEW"), ButterbaseValidationError),
    (error(401, "UNAUTHORIZED"), ButterbaseAuthError),
    (error(403, "FORBIDDEN"), ButterbaseAuthError),
    (error(404, "NOT_FOUND"), ButterbaseNotFoundError),
    (error(429, "RATE_LIMITED", **{"Retry-After": "99"}), ButterbaseRateLimitError),
    (error(503, "UNAVAILABLE"), ButterbaseServerError),
]


@pytest.mark.parametrize(("answer", "kind"), CASES, ids=[f"{a.status_code}-{k.__name__}" for a, k in CASES])
async def test_each_error_answer_becomes_its_typed_error(answer: httpx.Response, kind: type[Exception]) -> None:
    with pytest.raises(kind) as caught:
        await scripted(Script(answer)).config()
    assert type(caught.value) is kind and caught.value.remediation == "Do this."
    assert caught.value.message == "It failed." and caught.value.code == answer.json()["error"]["code"]
    if isinstance(caught.value, ExecutionFailedError):
        assert caught.value.soft is (answer.status_code == 422)


async def test_answers_that_are_not_butterbase_json_are_response_errors() -> None:
    for answer in (httpx.Response(502, text="<html>Bad Gateway</html>"), httpx.Response(200, text="[1, 2]")):
        with pytest.raises(ButterbaseResponseError):
            await scripted(Script(answer)).config()
    with pytest.raises(ButterbaseResponseError, match="did not match"):
        await scripted(Script(httpx.Response(200, json={"integrations": [{"toolkit": 1}]}))).config()


async def test_a_read_is_retried_and_a_refusal_is_not() -> None:
    script = Script(error(503, "UNAVAILABLE"), httpx.Response(200, json={"tools": []}))
    assert (await scripted(script).tools()).data == [] and len(script.requests) == 2
    script = Script(error(400, "INTEGRATIONS_TOOLKIT_NOT_ENABLED"))
    with pytest.raises(ToolkitNotEnabledError):
        await scripted(script).tools("gmail")
    assert len(script.requests) == 1


async def test_a_keyed_write_is_retried_with_the_same_key() -> None:
    script = Script(error(502, "BAD_GATEWAY"), httpx.Response(201, json={"toolkit": "gmail"}))
    client = scripted(script)
    await client.configure("gmail")
    assert [r.headers["idempotency-key"] for r in script.requests] == ["K-1", "K-1"]


async def test_execute_is_not_sent_again_once_it_may_have_left() -> None:
    for failure in (httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped")):
        script = Script(failure)
        client = scripted(script)
        with pytest.raises(ButterbaseConnectionError) as caught:
            await client.execute("GMAIL_SEND_EMAIL", {}, "u1")
        assert len(script.requests) == 1 and caught.value.may_have_been_applied and client.write_may_have_happened
    assert isinstance(caught.value, ButterbaseConnectionError)
    script = Script(error(502, "INTEGRATIONS_EXECUTION_FAILED"))
    with pytest.raises(ExecutionFailedError) as failed:
        await scripted(script).execute("GMAIL_SEND_EMAIL", {}, "u1")
    assert len(script.requests) == 1 and failed.value.may_have_been_applied
    timed_out = Script(httpx.ReadTimeout("slow"))
    with pytest.raises(ButterbaseTimeoutError, match="Butterbase did not answer"):
        await scripted(timed_out).execute("GMAIL_SEND_EMAIL", {}, "u1")


async def test_an_execute_that_never_left_is_retried() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(200, json={"successful": True, "data": {}}))
    assert (await scripted(script).execute("GMAIL_SEND_EMAIL", {}, "u1")).data.successful
    assert len(script.requests) == 2


@pytest.mark.parametrize("hostile", ["../configure", "gmail/../x", "a?b", "a#b", "%2e%2e"])
async def test_an_id_stays_one_path_segment(hostile: str) -> None:
    script = Script(httpx.Response(204))
    await scripted(script).disable(hostile)
    path = script.requests[0].url.raw_path.decode()
    assert path.startswith("/v1/app_1/integrations/configure/") and path.count("/") == 5


@pytest.mark.parametrize("bad", ["", "..", " gmail", "a\nb"])
async def test_an_id_that_cannot_be_a_segment_is_refused_before_sending(bad: str) -> None:
    script = Script(httpx.Response(204))
    with pytest.raises(ButterbaseIdError) as caught:
        await scripted(script).disconnect(bad)
    assert caught.value.field == "connection_id" and script.requests == []


async def test_a_key_that_cannot_be_sent_is_refused_before_sending() -> None:
    script = Script(httpx.Response(200, json={"integrations": []}))
    transport = ButterbaseTransport(base_url="http://butterbase", transport=httpx.MockTransport(script))
    for key in ("", "bb_sk_a b", "bb_sk_\u00e4"):
        with pytest.raises(ButterbaseKeyError):
            await ButterbaseClient(transport, key, "app_1").config()
    with pytest.raises(ButterbaseRequestError):
        await ButterbaseClient(transport, "bb_sk_ok", "app_1", idempotency_prefix="bad key").configure("gmail")
    assert script.requests == [] and "bb_sk_ok" not in repr(ButterbaseClient(transport, "bb_sk_ok", "app_1"))
