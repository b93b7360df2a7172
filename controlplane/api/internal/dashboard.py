"""The dashboard's files, built by Vite into dashboard/dist, served at / by the internal API.

Any path that is not a file is the single-page app's own route (a link to /pipelines/…), so
it gets index.html. Vite names built assets by their content, so those are cached for good;
index.html never is, so a new build is seen at the next load.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import File

from controlplane.errors import NotFound
from controlplane.services import Services

# Where a source checkout builds it; an installed package is told (PIPELOGIQ_DASHBOARD_DIR).
DIST = Path(__file__).resolve().parents[3] / "dashboard" / "dist"

_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Pipelogiq</title>
<p>The dashboard is not built. Run <code>just dashboard</code> (or <code>just run</code>),
then reload. The API is up: <a href="/schema">/schema</a>.</p>"""

# Paths of the API itself: an unknown one is a 404 problem, never the app's index.html.
_NOT_PAGES = ("api/", "schema")


@get("/", include_in_schema=False, sync_to_thread=False)
def dashboard_home(services: NamedDependency[Services]) -> File | Response[str]:
    return _serve(services.settings.dashboard_dir or DIST, "")


@get("/{path:path}", include_in_schema=False, sync_to_thread=False)
def dashboard_page(
    path: FromPath[str], services: NamedDependency[Services]
) -> File | Response[str]:
    return _serve(services.settings.dashboard_dir or DIST, path)


def _serve(root: Path, path: str) -> File | Response[str]:
    relative = path.lstrip("/")
    if relative.startswith(_NOT_PAGES) or relative == "api":
        raise NotFound("not_found", f"no such endpoint /{relative}")
    if not (root / "index.html").is_file():
        return Response(_NOT_BUILT, media_type="text/html", status_code=503)
    root = root.resolve()
    wanted = (root / relative).resolve()
    if relative and wanted.is_file() and wanted.is_relative_to(root):
        immutable = wanted.parent.name == "assets"
        return _file(wanted, "public, max-age=31536000, immutable" if immutable else "no-cache")
    return _file(root / "index.html", "no-cache")


def _file(path: Path, cache: str) -> File:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return File(
        path,
        media_type=media_type,
        content_disposition_type="inline",
        headers={"Cache-Control": cache},
    )
