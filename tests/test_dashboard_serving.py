"""The internal API serves the built dashboard at /, and its typed client stays current."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from controlplane.api import app as app_module
from controlplane.api.internal import dashboard
from tests.dashboard import browser, services_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for dashboard/dist: an index page and one hashed asset."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('hi')")
    (tmp_path.parent / "secret.txt").write_text("not for you")
    monkeypatch.setattr(dashboard, "DIST", tmp_path)
    return tmp_path


async def get(path: str) -> httpx.Response:
    app = app_module.create_internal_app(services_for(None))  # type: ignore[arg-type]
    async with browser(app) as client:
        return await client.get(path)


async def test_pages_get_the_app_and_assets_are_cached_for_good(built: Path) -> None:
    for path in ("/", "/pipelines", "/pipelines/0b5e3c1a-4d1f-4e58-9f7e-6d3a2a1b9c00"):
        page = await get(path)
        assert page.status_code == 200, path
        assert page.text == "<!doctype html><div id=root></div>"
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
    asset = await get("/assets/index-abc123.js")
    assert asset.text == "console.log('hi')"
    assert "javascript" in asset.headers["content-type"]
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_the_api_s_own_paths_are_never_the_app(built: Path) -> None:
    missing = await get("/api/no-such-thing")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert (await get("/api/auth/me")).status_code == 401  # a real endpoint is still itself
    # Nothing outside the build is served, however the path is spelled.
    escape = await get("/..%2Fsecret.txt")
    assert "not for you" not in escape.text


async def test_before_a_build_the_page_says_how_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard, "DIST", tmp_path / "nothing")
    page = await get("/")
    assert page.status_code == 503
    assert "just dashboard" in page.text


async def test_an_installed_package_is_told_where_the_build_is(
    built: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("image")
    (elsewhere / "index.html").write_text("<!doctype html><p>from the image</p>")
    services = services_for(None, dashboard_dir=elsewhere)  # type: ignore[arg-type]
    async with browser(app_module.create_internal_app(services)) as client:
        page = await client.get("/pipelines")
    assert page.text == "<!doctype html><p>from the image</p>"


def test_the_dashboard_s_api_document_is_the_api_s() -> None:
    stored = json.loads((ROOT / "dashboard" / "src" / "api" / "openapi.json").read_text())
    assert stored == json.loads(json.dumps(app_module.internal_openapi())), (
        "the internal API changed: run `just dashboard-types` and commit the result"
    )
