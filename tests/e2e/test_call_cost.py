"""What every call pays: httpcore's per-request import must succeed, and a call that went well logs only at DEBUG."""

from __future__ import annotations

import logging
import sys

import pytest

from bimpe_mcp.sandbox import RunningSandbox
from tests.harness import connect


async def test_sniffio_imports_and_only_failed_calls_log_at_info(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bimpe_mcp.tools")
    async with connect("memory", sandbox) as conn:
        await conn.ok("get_agent", {"agent_id": sandbox.store.demo_agent_id})
        await conn.fails("get_agent", {"agent_id": "agt_missing"})
    # httpcore tries `import sniffio` on every request; a failing import scanned sys.path each time
    assert "sniffio" in sys.modules
    calls = [(r.levelno, r.getMessage().split(" in ")[0]) for r in caplog.records if r.name == "bimpe_mcp.tools"]
    assert calls == [(logging.DEBUG, "tool get_agent ok"), (logging.INFO, "tool get_agent error")]
