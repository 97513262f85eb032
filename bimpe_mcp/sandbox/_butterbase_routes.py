"""Butterbase's routes under /v1/{app_id}/integrations, and the admin route for its faults.

Every route but the OAuth callback authenticates the admin key; writes honour `Idempotency-Key`
as the Console's do (a replay answers the first result, a 5xx after acting included), so a retried
write is not applied twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ._butterbase import ButterbaseFaults, ButterbaseRules, ButterbaseSandboxError
from ._endpoint import api_key_of, json_object

PREFIX = "/v1/{app_id}/integrations"

Handler = Callable[[ButterbaseRules, Request, dict[str, Any]], Any]


def _rules(request: Request) -> ButterbaseRules:
    rules: ButterbaseRules = request.app.state.store.butterbase
    return rules


async def _json(request: Request) -> dict[str, Any]:
    return await json_object(request, lambda message: ButterbaseSandboxError("VALIDATION_ERROR", message))


def _route(method: str, path: str, handler: Handler, status: int = 200) -> Route:
    async def run(request: Request) -> Response:
        rules = _rules(request)
        api_key = api_key_of(request)
        rules.authenticate(api_key, request.path_params["app_id"])
        body = await _json(request) if method == "POST" else {}
        idem = request.headers.get("idempotency-key") if method != "GET" else None
        record = None
        if idem:
            fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            record = (f"{api_key}|{fingerprint}", method, f"{request.url.path}|{idem}")
            if (replayed := rules.idempotency.get(record)) is not None:
                return _answer(*replayed, replayed_header=True)
        try:
            data = handler(rules, request, body)
        except ButterbaseSandboxError as error:
            if record is not None and error.status >= 500:  # it acted, then failed: a replay must not act again
                rules.idempotency[record] = (error.status, error.body())
            raise
        if record is not None:
            rules.idempotency[record] = (status, data)
        return _answer(status, data)

    return Route(PREFIX + path, run, methods=[method])


def _answer(status: int, data: Any, *, replayed_header: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed_header else None
    if data is None:
        return Response(status_code=204, headers=headers)
    return JSONResponse(data, status, headers=headers)


def _callback_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + request.url.path.rsplit("/", 1)[0] + "/callback"


async def _callback(request: Request) -> Response:
    """The OAuth callback (public): a valid signed state connects the user's account."""
    rules = _rules(request)
    if request.path_params["app_id"] != rules.app_id:
        raise ButterbaseSandboxError("NOT_FOUND", "No such app.")
    redirect = rules.callback(request.query_params.get("state"))
    if redirect is None:
        return JSONResponse({"connected": True})
    return RedirectResponse(redirect, 302)


async def _put_faults(request: Request) -> Response:
    """`PUT /_sandbox/butterbase`: the execution faults and the platform switch (admin key checked by the app)."""
    body = await _json(request)
    knobs = {"configured", "soft_failure_rate", "network_failure_rate", "seed"}
    if unknown := sorted(set(body) - knobs):
        raise ButterbaseSandboxError("VALIDATION_ERROR", f"Not a Butterbase fault setting: {', '.join(unknown)}.")
    try:
        _rules(request).faults = ButterbaseFaults(**body)
    except TypeError as exc:
        raise ButterbaseSandboxError("VALIDATION_ERROR", str(exc)) from None
    return JSONResponse({knob: getattr(_rules(request).faults, knob) for knob in sorted(knobs)})


async def butterbase_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ButterbaseSandboxError)
    return JSONResponse(exc.body(), exc.status)


BUTTERBASE_ROUTES = [
    _route("GET", "/available", lambda rules, request, _: rules.available(request.query_params.get("search"))),
    _route("GET", "/config", lambda rules, request, _: rules.config()),
    _route("POST", "/configure", lambda rules, request, body: rules.configure(body), status=201),
    _route("DELETE", "/configure/{toolkit}", lambda rules, request, _: rules.disable(request.path_params["toolkit"])),
    _route("POST", "/connect", lambda rules, request, body: rules.connect(body, _callback_url(request)), status=201),
    Route(PREFIX + "/callback", _callback, methods=["GET"]),
    _route("GET", "/connections", lambda rules, request, _: rules.list_connections(request.query_params.get("userId"))),
    _route(
        "DELETE",
        "/connections/{connection_id}",
        lambda rules, request, _: rules.disconnect(request.path_params["connection_id"]),
    ),
    _route("GET", "/tools", lambda rules, request, _: rules.tools(request.query_params.get("toolkit"))),
    _route("POST", "/execute", lambda rules, request, body: rules.execute(body)),
]

ADMIN_FAULTS: Callable[[Request], Awaitable[Response]] = _put_faults
