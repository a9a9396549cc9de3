"""Every source kind, by name: the registry `parse_source` and `open_reader` look kinds up in.

A family (a folder) lists its kinds in its own `kinds.py`; a new family adds one line here.
"""

from __future__ import annotations

from app.etl.sources.files.kinds import FILE_KINDS
from app.etl.sources.http.kinds import HTTP_KINDS
from app.etl.sources.registry import SourceKinds
from app.etl.sources.sql.kinds import SQL_KINDS

SOURCE_KINDS = SourceKinds((*FILE_KINDS, *HTTP_KINDS, *SQL_KINDS))
