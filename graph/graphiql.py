"""GraphiQL served from the app's own pinned copies of its assets, so it works offline.

Strawberry's GraphiQL page loads React and GraphiQL from a CDN: on an air-gapped cluster
or a laptop on a plane it stays at "Loading...". The same packages at the same versions
are vendored under `graph/static/graphiql/` (listed, with their SHA-256, in
`graph/static/graphiql.json`; `scripts/vendor_graphiql.py` fetches them again from npm and
checks them), served under ASSETS_PATH, and named by the page with local URLs.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

if TYPE_CHECKING:
    import os

    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
ASSETS_DIR = STATIC_DIR / "graphiql"
MANIFEST = STATIC_DIR / "graphiql.json"
TEMPLATE = Path(__file__).parent / "graphiql.html"
ASSETS_PATH = "/graphiql/static"
ASSETS_ROUTE = "graphiql-assets"
# Every asset's path names its package's version, so a copy never goes stale.
ASSETS_CACHE_CONTROL = "public, max-age=31536000, immutable"
# The page may load and talk to this origin only (and inline what GraphiQL inlines: its
# own script below, styles, fonts as data: URLs).
PAGE_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class VendoredFile:
    package: str  # the npm package name
    version: str
    source: str  # its path inside the package's tarball, under `package/`
    path: str  # its path under ASSETS_DIR and ASSETS_PATH
    sha256: str  # hex

    @property
    def integrity(self) -> str:
        """The Subresource Integrity value: the browser checks the file against it too."""
        return "sha256-" + base64.b64encode(bytes.fromhex(self.sha256)).decode()


def read_manifest(path: Path = MANIFEST) -> list[VendoredFile]:
    document: dict[str, Any] = json.loads(path.read_text())
    return [
        VendoredFile(package["name"], package["version"], item["from"], item["to"], item["sha256"])
        for package in document["packages"]
        for item in package["files"]
    ]


def page_assets(files: list[VendoredFile]) -> tuple[list[VendoredFile], list[VendoredFile]]:
    """The stylesheets and the scripts the page loads, in the manifest's order (React
    before GraphiQL before its plugin: each UMD build reads the globals of those before)."""
    return (
        [item for item in files if item.path.endswith(".css")],
        [item for item in files if item.path.endswith(".js")],
    )


@cache
def _page_parts() -> tuple[str, list[VendoredFile], list[VendoredFile]]:
    styles, scripts = page_assets(read_manifest())
    return TEMPLATE.read_text(), styles, scripts


def page_html(assets_url: str) -> str:
    """GraphiQL's page, naming its assets under `assets_url` (a path on this app)."""
    template, styles, scripts = _page_parts()
    links = "\n".join(
        f'    <link rel="stylesheet" href="{assets_url}/{item.path}"'
        f' integrity="{item.integrity}" />'
        for item in styles
    )
    tags = "\n".join(
        f'    <script src="{assets_url}/{item.path}" integrity="{item.integrity}"></script>'
        for item in scripts
    )
    return template.replace("<!-- stylesheets -->", links).replace("<!-- scripts -->", tags)


class OfflineGraphiQL:
    """Mixin for the GraphQL view: its GraphiQL page (shown when the view's `graphql_ide`
    is set) names the vendored assets instead of a CDN's."""

    async def render_graphql_ide(self, request: Request) -> Response:
        # A path, not a URL: the page loads from whatever host and scheme served it.
        assets_url = html.escape(request.url_for(ASSETS_ROUTE, path="").path.rstrip("/"))
        policy = {"Content-Security-Policy": PAGE_POLICY}
        return HTMLResponse(page_html(assets_url), headers=policy)


class AssetFiles(StaticFiles):
    """The vendored files, cached by browsers for a year (their paths name versions)."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = ASSETS_CACHE_CONTROL
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def asset_routes() -> list[Mount]:
    """The route serving GraphiQL's assets; mount it only where GraphiQL is on."""
    return [Mount(ASSETS_PATH, app=AssetFiles(directory=ASSETS_DIR), name=ASSETS_ROUTE)]
