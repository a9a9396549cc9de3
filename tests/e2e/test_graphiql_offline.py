"""GraphiQL works offline: its page names no URL outside the app, the app serves every
asset it names (the vendored copies, each matching the manifest's SHA-256), the copies ship
in the wheel, and with ENV=prod there is neither page nor assets."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from app import migrate
from app.config import Environment, Settings
from graph.graphiql import ASSETS_DIR, ASSETS_PATH, MANIFEST, read_manifest
from scripts import vendor_graphiql
from tests.live import live_server

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
CONTENT_TYPES = {
    ".js": {"text/javascript", "application/javascript"},
    ".css": {"text/css"},
}


class References(HTMLParser):
    """Every URL the page would load: src and href attributes of any element."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href"):
            value = found.get(name)
            if value is not None:
                self.urls.append((tag, value, found))


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


def graphiql_page(url: str) -> httpx.Response:
    return httpx.get(f"{url}/graphql", headers={"Accept": "text/html"}, timeout=30)


def test_the_page_names_no_url_outside_the_app_and_every_asset_is_served(server: str) -> None:
    page = graphiql_page(server)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # Not only no CDN: no absolute http(s) URL at all, in markup or script.
    assert re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", page.text) == []
    assert "default-src 'self'" in page.headers["content-security-policy"]

    parser = References()
    parser.feed(page.text)
    manifest = {item.path: item for item in read_manifest()}
    served = []
    for tag, url, attrs in parser.urls:
        if url.startswith("data:"):
            continue  # inline (the blank favicon)
        assert url.startswith(f"{ASSETS_PATH}/"), (tag, url)
        item = manifest[url.removeprefix(f"{ASSETS_PATH}/")]
        assert attrs["integrity"] == item.integrity
        response = httpx.get(f"{server}{url}", timeout=30)
        assert response.status_code == 200, url
        media_type = response.headers["content-type"].split(";")[0]
        assert media_type in CONTENT_TYPES[Path(url).suffix], (url, media_type)
        assert hashlib.sha256(response.content).hexdigest() == item.sha256, url
        assert "immutable" in response.headers["cache-control"]
        served.append(item.path)
    # React, React DOM, GraphiQL (script and styles), the explorer (script and styles).
    assert sorted(served) == sorted(p for p in manifest if Path(p).suffix in CONTENT_TYPES)


def test_production_serves_no_graphiql_and_no_assets(tmp_path: Path) -> None:
    settings = Settings(
        env=Environment.PROD,
        data_dir=tmp_path,
        secret_key="p" * 40,
        database_url=None,
        redis_url=None,
    )
    migrate.upgrade(settings.metadata_url)
    with live_server(settings) as url:
        page = graphiql_page(url)
        assets = [httpx.get(f"{url}{ASSETS_PATH}/{item.path}") for item in read_manifest()]
    assert page.status_code == 404
    assert "graphiql" not in page.text.lower()
    assert {response.status_code for response in assets} == {404}


def test_the_committed_copies_match_the_manifest(tmp_path: Path) -> None:
    assert vendor_graphiql.check(read_manifest(), ASSETS_DIR) == 0
    # A changed byte or a file the manifest does not list is caught.
    copy = tmp_path / "graphiql"
    shutil.copytree(ASSETS_DIR, copy)
    target = copy / "react-18.2.0" / "react.production.min.js"
    target.write_bytes(target.read_bytes() + b"\n")
    assert vendor_graphiql.check(read_manifest(), copy) == 1
    shutil.copytree(ASSETS_DIR, copy, dirs_exist_ok=True)
    assert vendor_graphiql.check(read_manifest(), copy) == 0
    (copy / "extra.js").write_text("alert(1)")
    assert vendor_graphiql.check(read_manifest(), copy) == 1


def test_the_wheel_ships_the_page_and_its_assets(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH: it builds the wheel")
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package_root = ROOT / "graph"
    expected = {"graph/graphiql.html", f"graph/{MANIFEST.relative_to(package_root)}"}
    expected |= {
        f"graph/{(ASSETS_DIR / item.path).relative_to(package_root)}" for item in read_manifest()
    }
    assert expected <= names, sorted(expected - names)
