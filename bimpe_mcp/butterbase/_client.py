"""Every Integrations endpoint as a typed async method, for one app and one admin key.

`ButterbaseClient(transport, api_key, app_id)` is cheap: build one per call, share the transport.
End-user calls (connect, execute, and the filters of connections and tools) take the `userId`
the document requires when authenticating with an API key.
"""

from __future__ import annotations

import uuid
from typing import Any

import pydantic
from pydantic import TypeAdapter

from bimpe_mcp.butterbase import _models as m
from bimpe_mcp.butterbase._errors import ButterbaseError, ButterbaseResponseError
from bimpe_mcp.butterbase._paths import route
from bimpe_mcp.butterbase._transport import ButterbaseResult, ButterbaseTransport
from bimpe_mcp.upstream import Replay, RequestSpec

__all__ = ["ButterbaseClient"]

_INTEGRATIONS = "/{app_id}/integrations"


class ButterbaseClient:
    """The Integrations API of one app, with its admin key (`bb_sk_…`)."""

    def __init__(
        self, transport: ButterbaseTransport, api_key: str, app_id: str, *, idempotency_prefix: str | None = None
    ) -> None:
        self.transport = transport
        self.api_key = api_key
        self.app_id = app_id
        self.idempotency_prefix = idempotency_prefix
        self.request_ids: list[str] = []
        self.write_may_have_happened = False
        """True once any write of this client succeeded or may have been applied."""
        self._writes = 0

    def __repr__(self) -> str:
        return f"ButterbaseClient(base_url={self.transport.base_url!r}, app_id={self.app_id!r}, api_key='********')"

    def next_idempotency_key(self) -> str:
        """A fresh key, or `<prefix>-<n>` for the n-th write, so a retried call replays instead of acting twice."""
        self._writes += 1
        if self.idempotency_prefix:
            return f"{self.idempotency_prefix}-{self._writes}"
        return str(uuid.uuid4())

    def _path(self, template: str = "", **ids: str) -> str:
        return route(_INTEGRATIONS + template, app_id=self.app_id, **ids)

    async def _send(
        self,
        shape: Any,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        replay: Replay = "safe",
        key: str | None = None,
    ) -> ButterbaseResult:
        """Send one request; validate the answer's `key` field (or the whole body) against `shape`."""
        write = method != "GET"
        spec = RequestSpec(
            method,
            path,
            params=params,
            json=json,
            idempotency_key=self.next_idempotency_key() if write else None,
            replay=replay,
            allow_empty=method == "DELETE",
        )
        try:
            result = await self.transport.request(spec, api_key=self.api_key)
        except ButterbaseError as error:
            if error.request_id:
                self.request_ids.append(error.request_id)
            self.write_may_have_happened |= error.may_have_been_applied
            raise
        self.write_may_have_happened |= write
        if result.request_id:
            self.request_ids.append(result.request_id)
        if shape is None:
            return result
        try:
            raw = result.data.get(key) if key is not None else result.data
            data = TypeAdapter(shape).validate_python(raw)
        except (pydantic.ValidationError, AttributeError):
            mismatch = ButterbaseResponseError(
                f"{method} {path}: Butterbase's answer did not match the expected shape",
                status=result.status,
                request_id=result.request_id,
            )
            mismatch.may_have_been_applied = write
            raise mismatch from None
        return ButterbaseResult(data, result.request_id, result.status)

    async def available(self, search: str | None = None) -> ButterbaseResult:
        """The ten curated toolkits, or with `search` the whole catalog's matches."""
        return await self._send(
            list[m.AvailableToolkit], "GET", self._path("/available"), params={"search": search}, key="integrations"
        )

    async def config(self) -> ButterbaseResult:
        """The toolkits enabled for the app."""
        return await self._send(list[m.EnabledToolkit], "GET", self._path("/config"), key="integrations")

    async def configure(
        self, toolkit: str, display_name: str | None = None, scopes: list[str] | None = None
    ) -> ButterbaseResult:
        """Enable a toolkit (enabling it again updates its name and scopes)."""
        body: dict[str, Any] = {"toolkit": toolkit, "scopes": scopes or []}
        if display_name is not None:
            body["displayName"] = display_name
        return await self._send(m.EnabledToolkit, "POST", self._path("/configure"), json=body)

    async def disable(self, toolkit: str) -> ButterbaseResult:
        return await self._send(None, "DELETE", self._path("/configure/{toolkit}", toolkit=toolkit))

    async def connect(self, toolkit: str, user_id: str, redirect_url: str | None = None) -> ButterbaseResult:
        """An OAuth URL for the end user `user_id` to connect their `toolkit` account."""
        body: dict[str, Any] = {"toolkit": toolkit, "userId": user_id}
        if redirect_url is not None:
            body["redirectUrl"] = redirect_url
        return await self._send(m.ConnectRequest, "POST", self._path("/connect"), json=body)

    async def connections(self, user_id: str | None = None) -> ButterbaseResult:
        return await self._send(
            list[m.Connection], "GET", self._path("/connections"), params={"userId": user_id}, key="connections"
        )

    async def disconnect(self, connection_id: str) -> ButterbaseResult:
        path = self._path("/connections/{connection_id}", connection_id=connection_id)
        return await self._send(None, "DELETE", path)

    async def tools(self, toolkit: str | None = None) -> ButterbaseResult:
        """The tools of the enabled toolkits (or of one)."""
        return await self._send(
            list[m.IntegrationTool], "GET", self._path("/tools"), params={"toolkit": toolkit}, key="tools"
        )

    async def execute(self, tool_name: str, params: dict[str, Any], user_id: str) -> ButterbaseResult:
        """Run a tool as `user_id`. Never sent again once it may have left: it may send email or messages."""
        body = {"toolName": tool_name, "params": params, "userId": user_id}
        return await self._send(m.ExecuteResult, "POST", self._path("/execute"), json=body, replay="connect_only")
