"""The secret-entry page: where the user types a configure tool's secrets, so the model never sees them.

`GET /secrets/<token>` shows a small form for one pending entry (see `tools._secret_entry`): which
agent, which service, the fields to type. `POST` runs the operation once and shows its outcome:
connected, or the Console's error with the fix. Each response is `Cache-Control: no-store`, under
a Content-Security-Policy that allows only the page's own inline style (by nonce) and posting to
itself, with no script and no third-party asset. A POST must come from the page's own origin and
carry the form's CSRF token. The typed values are read, passed to the Console call and dropped;
they are never logged or put back into a page.

Over HTTP the routes live on the deployment, behind its Host and Origin checks (`_netsec`). Over
stdio, `LoopbackPage` serves them on `127.0.0.1` on a random port, started on first use and closed
once no entry is pending for a minute.
"""

from __future__ import annotations

import html
import logging
import secrets
import time
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import parse_qs

import anyio
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bimpe_mcp.tools import EntryRefused, PendingEntry, SecretEntries, SecretNeed

__all__ = ["ENTRY_PATH", "LoopbackPage", "secret_entry_routes"]

logger = logging.getLogger("bimpe_mcp.secret_page")

ENTRY_PATH = "/secrets"
_MAX_FORM_BYTES = 16 * 1024
_IDLE_S = 60.0


def secret_entry_routes(entries: SecretEntries) -> list[Route]:
    """`GET` and `POST /secrets/<token>`: the form of one entry, and its submission."""

    async def page(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            if request.method == "POST":
                return await _submit(entries, token, request)
            entry = entries.read(token)
        except EntryRefused as refusal:
            return _page(refusal.title, f"<p>{html.escape(refusal.message)}</p>", status=refusal.status)
        return _form(entry, entries.describe(entry), entries.csrf_token(entry))

    return [Route(ENTRY_PATH + "/{token:str}", page, methods=["GET", "POST"])]


async def _submit(entries: SecretEntries, token: str, request: Request) -> Response:
    origin = request.headers.get("origin")
    host = request.headers.get("host", "").lower()
    # Either scheme: behind a TLS proxy this server may see http while the browser's page is https.
    own = {f"http://{host}", f"https://{host}"}
    if (origin is not None and origin.lower() not in own) or request.headers.get("sec-fetch-site") == "cross-site":
        raise EntryRefused(403, "Form refused", "This form may only be sent from its own page.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            raise EntryRefused(413, "Form too large", "The form is too large.")
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    del body
    csrf = next(iter(form.get("csrf") or []), None)
    entry = entries.read(token)
    need = entries.describe(entry)
    values: dict[tuple[str, ...], str] = {}
    for index, field in enumerate(need.fields):
        value = (form.get(f"field-{index}") or [""])[0].strip()
        if value:
            values[field.path] = value
    form.clear()
    missing = [field.label for field in need.fields if not field.optional and field.path not in values]
    if missing or not values:
        problem = f"Fill in {', '.join(missing)}." if missing else "Fill in at least one field."
        # The same form again, empty: nothing typed is sent back into a page.
        return _form(entry, need, entries.csrf_token(entry), problem=problem, status=400)
    result = await entries.submit(token, csrf, values)
    values.clear()
    return _outcome(entry, need, result)


# ---- rendering ----------------------------------------------------------------------------------------------

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1d1f23}
main{max-width:28rem;margin:0 auto;padding:1.5rem 1rem}
h1{font-size:1.35rem;margin:0 0 .75rem}
.card{background:#fff;border-radius:12px;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input{box-sizing:border-box;width:100%;font-size:1rem;padding:.7rem;border:1px solid #b9bec7;border-radius:8px}
button{margin-top:1.25rem;width:100%;font-size:1rem;font-weight:600;padding:.8rem;border:0;border-radius:8px;
background:#1f5eff;color:#fff}
.note{color:#565b66;font-size:.9rem}
.problem{color:#a4161a;font-weight:600}
pre{white-space:pre-wrap;word-break:break-word;background:#fff4f4;padding:.75rem;border-radius:8px}
"""


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<title>{html.escape(title)} · bimpe-mcp</title><style nonce="{nonce}">{_STYLE}</style></head>'
        f'<body><main><div class="card"><h1>{html.escape(title)}</h1>{body}</div></main></body></html>'
    )
    headers = {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'"
        ),
        # Not no-referrer: under it a browser sends `Origin: null` with the form, and the origin check fails.
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }
    return HTMLResponse(document, status_code=status, headers=headers)


def _target(entry: PendingEntry, need: SecretNeed) -> str:
    agent = entry.agent_name or entry.arguments.get("agent_id")
    service = f"<strong>{html.escape(need.service)}</strong>"
    return service + (f" to agent <strong>{html.escape(str(agent))}</strong>" if agent else "")


def _form(
    entry: PendingEntry, need: SecretNeed, csrf: str, *, problem: str | None = None, status: int = 200
) -> HTMLResponse:
    inputs = []
    for index, field in enumerate(need.fields):
        kind = "password" if field.masked else "text"
        required = "" if field.optional else " required"
        inputs.append(
            f'<label for="field-{index}">{html.escape(field.label)}</label>'
            f'<input id="field-{index}" name="field-{index}" type="{kind}" autocomplete="off" '
            f'autocapitalize="off" spellcheck="false"{required}>'
        )
    left = max(0, int((entry.expires_at - time.time()) // 60))
    body = (
        f"<p>Connect {_target(entry, need)}.</p>"
        + (f'<p class="problem">{html.escape(problem)}</p>' if problem else "")
        + '<form method="post" autocomplete="off">'
        + f'<input type="hidden" name="csrf" value="{html.escape(csrf)}">'
        + "".join(inputs)
        + '<button type="submit">Connect</button></form>'
        + '<p class="note">What you type here goes from this page to BimpeAI. Your assistant never sees it. '
        + f"This link works once and expires in about {left} minute{'s' * (left != 1)}.</p>"
    )
    return _page(f"Connect {need.service}", body, status=status)


def _outcome(entry: PendingEntry, need: SecretNeed, result: CallToolResult) -> HTMLResponse:
    if result.is_error:
        text = "\n".join(getattr(block, "text", "") for block in result.content)
        body = (
            f"<p>{_target(entry, need)} was not connected. BimpeAI answered:</p><pre>{html.escape(text)}</pre>"
            "<p>Ask your assistant for a new link to try again.</p>"
        )
        return _page("Not connected", body, status=422)
    data: dict[str, Any] = result.structured_content or {}
    facts = [f"{name}: {data[name]}" for name in ("channel_id", "id") if data.get(name)]
    shown = "".join(f"<li>{html.escape(fact)}</li>" for fact in facts)
    body = (
        f"<p>{_target(entry, need)} is connected.</p>"
        + (f"<ul>{shown}</ul>" if shown else "")
        + '<p class="note">You can close this page: your assistant gets the outcome, not what you typed.</p>'
    )
    return _page("Connected", body)


# ---- over stdio: a loopback listener ------------------------------------------------------------------------


class LoopbackPage:
    """The page for a stdio server, on 127.0.0.1 and a random port: started on first use (`base_url`),
    closed once no entry has been pending for `idle_s` seconds. Runs inside `running()`'s task group."""

    def __init__(self, entries: SecretEntries, *, idle_s: float = _IDLE_S) -> None:
        self.entries = entries
        self.idle_s = idle_s
        self.url: str | None = None
        """Where the listener serves, while it runs (until it has closed)."""
        self._closing = False
        self._tasks: anyio.abc.TaskGroup | None = None
        self._lock = anyio.Lock()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The lifespan the listener lives in (the MCP server's)."""
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield
            finally:
                self._tasks = None
                tasks.cancel_scope.cancel()

    @property
    def idle(self) -> bool:
        """No entry is pending, and none was opened or submitted for `idle_s` seconds."""
        quiet = time.monotonic() - self.entries.last_activity >= self.idle_s
        return quiet and not self.entries.busy

    async def base_url(self, ctx: Context[Any, Any] | None = None) -> str:
        """The listener's address, starting it if it is not running."""
        async with self._lock:
            if self.url is None or self._closing:
                if self._tasks is None:
                    raise RuntimeError("the secret-entry page runs only while the MCP server runs")
                self.url, self._closing = self._start(self._tasks), False
            return self.url

    def _start(self, tasks: anyio.abc.TaskGroup) -> str:
        import uvicorn
        from starlette.applications import Starlette

        from bimpe_mcp._netsec import LOOPBACK_HOSTS, AllowList, NetworkGuard
        from bimpe_mcp._sockets import base_url, listen

        sock = listen("127.0.0.1", 0)
        app = NetworkGuard(
            Starlette(routes=secret_entry_routes(self.entries)),
            hosts=AllowList(LOOPBACK_HOSTS),
            origins=AllowList(["*"]),  # the page checks that a POST comes from itself
            max_body_bytes=_MAX_FORM_BYTES,
        )

        class InProcessServer(uvicorn.Server):
            """uvicorn inside the stdio server's event loop: the signals stay the MCP server's."""

            @contextmanager
            def capture_signals(self) -> Generator[None, None, None]:
                yield

        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", log_level="warning")
        server = InProcessServer(config)
        url = base_url(sock, "127.0.0.1")

        async def serve() -> None:
            try:
                await server.serve(sockets=[sock])
            finally:
                sock.close()
                if self.url == url:
                    self.url, self._closing = None, False
                logger.info("secret-entry page on %s closed", url)

        async def close_when_idle() -> None:
            while not server.should_exit:
                await anyio.sleep(min(5.0, self.idle_s / 2))
                if self.idle and self.url == url:
                    self._closing = server.should_exit = True

        tasks.start_soon(serve)
        tasks.start_soon(close_when_idle)
        logger.info("secret-entry page serving on %s", url)
        return url
