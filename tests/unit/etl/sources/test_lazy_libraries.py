"""Every kind registered, no kind's library loaded: the registry costs the API and the CLI
nothing for kinds they never read (fastexcel, pyarrow, aioboto3 and asyncpg together
added ~80 MB to every process that imported the sources)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("fastexcel", "pyarrow", "aioboto3", "botocore", "asyncpg")


def test_importing_the_sources_registry_loads_no_kinds_library() -> None:
    probe = (
        "import sys\n"
        "from app.etl.sources.kinds import SOURCE_KINDS\n"
        "assert SOURCE_KINDS\n"
        f"print(','.join(name for name in {HEAVY!r} if name in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
