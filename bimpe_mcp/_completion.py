"""`completion/complete` for the arguments of the prompts and resource templates.

`agent_id` and `workflow_id` complete from the caller's own Console listing, fetched with the
request's key (on the shared HTTP service, each caller's own), at most `max_items` of them, and
kept for `ttl` seconds per key: typing into a field asks again and again. The cache is keyed by
the key's SHA-256, so one team's ids are never offered to another. A request scoped to one agent
is offered that agent only, without a Console call. Fixed choices (an integration's family, a
payment provider) complete from the list given.

A Console that fails or is slow yields no values rather than an error: a completion is a hint.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CompleteRequestParams, CompleteResult, Completion, PromptReference

from bimpe_mcp.tools import Backend

if TYPE_CHECKING:
    from bimpe_mcp.console import Result

__all__ = ["Completions"]

logger = logging.getLogger("bimpe_mcp.completion")

MAX_VALUES = 100
"""The most values one completion may carry (the specification's limit)."""

_VARIABLE = re.compile(r"{(\w+)}")


@dataclass(frozen=True, slots=True)
class _Listing:
    """One caller's ids of one kind, with their names, and whether the listing was cut at the cap."""

    items: tuple[tuple[str, str], ...]
    truncated: bool


class Completions:
    """The `completion/complete` handler of one server."""

    def __init__(
        self,
        mcp: MCPServer[Any],
        backend: Backend,
        *,
        choices: Callable[[], Mapping[str, Sequence[str]]],
        ttl: float = 30.0,
        max_items: int = 200,
        max_keys: int = 256,
        timeout: float = 5.0,
    ) -> None:
        """`choices`: gives the fixed values of the arguments that have them, by name (called once, when needed)."""
        self.mcp = mcp
        self.backend = backend
        self._choices = choices
        self.ttl = ttl
        self.max_items = max_items
        self.max_keys = max_keys
        self.timeout = timeout
        self._cache: OrderedDict[tuple[str, str], tuple[float, _Listing]] = OrderedDict()

    async def __call__(self, ctx: ServerRequestContext[Any, Any], params: CompleteRequestParams) -> CompleteResult:
        argument = params.argument
        arguments = await self._arguments_of(params.ref)
        if argument.name not in arguments:
            where = _describe(params.ref)
            raise MCPError(
                INVALID_PARAMS, f"{where} has no argument {argument.name!r} (arguments: {', '.join(arguments)})."
            )
        if argument.name in ("agent_id", "workflow_id"):
            return await self._complete_id(ctx, argument.name, argument.value)
        return _result([value for value in self.choices.get(argument.name, ()) if _starts(value, argument.value)])

    @functools.cached_property
    def choices(self) -> Mapping[str, Sequence[str]]:
        return self._choices()

    async def _arguments_of(self, ref: Any) -> list[str]:
        """The argument names of the prompt or resource template `ref` names; -32602 when it names none."""
        if isinstance(ref, PromptReference):
            prompts = {prompt.name: prompt for prompt in await self.mcp.list_prompts()}
            if (prompt := prompts.get(ref.name)) is None:
                raise MCPError(INVALID_PARAMS, f"Unknown prompt: {ref.name}. Prompts: {', '.join(prompts)}.")
            return [arg.name for arg in prompt.arguments or ()]
        templates = [template.uri_template for template in await self.mcp.list_resource_templates()]
        if ref.uri not in templates:
            raise MCPError(INVALID_PARAMS, f"Unknown resource template: {ref.uri}. Templates: {', '.join(templates)}.")
        return _VARIABLE.findall(ref.uri)

    async def _complete_id(self, ctx: ServerRequestContext[Any, Any], name: str, typed: str) -> CompleteResult:
        if name == "agent_id" and (scoped := self.backend.scope_agent_for(ctx)) is not None:
            return _result([scoped] if _starts(scoped, typed) else [])
        api_key = self.backend.api_key_for(Context(request_context=ctx))
        if api_key is None:
            return _result([])
        listing = await self._listing(api_key.value, name)
        needle = typed.casefold()
        matches = [ident for ident, label in listing.items if _starts(ident, typed) or needle in label.casefold()]
        return _result(matches, more=listing.truncated)

    async def _listing(self, api_key: str, name: str) -> _Listing:
        """The caller's agents or workflows, from the cache while fresh, else from the Console."""
        key = (hashlib.sha256(api_key.encode()).hexdigest(), name)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(key)
            return cached[1]
        listing = await self._fetch(api_key, name)
        if listing is None:
            return _Listing((), False)
        self._cache[key] = (now + self.ttl, listing)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_keys:
            self._cache.popitem(last=False)
        return listing

    async def _fetch(self, api_key: str, name: str) -> _Listing | None:
        from bimpe_mcp.console import ConsoleClient, ConsoleError, ListQuery, walk_pages

        client = ConsoleClient(self.backend.transport, api_key)
        page_size = min(self.max_items, 100)

        async def fetch(page: int) -> Result[list[Any]]:
            query = ListQuery(page=page, limit=page_size)
            if name == "agent_id":
                return await client.agents.list(query)
            return await client.workflows.list(query)

        try:
            with anyio.fail_after(self.timeout):
                walk = await walk_pages(fetch, max_items=self.max_items)
        except (ConsoleError, TimeoutError) as error:
            logger.info("completing %s: the Console gave no listing (%s)", name, type(error).__name__)
            return None
        return _Listing(tuple((item.id, item.name or "") for item in walk.items), walk.truncated)


def _starts(value: str, typed: str) -> bool:
    return value.casefold().startswith(typed.casefold())


def _result(values: list[str], *, more: bool = False) -> CompleteResult:
    shown = values[:MAX_VALUES]
    return CompleteResult(
        completion=Completion(values=shown, total=len(values), has_more=more or len(values) > len(shown))
    )


def _describe(ref: Any) -> str:
    return f"Prompt {ref.name}" if isinstance(ref, PromptReference) else f"Resource template {ref.uri}"
