"""Fetch GraphiQL's assets from npm at the versions graph/static/graphiql.json pins, check
each file against the SHA-256 recorded there, and write them under graph/static/graphiql/.

    uv run python scripts/vendor_graphiql.py            # fetch, verify, write
    uv run python scripts/vendor_graphiql.py --check    # verify the committed copies (offline)
    uv run python scripts/vendor_graphiql.py --record   # after changing a version: record
                                                        # the new files' hashes, then write

Packages come through `npm pack`, which checks each tarball against the registry's
integrity value; the hashes here pin the files inside them. Nothing is written unless
every file matches.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path

from graph.graphiql import ASSETS_DIR, MANIFEST, VendoredFile, read_manifest


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="verify the committed files only; fetch nothing"
    )
    mode.add_argument(
        "--record", action="store_true", help="record the fetched files' hashes in the manifest"
    )
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, default=ASSETS_DIR, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_pack(name: str, version: str, into: Path) -> Path:
    """The package's tarball, fetched by npm (which checks the registry's integrity)."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is not installed: it fetches the packages from the registry")
    done = subprocess.run(
        [npm, "pack", f"{name}@{version}", "--pack-destination", str(into), "--json"],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"npm pack {name}@{version} failed:\n{done.stderr.strip()}")
    filename: str = json.loads(done.stdout)[0]["filename"]
    return into / filename


def fetch(files: list[VendoredFile]) -> dict[str, bytes]:
    """Each file's bytes from its package's tarball, by its path under the assets dir."""
    contents: dict[str, bytes] = {}
    tarballs: dict[tuple[str, str], Path] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for item in files:
            key = (item.package, item.version)
            if key not in tarballs:
                print(f"npm pack {item.package}@{item.version}", file=sys.stderr)
                tarballs[key] = npm_pack(item.package, item.version, Path(workdir))
            with tarfile.open(tarballs[key], "r:gz") as tar:
                member = tar.extractfile(f"package/{item.source}")
                if member is None:
                    raise SystemExit(f"{item.package}@{item.version} has no file {item.source}")
                contents[item.path] = member.read()
    return contents


def mismatches(files: list[VendoredFile], contents: dict[str, bytes | None]) -> list[str]:
    problems = []
    for item in files:
        data = contents.get(item.path)
        if data is None:
            problems.append(f"{item.path}: missing")
        elif sha256(data) != item.sha256:
            problems.append(
                f"{item.path} ({item.package}@{item.version} {item.source}): sha256 "
                f"{sha256(data)}, the manifest says {item.sha256}"
            )
    return problems


def strays(files: list[VendoredFile], directory: Path) -> list[Path]:
    """Files in the assets dir that the manifest does not list."""
    listed = {directory / item.path for item in files}
    return sorted(path for path in directory.rglob("*") if path.is_file() and path not in listed)


def write_manifest(path: Path, files: list[VendoredFile]) -> None:
    document = json.loads(path.read_text())
    hashes = {item.path: item.sha256 for item in files}
    for package in document["packages"]:
        for entry in package["files"]:
            entry["sha256"] = hashes[entry["to"]]
    path.write_text(json.dumps(document, indent=2) + "\n")


def check(files: list[VendoredFile], directory: Path) -> int:
    local: dict[str, bytes | None] = {}
    for item in files:
        path = directory / item.path
        local[item.path] = path.read_bytes() if path.is_file() else None
    problems = mismatches(files, local) + [
        f"{p}: not in the manifest" for p in strays(files, directory)
    ]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{len(files)} files match {MANIFEST.name}", file=sys.stderr)
    return 1 if problems else 0


def vendor(files: list[VendoredFile], directory: Path, manifest: Path, record: bool) -> int:
    fetched = fetch(files)
    if record:
        files = [replace(item, sha256=sha256(fetched[item.path])) for item in files]
        write_manifest(manifest, files)
    problems = mismatches(files, dict(fetched))
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print("nothing written", file=sys.stderr)
        return 1
    for stray in strays(files, directory):
        stray.unlink()
    for item in files:
        target = directory / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(fetched[item.path])
    print(f"wrote {len(files)} files under {directory}, each matching its sha256", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    files = read_manifest(args.manifest)
    if args.check:
        raise SystemExit(check(files, args.dir))
    raise SystemExit(vendor(files, args.dir, args.manifest, args.record))


if __name__ == "__main__":
    main()
