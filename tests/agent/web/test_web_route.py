"""The `/web/` static route of the local API: only the two listed files, never anything else of the package
or the disk, with the same Host and Origin checks as the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agent.web import WEB_ROOT
from tests.agent.api_fixtures import FOREIGN_ORIGIN, ORIGIN, Api, running_api


@pytest_asyncio.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(tmp_path) as running:
        yield running


@pytest.mark.parametrize("name", ["vigie.js", "vigie-qualification.js", "vigie-documents.js"])
async def test_web_route_serves_the_listed_files(api: Api, name: str) -> None:
    async with api.http.get(f"{api.server.url}/web/{name}") as resp:
        assert resp.status == 200
        assert await resp.read() == (WEB_ROOT / name).read_bytes()
        assert resp.headers["Content-Type"].split(";")[0] in ("application/javascript", "text/javascript")
        assert resp.headers["Cache-Control"] == "no-cache"
        assert "Access-Control-Allow-Origin" not in resp.headers  # no Origin sent: no CORS header


@pytest.mark.parametrize("path", ["/web/__init__.py", "/web/..%2Fserver.py", "/web/%2E%2E%2Fserver.py",
                                  "/web/..%2F..%2Fpyproject.toml", "/web/%2Fetc%2Fpasswd", "/web/",
                                  "/web/vigie.js%00", "/web/VIGIE.JS", "/web/../agent/server.py"])
async def test_web_route_refuses_anything_else(api: Api, path: str) -> None:
    url = f"{api.server.url}{path}"
    async with api.http.get(url, skip_auto_headers=["Accept-Encoding"]) as resp:
        assert resp.status == 404, path
        body = await resp.read()
    assert b"import " not in body and b"root:" not in body and b"[project]" not in body


async def test_web_route_cors_for_allowed_origins_only(api: Api) -> None:
    url = f"{api.server.url}/web/vigie.js"
    async with api.http.get(url, headers={"Origin": ORIGIN}) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN and resp.headers["Vary"] == "Origin"
    async with api.http.get(url, headers={"Origin": FOREIGN_ORIGIN}) as resp:
        assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers


async def test_web_route_foreign_host_refused(api: Api) -> None:
    # DNS rebinding: a page of evil.example resolving to 127.0.0.1 must not read the files either.
    async with api.http.get(f"{api.server.url}/web/vigie.js",
                            headers={"Host": f"evil.example:{api.server.port}"}) as resp:
        assert resp.status == 421
