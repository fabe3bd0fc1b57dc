"""UI benchmarks: `identity.updated` → popup window mapped, the popup process's memory, and the time the
`<vigie-qualification>` web component takes to render a view model (headless system Chromium).

An in-process agent with the INS plugin on the INSi sandbox (in-process too) and the `ui` plugin on a
private Xvfb display; one real identity is looked up once, then its `identity.updated` event is published
again for each sample after the popup was emptied, so each sample runs the whole path: the ui plugin's
`identity.view` call, the JSON line to the popup process, Tk's rendering, the window mapped on the X server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring

from agent.app import Agent
from agent.config import config_from_dict
from agent.rpc import RpcContext
from agent.secrets import MemoryKeyring, SecretStore
from agent.ui import UiPlugin
from bench.report import BenchGroup, BenchOptions, Row, Target
from plugins.ins.settings import PASSPHRASE_SECRET
from sandbox.insi.server import start_insi_sandbox

CHROMIUM = "/usr/bin/chromium"
TRAITS = {"birth_name": "ADRTROIS", "first_names": ["DOMINIQUE"], "sex": "F", "birth_date": "1997-02-26"}
CTX = RpcContext("bench", frozenset({"lgc", "admin"}), "ws", 0)


@contextlib.contextmanager
def xvfb(first: int = 900) -> Iterator[str]:
    for n in range(first, first + 100):
        if Path(f"/tmp/.X11-unix/X{n}").exists() or Path(f"/tmp/.X{n}-lock").exists():
            continue
        proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1366x768x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if Path(f"/tmp/.X11-unix/X{n}").exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is not None:
            continue
        time.sleep(0.3)
        try:
            yield f":{n}"
        finally:
            proc.terminate()
            proc.wait(5)
        return
    raise RuntimeError("no free X display")


async def _rpc(agent: Agent, method: str, **params: Any) -> Any:
    response = await agent.rpc.handle({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, CTX)
    assert isinstance(response, dict) and "result" in response, response
    return response["result"]


def _rss_kib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return float(line.split()[1])
    raise RuntimeError("no VmRSS")


async def _popup(options: BenchOptions, display: str, workdir: Path) -> tuple[list[Row], dict[str, Any]]:
    sandbox = await start_insi_sandbox()
    settings = sandbox.plugin_settings()
    SecretStore().set(PASSPHRASE_SECRET, sandbox.secrets()[PASSPHRASE_SECRET])
    config = config_from_dict({
        "api": {"port": 0, "tokens": ["bench-token-0123456789abcdef"]},
        "store": {"path": str(workdir / "vigie.sqlite3")}, "log": {"dir": str(workdir / "logs")},
        "plugins": {"ins": settings, "ui": {"popup": True, "tray": False, "display": display}},
    })
    agent = Agent(config)
    t_start = time.perf_counter()
    await agent.start()
    try:
        ui = agent.plugins.pm.get_plugin("ui")
        assert isinstance(ui, UiPlugin) and ui.popup is not None
        await asyncio.wait_for(ui.popup.ready.wait(), 30)
        ready_ms = (time.perf_counter() - t_start) * 1000
        while not agent.plugins.states["ins"].started:  # noqa: ASYNC110 (plugin state has no event)
            await asyncio.sleep(0.02)
        rss_idle = _rss_kib(ui.popup.pid or 0)
        published: dict[str, float] = {}
        identity_id = (await _rpc(agent, "identity.submit", local_id="b-1", traits=TRAITS))["identity_id"]
        first, shown_at = await asyncio.wait_for(ui.shown.get(), 30)
        assert first == identity_id
        view = await _rpc(agent, "identity.view", identity_id=identity_id)
        samples: list[float] = []
        for _ in range(10 if options.quick else 40):
            ui.offered.pop(identity_id, None)
            ui.popup.send("drop", key=identity_id)  # empty queue: the window hides
            while (await ui.describe())["visible"]:  # noqa: ASYNC110 (asks the popup each time)
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            # The fact as the INS plugin emits it: the hooks (the popup's among them), then the LGC event.
            published[identity_id] = time.monotonic()
            await agent.emitter.emit("identity_updated", identity_id=identity_id, status=view["status"],
                                     insi_outcome="found")
            _id, shown_at = await asyncio.wait_for(ui.shown.get(), 10)
            samples.append((shown_at - published[identity_id]) * 1000)
        rss_used = _rss_kib(ui.popup.pid or 0)
        rows = [
            Row.of("`identity.updated` → popup window mapped (hidden before)", "ms", samples,
                   target=Target("<=", 300.0), with_p99=True),
            Row.of("Agent start → popup process ready (Tk up, window withdrawn)", "ms", [ready_ms]),
            Row.of("Popup process RSS, idle (window withdrawn)", "MiB", [rss_idle / 1024]),
            Row.of(f"Popup process RSS after {len(samples) + 1} panels shown", "MiB", [rss_used / 1024]),
        ]
        return rows, view
    finally:
        await agent.stop()
        await sandbox.stop()


async def _web(options: BenchOptions, view: dict[str, Any]) -> list[Row]:
    from aiohttp import web as aioweb
    from playwright.async_api import async_playwright

    from agent.web import WEB_ROOT

    page_html = ("<!doctype html><html lang=fr><meta charset=utf-8><script src='/vigie-qualification.js'></script>"
                 "<body><vigie-qualification id=p></vigie-qualification></body></html>")
    async def index(_request: aioweb.Request) -> aioweb.StreamResponse:
        return aioweb.Response(text=page_html, content_type="text/html")

    async def component(_request: aioweb.Request) -> aioweb.StreamResponse:
        return aioweb.FileResponse(WEB_ROOT / "vigie-qualification.js")

    app = aioweb.Application()
    app.router.add_get("/", index)
    app.router.add_get("/vigie-qualification.js", component)
    runner = aioweb.AppRunner(app, access_log=None)
    await runner.setup()
    await aioweb.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    runs = 200 if options.quick else 1000
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{port}/")
            # Each render: build the DOM from the view model, then force style and layout (what a paint needs).
            timings: list[float] = await page.evaluate(
                """([view, runs]) => {
                    const el = document.getElementById('p'); const out = [];
                    for (let i = 0; i < runs; i++) {
                        const t0 = performance.now();
                        el.render(view);
                        el.shadowRoot.querySelector('section').getBoundingClientRect();
                        out.push(performance.now() - t0);
                    }
                    return out;
                }""", [view, runs])
            await browser.close()
    finally:
        await runner.cleanup()
    return [Row.of("`<vigie-qualification>` render of a found identity (DOM + layout)", "ms", timings,
                   with_p99=True)]


def run(options: BenchOptions) -> BenchGroup:
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        with xvfb() as display, tempfile.TemporaryDirectory(prefix="vigie-bench-ui-") as tmp:
            env_display = os.environ.pop("DISPLAY", None)
            try:
                popup_rows, view = asyncio.run(_popup(options, display, Path(tmp)))
            finally:
                if env_display is not None:
                    os.environ["DISPLAY"] = env_display
        web_rows = asyncio.run(_web(options, view))
    finally:
        keyring.set_keyring(previous)
    return BenchGroup(
        name="ui", title="UI (native popup, web component)", rows=popup_rows + web_rows,
        notes=[
            "In-process agent with the INS plugin on the in-process INSi sandbox and the `ui` plugin on a private "
            "Xvfb (1366×768, no window manager). The identity is looked up once; each sample then publishes its "
            "`identity.updated` again after the popup was emptied and hidden, and is timed from the publication to "
            "the popup's `shown` message, which the popup sends from Tk's `<Map>` event: the ui plugin's "
            "`identity.view` call, the JSON line over the pipe, Tk's rendering and the X server's map are inside.",
            "The popup process is started with the agent and stays withdrawn between panels (Python + Tk start-up "
            "is paid once, not on each identity). RSS from /proc/<pid>/status (VmRSS).",
            "Web component: `render(view)` with the real `identity.view` result, followed by a forced layout, in "
            "the system Chromium (headless, Playwright); median of the runs in one page.",
            "The machine has 2 cores shared with other helpers' work during the run (see the CPU line).",
        ],
    )
