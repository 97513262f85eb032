"""Typed endpoint methods, one class per API area, bound to one API key.

`ConsoleClient(transport, api_key)` is cheap: build one per call or per tenant, and share
the `ConsoleTransport` (the pool) across all of them.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import pydantic
from pydantic import TypeAdapter

from bimpe_mcp.console import _models as m
from bimpe_mcp.console._errors import ConsoleError, ConsoleResponseError, InvalidIdError
from bimpe_mcp.console._paths import route
from bimpe_mcp.console._transport import ConsoleTransport, PageMeta, Replay, RequestSpec, Result

__all__ = ["ConsoleClient", "ListQuery", "PageWalk"]

M = TypeVar("M")

Family = Literal["bimpeai", "custom_api", "mcp_server", "pipedream"]


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The pagination query every list endpoint takes."""

    page: int = 1
    limit: int | None = None
    search: str | None = None
    sort: str | None = None

    def params(self, **filters: Any) -> dict[str, Any]:
        return {"page": self.page, "limit": self.limit, "search": self.search, "sort": self.sort, **filters}


@dataclass(frozen=True, slots=True)
class PageWalk:
    """Everything `walk_pages` collected, and whether the cap cut it short."""

    items: list[Any]
    total_count: int
    pages: int
    truncated: bool
    request_ids: list[str]


async def walk_pages(
    fetch: Callable[[int], Awaitable[Result[list[M]]]],
    *,
    max_items: int,
    on_page: Callable[[int, PageMeta | None], Awaitable[None]] | None = None,
) -> PageWalk:
    """Fetch page after page until the last one or until `max_items` are collected."""
    items: list[M] = []
    request_ids: list[str] = []
    page = 1
    total = 0
    while True:
        result = await fetch(page)
        if result.request_id:
            request_ids.append(result.request_id)
        items.extend(result.data)
        meta = result.meta
        if not result.data:
            return PageWalk(items, meta.total_count if meta else len(items), page, False, request_ids)
        total = meta.total_count if meta else len(items)
        if on_page is not None:
            await on_page(page, meta)
        if len(items) >= max_items:
            return PageWalk(items[:max_items], total, page, total > max_items, request_ids)
        if meta is None or not meta.has_next_page:
            return PageWalk(items, total, page, False, request_ids)
        page += 1


class _Area:
    def __init__(self, client: ConsoleClient) -> None:
        self._client = client

    async def _send(
        self,
        shape: Any,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
        replay: Replay = "safe",
        request_id: str | None = None,
        changes_state: bool = True,
    ) -> Result[Any]:
        write = method != "GET"
        spec = RequestSpec(
            method,
            path,
            params=params,
            json=json,
            idempotency_key=(idempotency_key or self._client.next_idempotency_key()) if write else None,
            replay=replay,
            allow_empty=method == "DELETE",
            changes_state=write and changes_state,
        )
        return await self._client.send(spec, shape, request_id=request_id)


class Agents(_Area):
    async def list(self, query: ListQuery = ListQuery(), **kw: Any) -> Result[builtins.list[m.Agent]]:
        return await self._send(list[m.Agent], "GET", "/agents", params=query.params(), **kw)

    async def get(self, agent_id: str, **kw: Any) -> Result[m.AgentDetail]:
        return await self._send(m.AgentDetail, "GET", route("/agents/{agent_id}", agent_id=agent_id), **kw)

    async def create(self, body: m.AgentCreate, **kw: Any) -> Result[m.AgentCreated]:
        return await self._send(m.AgentCreated, "POST", "/agents", json=body.body(), **kw)

    async def update(self, agent_id: str, body: m.AgentUpdate, **kw: Any) -> Result[m.Agent]:
        return await self._send(
            m.Agent, "PATCH", route("/agents/{agent_id}", agent_id=agent_id), json=body.patch(), **kw
        )

    async def delete(self, agent_id: str, **kw: Any) -> Result[None]:
        return await self._send(None, "DELETE", route("/agents/{agent_id}", agent_id=agent_id), **kw)

    async def set_live_status(self, agent_id: str, body: m.LiveStatusUpdate, **kw: Any) -> Result[m.LiveStatus]:
        path = route("/agents/{agent_id}/live-status", agent_id=agent_id)
        return await self._send(m.LiveStatus, "PATCH", path, json=body.body(), **kw)

    async def test_code(self, agent_id: str, **kw: Any) -> Result[m.TestCode]:
        return await self._send(
            m.TestCode, "GET", route("/agents/{agent_id}/deployment/agent-test-code", agent_id=agent_id), **kw
        )

    async def integrations(self, agent_id: str, **kw: Any) -> Result[builtins.list[m.Integration]]:
        return await self._send(
            list[m.Integration], "GET", route("/agents/{agent_id}/integrations", agent_id=agent_id), **kw
        )

    async def channels(self, agent_id: str, **kw: Any) -> Result[builtins.list[m.Channel]]:
        return await self._send(list[m.Channel], "GET", route("/agents/{agent_id}/channels", agent_id=agent_id), **kw)

    async def actions(self, agent_id: str, **kw: Any) -> Result[builtins.list[m.AgentAction]]:
        return await self._send(
            list[m.AgentAction], "GET", route("/agents/{agent_id}/actions", agent_id=agent_id), **kw
        )

    async def set_actions(
        self, agent_id: str, body: m.ActionIds, *, enabled: bool, **kw: Any
    ) -> Result[m.UpdatedCount]:
        template = "/agents/{agent_id}/actions/enable" if enabled else "/agents/{agent_id}/actions/disable"
        path = route(template, agent_id=agent_id)
        return await self._send(m.UpdatedCount, "POST", path, json=body.body(), **kw)


class KnowledgeBases(_Area):
    def _path(self, agent_id: str, kb_id: str | None = None) -> str:
        if kb_id is None:
            return route("/agents/{agent_id}/knowledge_bases", agent_id=agent_id)
        return route("/agents/{agent_id}/knowledge_bases/{kb_id}", agent_id=agent_id, kb_id=kb_id)

    async def list(self, agent_id: str, **kw: Any) -> Result[builtins.list[m.KnowledgeBase]]:
        return await self._send(list[m.KnowledgeBase], "GET", self._path(agent_id), **kw)

    async def create(self, agent_id: str, body: m.KnowledgeBaseCreate, **kw: Any) -> Result[m.KnowledgeBase]:
        return await self._send(m.KnowledgeBase, "POST", self._path(agent_id), json=body.body(), **kw)

    async def update(
        self, agent_id: str, kb_id: str, body: m.KnowledgeBaseUpdate, **kw: Any
    ) -> Result[m.KnowledgeBase]:
        return await self._send(m.KnowledgeBase, "PATCH", self._path(agent_id, kb_id), json=body.patch(), **kw)

    async def delete(self, agent_id: str, kb_id: str, **kw: Any) -> Result[None]:
        return await self._send(None, "DELETE", self._path(agent_id, kb_id), **kw)


class Integrations(_Area):
    """The four connector families. `list` and `disconnect` take the family by name."""

    _LIST_SHAPES: dict[str, Any] = {
        "bimpeai": list[m.BimpeaiIntegration],
        "custom_api": list[m.CustomApiIntegration],
        "mcp_server": list[m.McpServerIntegration],
        "pipedream": list[m.PipedreamIntegration],
    }

    def _path(self, agent_id: str, family: Family, template: str = "", **ids: str) -> str:
        if family not in self._LIST_SHAPES:
            raise InvalidIdError(f"family must be one of {', '.join(self._LIST_SHAPES)}", field="family")
        return route("/agents/{agent_id}/integrations/{family}" + template, agent_id=agent_id, family=family, **ids)

    async def list(self, agent_id: str, family: Family, **kw: Any) -> Result[builtins.list[Any]]:
        path = self._path(agent_id, family)
        return await self._send(self._LIST_SHAPES[family], "GET", path, **kw)

    async def disconnect(self, agent_id: str, family: Family, integration_id: str, **kw: Any) -> Result[None]:
        path = self._path(agent_id, family, "/{integration_id}", integration_id=integration_id)
        return await self._send(None, "DELETE", path, **kw)

    async def configure_bimpeai(
        self, agent_id: str, body: m.BimpeaiConfigure, **kw: Any
    ) -> Result[m.BimpeaiConfigureResult]:
        path = self._path(agent_id, "bimpeai", "/configure")
        return await self._send(m.BimpeaiConfigureResult, "POST", path, json=body.body(), **kw)

    async def configure_custom_api(
        self, agent_id: str, body: m.CustomApiConfigure, **kw: Any
    ) -> Result[m.CustomApiIntegration]:
        path = self._path(agent_id, "custom_api", "/configure")
        return await self._send(m.CustomApiIntegration, "POST", path, json=body.body(), **kw)

    async def add_custom_api_tool(
        self, agent_id: str, integration_id: str, body: m.CustomApiToolCreate, **kw: Any
    ) -> Result[m.IntegrationTool]:
        path = self._path(agent_id, "custom_api", "/{integration_id}/tools", integration_id=integration_id)
        return await self._send(m.IntegrationTool, "POST", path, json=body.body(), **kw)

    async def list_custom_api_tools(
        self, agent_id: str, integration_id: str, **kw: Any
    ) -> Result[builtins.list[m.IntegrationTool]]:
        path = self._path(agent_id, "custom_api", "/{integration_id}/tools", integration_id=integration_id)
        return await self._send(list[m.IntegrationTool], "GET", path, **kw)

    async def delete_custom_api_tool(self, agent_id: str, integration_id: str, tool_id: str, **kw: Any) -> Result[None]:
        path = self._path(
            agent_id, "custom_api", "/{integration_id}/tools/{tool_id}", integration_id=integration_id, tool_id=tool_id
        )
        return await self._send(None, "DELETE", path, **kw)

    async def configure_mcp_server(
        self, agent_id: str, body: m.McpServerConfigure, **kw: Any
    ) -> Result[m.McpServerIntegration]:
        path = self._path(agent_id, "mcp_server", "/configure")
        return await self._send(m.McpServerIntegration, "POST", path, json=body.body(), **kw)

    async def discover_mcp_server(self, agent_id: str, integration_id: str, **kw: Any) -> Result[m.DiscoverResult]:
        path = self._path(agent_id, "mcp_server", "/{integration_id}/discover", integration_id=integration_id)
        return await self._send(m.DiscoverResult, "POST", path, **kw)

    async def test_mcp_server(self, agent_id: str, integration_id: str, **kw: Any) -> Result[m.McpTestResult]:
        path = self._path(agent_id, "mcp_server", "/{integration_id}/test", integration_id=integration_id)
        return await self._send(m.McpTestResult, "POST", path, **kw)

    async def list_mcp_server_tools(
        self, agent_id: str, integration_id: str, **kw: Any
    ) -> Result[builtins.list[m.McpServerTool]]:
        path = self._path(agent_id, "mcp_server", "/{integration_id}/tools", integration_id=integration_id)
        return await self._send(list[m.McpServerTool], "GET", path, **kw)

    async def configure_pipedream(
        self, agent_id: str, body: m.PipedreamConfigure, **kw: Any
    ) -> Result[m.OnboardingUrl]:
        path = self._path(agent_id, "pipedream", "/configure")
        return await self._send(m.OnboardingUrl, "POST", path, json=body.body(), **kw)


class Conversations(_Area):
    def _path(self, agent_id: str, template: str = "", **ids: str) -> str:
        return route("/agents/{agent_id}/conversations" + template, agent_id=agent_id, **ids)

    async def list(
        self,
        agent_id: str,
        query: ListQuery = ListQuery(),
        *,
        channel: str | None = None,
        is_test_channel: bool | None = None,
        is_ai_chat_paused: bool | None = None,
        needs_attention: bool | None = None,
        **kw: Any,
    ) -> Result[builtins.list[m.Conversation]]:
        params = query.params(
            channel=channel,
            is_test_channel=is_test_channel,
            is_ai_chat_paused=is_ai_chat_paused,
            needs_attention=needs_attention,
        )
        return await self._send(list[m.Conversation], "GET", self._path(agent_id), params=params, **kw)

    async def get(self, agent_id: str, conversation_id: str, **kw: Any) -> Result[m.ConversationDetail]:
        return await self._send(
            m.ConversationDetail,
            "GET",
            self._path(agent_id, "/{conversation_id}", conversation_id=conversation_id),
            **kw,
        )

    async def create_message(self, agent_id: str, body: m.MessageCreate, **kw: Any) -> Result[m.SentMessage]:
        return await self._send(m.SentMessage, "POST", self._path(agent_id, "/messages"), json=body.body(), **kw)

    async def list_messages(
        self, agent_id: str, conversation_id: str, query: ListQuery = ListQuery(), **kw: Any
    ) -> Result[builtins.list[m.Message]]:
        path = self._path(agent_id, "/{conversation_id}/messages", conversation_id=conversation_id)
        return await self._send(list[m.Message], "GET", path, params=query.params(), **kw)

    async def get_message(self, agent_id: str, conversation_id: str, message_id: str, **kw: Any) -> Result[m.Message]:
        return await self._send(
            m.Message,
            "GET",
            self._path(
                agent_id,
                "/{conversation_id}/messages/{message_id}",
                conversation_id=conversation_id,
                message_id=message_id,
            ),
            **kw,
        )

    async def send_message(
        self, agent_id: str, conversation_id: str, body: m.MessageSend, **kw: Any
    ) -> Result[m.SentMessage]:
        path = self._path(agent_id, "/{conversation_id}/messages", conversation_id=conversation_id)
        return await self._send(m.SentMessage, "POST", path, json=body.body(), **kw)

    async def set_ai_status(
        self, agent_id: str, conversation_id: str, body: m.AiStatusUpdate, **kw: Any
    ) -> Result[m.AiStatus]:
        path = self._path(agent_id, "/{conversation_id}/ai-status", conversation_id=conversation_id)
        return await self._send(m.AiStatus, "PATCH", path, json=body.body(), **kw)

    async def stream_ticket(self, agent_id: str, conversation_id: str, **kw: Any) -> Result[m.StreamTicket]:
        """A single-use ticket. Keyed afresh, never from `idempotency_prefix`: a repeated tool call must
        not get back the ticket its first run already spent."""
        kw.setdefault("idempotency_key", str(uuid.uuid4()))
        path = self._path(agent_id, "/{conversation_id}/stream-ticket", conversation_id=conversation_id)
        return await self._send(m.StreamTicket, "POST", path, changes_state=False, **kw)


class Calls(_Area):
    async def list(
        self,
        agent_id: str,
        query: ListQuery = ListQuery(),
        *,
        is_test_call: bool | None = None,
        status: str | None = None,
        **kw: Any,
    ) -> Result[builtins.list[m.Call]]:
        params = query.params(is_test_call=is_test_call, status=status)
        return await self._send(
            list[m.Call], "GET", route("/agents/{agent_id}/calls", agent_id=agent_id), params=params, **kw
        )

    async def get(self, agent_id: str, call_id: str, **kw: Any) -> Result[m.CallDetail]:
        return await self._send(
            m.CallDetail, "GET", route("/agents/{agent_id}/calls/{call_id}", agent_id=agent_id, call_id=call_id), **kw
        )

    async def create(self, agent_id: str, body: m.CallCreate, **kw: Any) -> Result[m.CallStarted]:
        """Place a call. A real call is only resent when it provably never left: it may ring a phone."""
        replay: Replay = "safe" if body.is_test_call else "connect_only"
        path = route("/agents/{agent_id}/calls", agent_id=agent_id)
        return await self._send(m.CallStarted, "POST", path, json=body.body(), replay=replay, **kw)


class Workflows(_Area):
    async def list(
        self, query: ListQuery = ListQuery(), *, scope: str | None = None, **kw: Any
    ) -> Result[builtins.list[m.Workflow]]:
        return await self._send(list[m.Workflow], "GET", "/workflows", params=query.params(scope=scope), **kw)

    async def get(self, workflow_id: str, **kw: Any) -> Result[m.Workflow]:
        return await self._send(m.Workflow, "GET", route("/workflows/{workflow_id}", workflow_id=workflow_id), **kw)

    async def create(self, body: m.WorkflowCreate, **kw: Any) -> Result[m.Workflow]:
        return await self._send(m.Workflow, "POST", "/workflows", json=body.body(), **kw)

    async def update(self, workflow_id: str, body: m.WorkflowUpdate, **kw: Any) -> Result[m.Workflow]:
        return await self._send(
            m.Workflow, "PATCH", route("/workflows/{workflow_id}", workflow_id=workflow_id), json=body.patch(), **kw
        )

    async def clone(self, source_workflow_id: str, **kw: Any) -> Result[m.Workflow]:
        body = {"source_workflow_id": source_workflow_id}
        return await self._send(m.Workflow, "POST", "/workflows/clone", json=body, **kw)

    async def delete(self, workflow_id: str, **kw: Any) -> Result[None]:
        return await self._send(None, "DELETE", route("/workflows/{workflow_id}", workflow_id=workflow_id), **kw)


class PhoneNumbers(_Area):
    async def list(self, query: ListQuery = ListQuery(), **kw: Any) -> Result[builtins.list[m.PhoneNumber]]:
        return await self._send(list[m.PhoneNumber], "GET", "/phone-numbers", params=query.params(), **kw)

    async def get(self, phone_number_id: str, **kw: Any) -> Result[m.PhoneNumber]:
        return await self._send(
            m.PhoneNumber, "GET", route("/phone-numbers/{phone_number_id}", phone_number_id=phone_number_id), **kw
        )

    async def update(self, phone_number_id: str, body: m.PhoneNumberUpdate, **kw: Any) -> Result[m.PhoneNumber]:
        path = route("/phone-numbers/{phone_number_id}", phone_number_id=phone_number_id)
        return await self._send(m.PhoneNumber, "PATCH", path, json=body.patch(), **kw)

    async def list_requests(
        self, query: ListQuery = ListQuery(), **kw: Any
    ) -> Result[builtins.list[m.PhoneNumberRequest]]:
        return await self._send(
            list[m.PhoneNumberRequest], "GET", "/phone-numbers/request", params=query.params(), **kw
        )

    async def request(self, body: m.PhoneNumberRequestCreate, **kw: Any) -> Result[m.PhoneNumberRequest]:
        return await self._send(m.PhoneNumberRequest, "POST", "/phone-numbers/request", json=body.body(), **kw)


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(shape: Any) -> TypeAdapter[Any]:
    if shape not in _ADAPTERS:
        _ADAPTERS[shape] = TypeAdapter(shape)
    return _ADAPTERS[shape]


class ConsoleClient:
    """Every Console endpoint as a typed async method, for one API key."""

    def __init__(self, transport: ConsoleTransport, api_key: str, *, idempotency_prefix: str | None = None) -> None:
        self.transport = transport
        self.api_key = api_key
        self.idempotency_prefix = idempotency_prefix
        self.request_ids: list[str] = []
        self.write_may_have_happened = False
        """True once any write of this client succeeded or may have been applied: a caller retrying
        the whole operation must then reuse `idempotency_prefix`."""
        self._writes = 0
        self.agents = Agents(self)
        self.knowledge_bases = KnowledgeBases(self)
        self.integrations = Integrations(self)
        self.conversations = Conversations(self)
        self.calls = Calls(self)
        self.workflows = Workflows(self)
        self.phone_numbers = PhoneNumbers(self)

    def __repr__(self) -> str:
        return f"ConsoleClient(base_url={self.transport.base_url!r}, api_key='********')"

    def next_idempotency_key(self) -> str:
        """A fresh key, or with a prefix `<prefix>-<n>` for the n-th write: the same calls retried
        with the same prefix replay instead of writing twice."""
        self._writes += 1
        if self.idempotency_prefix:
            return f"{self.idempotency_prefix}-{self._writes}"
        return str(uuid.uuid4())

    async def send(self, spec: RequestSpec, shape: Any, *, request_id: str | None = None) -> Result[Any]:
        """Send one request and validate its `data` against `shape` (None: no data expected).

        Every request id, of answers and of errors alike, is kept in `request_ids`.
        """
        try:
            result = await self.transport.request(spec, api_key=self.api_key, request_id=request_id)
        except ConsoleError as error:
            if error.request_id:
                self.request_ids.append(error.request_id)
            self.write_may_have_happened |= error.may_have_been_applied
            raise
        self.write_may_have_happened |= spec.is_write
        if result.request_id:
            self.request_ids.append(result.request_id)
        if shape is None:
            return result
        try:
            data = _adapter(shape).validate_python(result.data)
        except pydantic.ValidationError as exc:
            fields = sorted({".".join(str(p) for p in err["loc"]) or "data" for err in exc.errors()})
            mismatch = ConsoleResponseError(
                f"{spec.method} {spec.path}: the Console's answer did not match the documented shape "
                f"(fields: {', '.join(fields[:5])})",
                status=result.status,
                request_id=result.request_id,
            )
            mismatch.may_have_been_applied = spec.is_write
            raise mismatch from None
        return Result(data, result.request_id, result.meta, result.rate_limit, result.status)
