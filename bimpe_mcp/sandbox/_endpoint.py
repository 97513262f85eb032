"""The pipeline every console route shares: auth, rate limit, scope, JSON body, idempotency, envelope."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._errors import SandboxError
from ._listing import search_sort_page
from ._records import rate_headers
from ._store import SandboxStore
from ._validation import list_query

IDEMPOTENCY_WINDOW_S = 24 * 3600
_WRITES = ("POST", "PATCH", "DELETE")


@dataclass
class Ok:
    """A success answer: `{"message", "data"}` plus `meta` for paginated lists."""

    data: Any
    message: str = "Success"
    meta: dict[str, Any] | None = None
    status: int = 200


@dataclass
class RouteContext:
    """What a console handler sees of its request: the store, the caller's team and key, path and query
    parameters, and the JSON body (already authenticated, rate-limited and scope-checked)."""

    store: SandboxStore
    team: str
    api_key: str
    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def agent(self) -> str:
        return self.params["agent_id"]

    def page(self, items: list[dict[str, Any]], *search_fields: str) -> Ok:
        page, limit, search, sort = list_query(self.query)
        data, meta = search_sort_page(
            items, page=page, limit=limit, search=search, sort=sort, search_fields=search_fields
        )
        return Ok(data, meta=meta)


Handler = Callable[[RouteContext], Any]


def api_key_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None


def endpoint(
    handler: Handler, scope: str, count: str | None = None, status: int = 200, message: str = "Success"
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap `handler` in the Console's request pipeline; `count` names the write counter it bumps.

    A handler answers with data, which the envelope carries with `message` and `status`, or with an
    `Ok` that says all of it (a page of a list).
    """

    async def run(request: Request) -> Response:
        store: SandboxStore = request.app.state.store
        api_key = api_key_of(request)
        key = store.authenticate(api_key)
        assert api_key is not None
        request.state.rate_headers = rate_headers(*store.hit_rate(api_key))
        if scope not in key["scopes"]:
            raise SandboxError("insufficient_scope", f"This API key is missing the required scope: {scope}.")
        body = await _json_body(request) if request.method in ("POST", "PATCH", "PUT") else {}
        ctx = RouteContext(store, key["team_id"], api_key, dict(request.path_params), dict(request.query_params), body)
        idem = request.headers.get("idempotency-key") if request.method in _WRITES else None
        record_key = fingerprint = None
        if idem is not None:
            if len(idem) > 255 or not idem:
                raise SandboxError(
                    "validation_error", "Validation failed", [("Idempotency-Key", "must be 1 to 255 characters")]
                )
            record_key = (api_key, request.method, request.url.path, idem)
            fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            record = store.idempotency.get(record_key)
            if record is not None and record["expires_at"] > time.time():
                if record["fingerprint"] != fingerprint:
                    raise SandboxError(
                        "conflict", "This Idempotency-Key was already used with a different request body."
                    )
                return JSONResponse(record["body"], record["status"], headers={"Idempotent-Replayed": "true"})
        result = handler(ctx)
        ok = result if isinstance(result, Ok) else Ok(result, message=message, status=status)
        payload: dict[str, Any] = {"message": ok.message, "data": ok.data}
        if ok.meta is not None:
            payload["meta"] = ok.meta
        if count is not None:
            store.count(count)
        if record_key is not None:
            store.idempotency[record_key] = {
                "fingerprint": fingerprint,
                "status": ok.status,
                "body": payload,
                "expires_at": time.time() + IDEMPOTENCY_WINDOW_S,
            }
        return JSONResponse(payload, ok.status)

    return run


async def json_object(request: Request, refuse: Callable[[str], Exception]) -> dict[str, Any]:
    """The request's JSON object body ({} when empty); `refuse(message)` is the emulated API's error."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise refuse("Request body must be valid JSON.") from None
    if not isinstance(body, dict):
        raise refuse("Request body must be a JSON object.")
    return body


async def _json_body(request: Request) -> dict[str, Any]:
    return await json_object(request, lambda message: SandboxError("bad_request", message))
