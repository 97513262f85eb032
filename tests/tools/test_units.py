"""The tools layer in milliseconds: request bodies, paging, schemas, errors, confirmation and selection."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp.server.mcpserver import AcceptedElicitation
from pydantic import BaseModel, Field, ValidationError

from bimpe_mcp._redact import Redactor
from bimpe_mcp.console import (
    ConsoleConnectionError,
    ListQuery,
    NotFoundError,
    PageMeta,
    RateLimitError,
    Result,
    ServerError,
)
from bimpe_mcp.console import (
    ValidationError as ConsoleValidationError,
)
from bimpe_mcp.console import models as m
from bimpe_mcp.tools import ALL_TOOLS
from bimpe_mcp.tools._confirmation import ConfirmForm, ConfirmPolicy, confirmation_refusal, needs_confirmation
from bimpe_mcp.tools._contract import (
    TEXT_AS_JSON_MAX_CHARS,
    describe_console_error,
    describe_invalid,
    render_text,
    success_result,
)
from bimpe_mcp.tools._runtime import Limits, ToolCall, paged, request_body
from bimpe_mcp.tools._schema import compact_schema, output_schema
from bimpe_mcp.tools._selection import hidden_reason, select_tools
from bimpe_mcp.tools._spec import Deleted, Paging, Scope

SPECS = {spec.name: spec for spec in ALL_TOOLS}


def test_request_body_keeps_what_was_given_and_nulls_only_where_they_mean_clear() -> None:
    params = SPECS["update_phone_number"].params.model_validate(
        {"phone_number_id": "pn_1", "agent_id": None, "label": None}
    )
    assert request_body(params, m.PhoneNumberUpdate).patch() == {}
    assert request_body(params, m.PhoneNumberUpdate, keep_null={"agent_id"}).patch() == {"agent_id": None}
    create = SPECS["create_workflow"].params.model_validate({"name": "W", "system_prompt": "p", "tags": ["a"]})
    assert request_body(create, m.WorkflowCreate).body() == {"name": "W", "system_prompt": "p", "tags": ["a"]}


async def test_paging_one_page_or_every_page_up_to_the_cap() -> None:
    pages: list[int] = []
    progress: list[tuple[float, float | None]] = []

    async def fetch(call: Any, query: ListQuery) -> Result[list[int]]:
        pages.append(query.page)
        meta = PageMeta(250, 3, query.page, 100, query.page < 3, query.page > 1)
        return Result(list(range(100 if query.page < 3 else 50)), f"req_{query.page}", meta)

    async def report(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total))

    run = paged(fetch)
    one = (await run(ToolCall(Paging(), None, report, Limits()))).fields  # type: ignore[arg-type]
    assert (len(one["items"]), one["has_next_page"], one["total_count"]) == (100, True, 250)
    call = ToolCall(Paging(all_pages=True), None, report, Limits(max_items=150))  # type: ignore[arg-type]
    capped = (await run(call)).fields
    assert (len(capped["items"]), capped["has_next_page"], capped["total_count"]) == (150, True, 250)
    whole = (await run(ToolCall(Paging(all_pages=True), None, report, Limits()))).fields  # type: ignore[arg-type]
    assert (len(whole["items"]), whole["has_next_page"]) == (250, False)
    assert pages == [1, 1, 2, 1, 2, 3] and progress[-1] == (3, 3.0)


def test_schemas_lose_titles_and_fold_null() -> None:
    class Sample(BaseModel):
        name: str | None = None

    class Always(BaseModel):
        kind: str = Field(pattern="^[a-z]+$", max_length=8)

    compact_in = compact_schema(Sample.model_json_schema())
    assert compact_in == {"type": "object", "properties": {"name": {"type": "string"}}}
    assert compact_schema(Always.model_json_schema())["properties"]["kind"] == {"type": "string"}
    assert output_schema(Sample.model_json_schema())["properties"]["name"] == {}, "nullable: untyped"
    assert output_schema(Always.model_json_schema())["properties"]["kind"] == {"type": "string"}


def _api(kind: type[Any], status: int, code: str, **extra: Any) -> Any:
    return kind("msg", status=status, code=code, request_id="req_9", **extra)


@pytest.mark.parametrize(
    ("tool", "error", "wrote", "expected", "absent"),
    [
        ("get_agent", _api(NotFoundError, 404, "not_found"), False, "list_agents lists valid ones", "Nothing"),
        ("get_agent", _api(ServerError, 500, "internal_error"), False, "Retrying is safe.", "idempotency_key"),
        ("create_workflow", _api(ServerError, 500, "internal_error"), False, "Nothing was changed.", "may have"),
        ("create_workflow", _api(ServerError, 500, "internal_error"), True, "idempotency_key='K'", "Nothing"),
        ("create_workflow", _api(RateLimitError, 429, "rate_limited", retry_after=4.0), False, "after 4 s", "key="),
        ("create_workflow", ConsoleConnectionError("down"), True, "may have been applied", "Nothing"),
        ("create_workflow", _api(ConsoleValidationError, 400, "validation_error"), False, "Nothing was", "key="),
    ],
)
def test_error_text_says_what_failed_and_whether_a_write_happened(
    tool: str, error: Any, wrote: bool, expected: str, absent: str
) -> None:
    lookups = {"agent_id": "list_agents"} if tool == "get_agent" else {}
    text = describe_console_error(SPECS[tool], error, "K", wrote=wrote, lookups=lookups)
    assert text.startswith(f"{tool} failed: ") and expected in text and absent not in text


def test_an_earlier_attempt_that_may_have_landed_is_not_forgotten() -> None:
    error = _api(RateLimitError, 429, "rate_limited", retry_after=1.0)
    error.may_have_been_applied = True
    text = describe_console_error(SPECS["create_workflow"], error, "K")
    assert "idempotency_key='K'" in text and "Nothing was changed." not in text


def test_invalid_arguments_are_named_one_by_one() -> None:
    model = SPECS["create_agent"].params
    with pytest.raises(ValidationError) as caught:
        model.model_validate({"name": "", "persona": "rude", "colour": "red"})
    text = describe_invalid("create_agent", caught.value, ["workflow_id", "name"])
    for piece in ("workflow_id: required", "persona:", "colour: not a parameter", "name: String should have"):
        assert piece in text


@pytest.mark.parametrize("policy", ["either", "id", "elicit"])
def test_confirmation_outcomes(policy: ConfirmPolicy) -> None:
    spec = SPECS["delete_agent"]
    assert confirmation_refusal(spec, AcceptedElicitation(data=ConfirmForm(confirm=True)), policy) is None
    declined = confirmation_refusal(spec, AcceptedElicitation(data=ConfirmForm(confirm=False)), policy)
    assert declined and "was not confirmed" in declined and "nothing was sent" in declined
    assert ("To go ahead anyway, pass confirm" in declined) == (policy == "either"), "only either offers the id"
    assert "not confirmed" in (confirmation_refusal(spec, None, policy) or "")


def test_what_each_policy_confirms() -> None:
    policies: tuple[ConfirmPolicy, ...] = ("either", "id", "elicit")
    covered = {policy: {spec.name for spec in ALL_TOOLS if needs_confirmation(spec, policy)} for policy in policies}
    destructive = {spec.name for spec in ALL_TOOLS if spec.hints.destructive}
    outward = {spec.name for spec in ALL_TOOLS if spec.outward}
    assert outward == {"send_message", "make_call", "butterbase_execute_tool"}
    assert covered["either"] == destructive and "make_call" in destructive
    assert covered["id"] == covered["elicit"] == destructive | outward


def test_selection_names_the_setting_that_hides_a_tool() -> None:
    exposed, hidden = select_tools(ALL_TOOLS, read_only=True, agent_id="agt_1")
    assert all(spec.read_only for spec in exposed)
    assert "--read-only" in hidden["create_workflow"] and "--agent-id" in hidden["list_agents"]
    assert hidden_reason(SPECS["list_calls"], toolsets=["workflows"]) == (
        "its toolset calls is not enabled (--toolsets / BIMPE_TOOLSETS)"
    )
    assert {spec.name for spec in ALL_TOOLS if spec.scope is Scope.ALL_AGENTS} == {"list_agents", "create_agent"}


def test_success_results_carry_request_ids_and_no_secret() -> None:
    result = success_result(Deleted, {"deleted": True, "id": "sk_live_secretvalue"}, ["r1", "r2"], Redactor())
    assert result.structured_content == {"deleted": True, "id": "[redacted]"}
    assert result.meta == {"request_ids": ["r1", "r2"]}
    assert result.content[0].text == '{"deleted":true,"id":"[redacted]"}'  # type: ignore[union-attr]


def test_a_large_result_is_rendered_compactly_with_every_value() -> None:
    items = [{"id": f"msg_{n}", "text": f"line {n}\nmore", "note": None, "tags": []} for n in range(60)]
    structured = {"items": items, "page": 1, "total_count": 60, "has_next_page": False}
    text = render_text(structured)
    as_json = json.dumps(structured, separators=(",", ":"))
    assert len(as_json) > TEXT_AS_JSON_MAX_CHARS and len(text) < len(as_json) * 0.8
    lines = text.splitlines()
    assert (
        lines[0] == "items: 60" and lines[1] == "- id=msg_0; text=line 0 more" and lines[-1] == "has_next_page: false"
    )
    assert all(f"id=msg_{n};" in text for n in range(60)) and "note" not in text and "tags" not in text


def test_every_console_code_has_a_fix_and_key_fixes_name_where_the_key_came_from() -> None:
    from bimpe_mcp.console import CODE_TABLE
    from bimpe_mcp.tools._contract import console_fix

    for code, info in CODE_TABLE.items():
        fix = console_fix(info.error("m", status=info.status, code=code), "the X-Bimpe-Api-Key header")
        assert fix and fix != "Check the request and try again.", code
    invalid = CODE_TABLE["api_key_invalid"]
    error = invalid.error("m", status=401, code="api_key_invalid")
    assert "the Authorization header" in console_fix(error, "the Authorization header")
    assert "BIMPE_API_KEY" in console_fix(error)


def test_an_outward_tool_without_a_target_id_says_how_it_can_be_confirmed() -> None:
    """A tool another toolset marks outward without a confirm parameter: only a person can confirm it."""
    from dataclasses import replace

    from bimpe_mcp.tools import _confirmation

    spec = replace(SPECS["send_message"], confirm=None)
    assert needs_confirmation(spec, "elicit") and needs_confirmation(spec, "id")
    assert not needs_confirmation(spec, "either")
    unanswered = AcceptedElicitation[Any].model_construct(data=_confirmation._NotConfirmed(None))
    refused = confirmation_refusal(spec, unanswered, "id") or ""
    assert "It has no id to confirm with" in refused and "--confirm either or elicit" in refused
