"""The secret-entry page in a real browser: Debian's chromium, headless, driven by Selenium and chromedriver.

One browser session goes through the whole flow over stdio (the loopback listener, the link in
the tool result) and over HTTP (the deployment's route, URL elicitation): open the link, type
the keys, see the page say connected, see the sandbox connected and the outcome reach the model.
A used link, an expired link, a foreign origin and a missing CSRF token are each refused, and the
canary keys typed into the page show up in no result, page or log line.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult

from bimpe_mcp.sandbox import RunningSandbox
from tests.e2e.test_auth import bearer, client, serving
from tests.harness import connect, text_of, wait_until

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no chromium or chromedriver on PATH (apt-get install chromium chromium-driver): "
    "the real-browser test of the secret-entry page is skipped",
)

CANARIES = {
    "public_key": "pk_test_CANARYbrowser0201",
    "secret_key": "sk_test_CANARYbrowser0202",
    "token": "CANARYbrowserBumpaToken0203",
}
PHONE = (390, 844)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for every check here, with a phone-sized window."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
        options.add_argument(flag)
    options.add_experimental_option(
        "mobileEmulation", {"deviceMetrics": {"width": PHONE[0], "height": PHONE[1], "pixelRatio": 2.0}}
    )
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """What a person does in the browser, each step run off the event loop (Selenium blocks)."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.sources: list[str] = []

    async def run(self, step: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(step, *args)

    def open(self, url: str) -> str:
        self.driver.get(url)
        return self.heading()

    def heading(self) -> str:
        self.sources.append(self.driver.page_source)
        return str(self.driver.find_element(By.TAG_NAME, "h1").text)

    def fill(self, url: str, values: list[str], *, drop_csrf: bool = False) -> str:
        """Open the form, type `values` into its fields, send it; the heading of the page that answers."""
        self.open(url)
        if drop_csrf:
            self.driver.execute_script("document.querySelector('input[name=csrf]').remove()")
        inputs = self.driver.find_elements(By.CSS_SELECTOR, "input[name^=field-]")
        assert len(inputs) == len(values)
        for element, value in zip(inputs, values, strict=True):
            element.send_keys(value)
        self.mark_old_page()
        self.driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        return self.answered()

    def mark_old_page(self) -> None:
        self.driver.execute_script("window.bimpeOldPage = true")

    def answered(self) -> str:
        """The heading of the page a submission navigates to, once the marked page is gone.

        A marker on `window` rather than Selenium's `staleness_of`: mid-navigation chromium may answer
        an old element's query with a generic inspector error ("Node ... does not belong to the
        document"), which `staleness_of` does not count as gone.
        """
        WebDriverWait(self.driver, 30, ignored_exceptions=(WebDriverException,)).until(
            lambda driver: (
                driver.execute_script("return window.bimpeOldPage === undefined && document.readyState") == "complete"
            )
        )
        WebDriverWait(self.driver, 30).until(expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))
        return self.heading()

    def post_from(self, origin: str, url: str, fields: dict[str, str]) -> str:
        """A form on another origin (a page the attacker serves) posting to the entry."""
        self.driver.get(origin + "/")
        self.mark_old_page()
        script = (
            "const form = document.createElement('form'); form.method = 'post'; form.action = arguments[0];"
            "for (const [name, value] of Object.entries(arguments[1])) {"
            "  const input = document.createElement('input'); input.name = name; input.value = value;"
            "  form.appendChild(input); }"
            "document.body.appendChild(form); form.submit();"
        )
        self.driver.execute_script(script, url, fields)
        return self.answered()

    def csrf(self, url: str) -> str:
        self.open(url)
        return str(self.driver.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value"))

    def fits_a_phone(self) -> bool:
        width = self.driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
        field = self.driver.find_element(By.CSS_SELECTOR, "input[name=field-0]").size["width"]
        return bool(width[0] == PHONE[0] and width[1] <= PHONE[0] and field >= PHONE[0] * 0.6)


def server_records(caplog: pytest.LogCaptureFixture) -> str:
    """The in-process server's log lines: not the test's clients (Selenium logs the keys it types)."""
    clients = ("mcp.client", "httpx2", "httpcore2", "selenium", "urllib3")
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(clients))


def leaks(text: str) -> list[str]:
    return [name for name, value in CANARIES.items() if value in text]


async def test_the_whole_flow_in_a_real_browser_over_stdio_and_http(
    browser: Any, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    page = Page(browser)
    agent_id = sandbox.store.demo_agent_id
    agent_name = sandbox.store.agents[agent_id]["name"]
    keys = [CANARIES["public_key"], CANARIES["secret_key"]]
    results: list[Any] = []

    # stdio: a client without URL elicitation gets the link in the result, the page on a loopback port.
    async with connect("stdio", sandbox, args=["--log-level", "DEBUG"]) as conn:
        opened = await conn.ok("configure_bimpeai_integration", {"agent_id": agent_id, "type": "stripe"})
        url = opened["entry_url"]
        assert await page.run(page.open, url) == "Connect Stripe"
        assert agent_name in browser.find_element(By.TAG_NAME, "p").text
        assert await page.run(page.fits_a_phone), "the form must fit a phone's width"
        assert await page.run(page.fill, url, keys) == "Connected"
        assert await page.run(page.open, url) == "Link already used"
        finished = await conn.ok("check_secret_entry", {"pending_id": opened["pending_id"]})

        bumpa = (await conn.ok("configure_bimpeai_integration", {"agent_id": agent_id, "type": "bumpa"}))["entry_url"]
        assert await page.run(lambda: page.fill(bumpa, [CANARIES["token"]], drop_csrf=True)) == "Form refused"
        csrf = await page.run(page.csrf, bumpa)
        foreign = bumpa.replace("127.0.0.1", "localhost").split("/secrets/")[0]
        fields = {"csrf": csrf, "field-0": CANARIES["token"]}
        assert await page.run(page.post_from, foreign, bumpa, fields) == "Form refused"
        assert await page.run(page.fill, bumpa, [CANARIES["token"]]) == "Connected", "refusals leave the link usable"
        results += [opened, finished]
        stdio_log = conn.log()
    record = next(i for i in sandbox.store.integrations.values() if i.get("type") == "stripe")
    assert record["is_connected"] and record["_secrets"] == {"public_key": keys[0], "secret_key": keys[1]}
    assert finished["status"] == "completed" and finished["result"]["channel_id"] == record["id"]
    assert next(i for i in sandbox.store.integrations.values() if i.get("type") == "bumpa")["is_connected"]
    assert "secret-entry page serving on http://127.0.0.1:" in stdio_log and leaks(stdio_log) == []

    # HTTP: the page is a route of the deployment; a client with URL elicitation waits for it.
    shown: list[str] = []

    async def elicit(context: Any, params: Any) -> ElicitResult:
        shown.append(params.url)
        return ElicitResult(action="accept")

    async def person() -> None:
        await wait_until(lambda: shown, timeout=30)
        assert await page.run(page.fill, shown[0], keys) == "Connected"

    key = sandbox.store.demo_api_key
    with serving(sandbox) as served:
        http = httpx2.AsyncClient(headers=bearer(key), timeout=httpx2.Timeout(60))
        transport = streamable_http_client(f"{served.base}/mcp", http_client=http)
        async with http, Client(transport, elicitation_callback=elicit) as mcp, anyio.create_task_group() as tasks:
            tasks.start_soon(person)
            elicited = await mcp.call_tool(
                "configure_bimpeai_integration", {"agent_id": agent_id, "type": "paystack", "currency": "NGN"}
            )
        async with client(f"{served.base}/mcp", bearer(key), mode="legacy") as mcp:
            later = await mcp.call_tool("configure_bimpeai_integration", {"agent_id": agent_id, "type": "stripe"})
            assert served.server.entries is not None
            served.server.entries.clock = lambda: time.time() + 601
            assert await page.run(page.open, (later.structured_content or {})["entry_url"]) == "Link expired"
        http_log = server_records(caplog)
    assert shown[0].startswith(f"{served.base}/secrets/")
    assert not elicited.is_error, text_of(elicited)
    paystack = next(i for i in sandbox.store.integrations.values() if i.get("type") == "paystack")
    assert (elicited.structured_content or {})["channel_id"] == paystack["id"] and paystack["is_connected"]
    results += [elicited, later]
    dumped = json.dumps([r if isinstance(r, dict) else r.model_dump(mode="json") for r in results])
    assert leaks(dumped) == []
    assert leaks("\n".join(page.sources)) == []
    assert "tool configure_bimpeai_integration" in http_log and leaks(http_log) == []
