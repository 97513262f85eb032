"""Sandbox fixtures: a fresh store, an in-process ASGI client, and a real uvicorn server on a thread."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bimpe_mcp.sandbox import RunningSandbox, SandboxStore, create_app

PREFIX = "/api/v1/console"


@pytest.fixture
def auth(store: SandboxStore) -> dict[str, str]:
    return {"Authorization": f"Bearer {store.demo_api_key}"}


@pytest.fixture
async def client(store: SandboxStore, auth: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """In-process client, already authenticated as the demo team."""
    app = create_app(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox", headers=auth) as c:
        c.app = app  # type: ignore[attr-defined]
        yield c


@pytest.fixture
async def live_client(live: RunningSandbox, auth: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.base_url, headers=auth, timeout=10) as c:
        yield c
