"""File sources through `open_reader`: globs, compression, formats, reconciled schemas."""

from __future__ import annotations

import gzip
import io
import json
import os
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl
import pytest
import zstandard

from app.errors import DataFlowError
from app.etl.sources import ROW_COLUMN, SOURCE_COLUMN, ReadContext, Watermark
from app.etl.sources.preview import preview_source
from app.etl.sources.reader import REASON_COLUMN
from tests.unit.etl.sources.readers import data_only, file_source, read_all, read_batches

if TYPE_CHECKING:
    from pathlib import Path


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


async def test_a_glob_reads_every_file_in_name_order_with_locations(tmp_path: Path) -> None:
    write(tmp_path / "orders" / "b.csv", "id,note\n3,c\n")
    write(tmp_path / "orders" / "a.csv", 'id,note\n1,"two\nlines"\n2,b\n')
    write(tmp_path / "orders" / "skip.txt", "id,note\n9,z\n")
    frame = await read_all(file_source("csv", "orders/*.csv", tmp_path))
    assert frame.to_dict(as_series=False) == {
        "id": [1, 2, 3],
        "note": ["two\nlines", "b", "c"],
        SOURCE_COLUMN: ["orders/a.csv", "orders/a.csv", "orders/b.csv"],
        ROW_COLUMN: [2, 4, 2],  # the quoted line break makes row 2 start on line 4
        REASON_COLUMN: [None, None, None],  # the reader judged every row: none is bad
    }


async def test_recursive_globs_reach_subdirectories(tmp_path: Path) -> None:
    write(tmp_path / "raw" / "2026" / "01" / "x.ndjson", '{"id": 1}\n')
    write(tmp_path / "raw" / "2026" / "02" / "y.ndjson", '{"id": 2}\n')
    frame = await read_all(file_source("ndjson", "raw/**/*.ndjson", tmp_path))
    assert frame[SOURCE_COLUMN].to_list() == ["raw/2026/01/x.ndjson", "raw/2026/02/y.ndjson"]


async def test_batches_hold_exactly_batch_rows_across_files(tmp_path: Path) -> None:
    for part in range(3):
        rows = "".join(f"{part * 10 + i}\n" for i in range(7))
        write(tmp_path / f"part-{part}.csv", "n\n" + rows)
    _, batches = await read_batches(file_source("csv", "part-*.csv", tmp_path), batch_rows=5)
    assert [batch.height for batch in batches] == [5, 5, 5, 5, 1]
    assert pl.concat(batches)["n"].to_list() == [p * 10 + i for p in range(3) for i in range(7)]


@pytest.mark.parametrize(
    ("name", "compress", "options"),
    [
        ("data.csv.gz", gzip.compress, {}),
        ("data.csv.zst", zstandard.ZstdCompressor().compress, {}),
        ("data.gzipped", gzip.compress, {"compression": "gzip"}),
        ("data.z", zstandard.ZstdCompressor().compress, {"compression": "zstd"}),
    ],
)
async def test_gzip_and_zstd_by_extension_or_option(
    tmp_path: Path, name: str, compress: object, options: dict[str, str]
) -> None:
    assert callable(compress)
    write(tmp_path / name, compress(b"id,name\n1,a\n2,b\n"))
    frame = await read_all(file_source("csv", name, tmp_path, **options))
    assert data_only(frame).to_dict(as_series=False) == {"id": [1, 2], "name": ["a", "b"]}


async def test_multi_member_gzip_is_read_to_the_end(tmp_path: Path) -> None:
    write(tmp_path / "cat.csv.gz", gzip.compress(b"id\n1\n") + gzip.compress(b"2\n"))
    frame = await read_all(file_source("csv", "cat.csv.gz", tmp_path))
    assert frame["id"].to_list() == [1, 2]


async def test_corrupt_compressed_data_names_the_file(tmp_path: Path) -> None:
    write(tmp_path / "bad.csv.gz", gzip.compress(b"id\n1\n2\n")[:-12])
    with pytest.raises(DataFlowError) as raised:
        await read_all(file_source("csv", "bad.csv.gz", tmp_path))
    assert raised.value.code == "SOURCE_MALFORMED"
    assert raised.value.message.startswith("bad.csv.gz, the file is not valid gzip data")


async def test_columns_in_another_order_are_matched_by_name(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "id,name\n1,x\n")
    write(tmp_path / "b.csv", "name,id\ny,2\n")
    frame = await read_all(file_source("csv", "*.csv", tmp_path))
    assert data_only(frame).to_dict(as_series=False) == {"id": [1, 2], "name": ["x", "y"]}


async def test_a_missing_column_is_refused_unless_union_by_name(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", "id,name,discount\n1,x,0.5\n")
    write(tmp_path / "b.csv", "id,name\n2,y\n")
    with pytest.raises(DataFlowError) as raised:
        await read_all(file_source("csv", "*.csv", tmp_path))
    assert raised.value.code == "SOURCE_SCHEMA_MISMATCH"
    assert raised.value.message.startswith("b.csv has no column `discount` (compared with a.csv)")
    assert raised.value.details == {"file": "b.csv", "column": "discount"}

    frame = await read_all(file_source("csv", "*.csv", tmp_path, union_by_name=True))
    assert frame["discount"].to_list() == [0.5, None]


async def test_integers_widen_to_floats_across_files(tmp_path: Path) -> None:
    write(tmp_path / "a.parquet", parquet_bytes(pl.DataFrame({"v": [1, 2]}, {"v": pl.Int32})))
    write(tmp_path / "b.parquet", parquet_bytes(pl.DataFrame({"v": [2.5]})))
    write(tmp_path / "c.parquet", parquet_bytes(pl.DataFrame({"v": [7]}, {"v": pl.Int64})))
    frame = await read_all(file_source("parquet", "*.parquet", tmp_path))
    assert frame.schema["v"] == pl.Float64
    assert frame["v"].to_list() == [1.0, 2.0, 2.5, 7.0]
    assert frame[ROW_COLUMN].to_list() == [1, 2, 1, 1]


async def test_parquet_keeps_its_types_and_streams_record_batches(tmp_path: Path) -> None:
    source = pl.DataFrame(
        {"id": range(10), "at": [datetime(2026, 1, 1, i) for i in range(10)]},
        schema={"id": pl.Int64, "at": pl.Datetime("us")},
    )
    write(tmp_path / "t.parquet", parquet_bytes(source))
    _, batches = await read_batches(file_source("parquet", "t.parquet", tmp_path), batch_rows=4)
    assert [batch.height for batch in batches] == [4, 4, 2]
    assert data_only(pl.concat(batches)).equals(source)


async def test_a_file_that_is_not_parquet_is_malformed(tmp_path: Path) -> None:
    write(tmp_path / "fake.parquet", "id,name\n1,a\n")
    with pytest.raises(DataFlowError) as raised:
        await read_all(file_source("parquet", "fake.parquet", tmp_path))
    assert raised.value.code == "SOURCE_MALFORMED"
    assert raised.value.message.startswith("fake.parquet, not a readable Parquet file")


async def test_json_arrays_flatten_nested_objects_and_number_records(tmp_path: Path) -> None:
    records = [
        {"id": 1, "customer": {"name": "Ann", "address": {"city": "Oslo"}}, "tags": ["a"]},
        {"id": 2, "customer": {"name": "Bo", "address": {"city": None}}, "tags": []},
    ]
    write(tmp_path / "orders.json", json.dumps(records))
    frame = await read_all(file_source("json", "orders.json", tmp_path))
    assert data_only(frame).to_dict(as_series=False) == {
        "id": [1, 2],
        "customer__name": ["Ann", "Bo"],
        "customer__address__city": ["Oslo", None],
        "tags": [["a"], []],
    }
    assert frame[ROW_COLUMN].to_list() == [1, 2]
    shallow = await read_all(file_source("json", "orders.json", tmp_path, flatten_depth=1))
    assert isinstance(shallow.schema["customer__address"], pl.Struct)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"id": 1}', "one.json, expected a JSON array of objects"),
        ("[1, 2]", "one.json, record 1: expected a JSON object, got int"),
        ("", "one.json, the file is empty"),
    ],
)
async def test_json_that_is_not_an_array_of_objects_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    write(tmp_path / "one.json", text)
    with pytest.raises(DataFlowError) as raised:
        await read_all(file_source("json", "one.json", tmp_path))
    assert raised.value.code == "SOURCE_MALFORMED"
    assert raised.value.message.startswith(message)


async def test_a_json_array_past_max_bytes_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "big.json", json.dumps([{"id": i} for i in range(100)]))
    with pytest.raises(DataFlowError) as raised:
        await read_all(file_source("json", "big.json", tmp_path, max_bytes=100))
    assert "over max_bytes (100 bytes)" in raised.value.message


async def test_ndjson_numbers_lines_past_blank_ones_and_keeps_new_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.etl.sources.files import json_format

    monkeypatch.setattr(json_format, "SAMPLE_BYTES", 20)  # the sample sees line 1 only
    write(tmp_path / "e.ndjson", '{"id": 1}\n\n{"id": 2, "late": "x"}\n   \n{"id": 3}')
    frame = await read_all(file_source("ndjson", "e.ndjson", tmp_path))
    assert frame.columns == ["id", "late", SOURCE_COLUMN, ROW_COLUMN]
    assert frame[ROW_COLUMN].to_list() == [1, 3, 5]
    assert frame["late"].to_list() == [None, "x", None]


async def test_ndjson_dates_are_recognised(tmp_path: Path) -> None:
    write(tmp_path / "d.ndjson", '{"at": "2026-01-02T03:04:05"}\n{"at": null}\n')
    frame = await read_all(file_source("ndjson", "d.ndjson", tmp_path))
    assert frame["at"].to_list() == [datetime(2026, 1, 2, 3, 4, 5), None]


async def test_a_float_where_an_integer_was_inferred_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.etl.sources.files import json_format

    monkeypatch.setattr(json_format, "SAMPLE_BYTES", 10)
    monkeypatch.setattr(json_format, "BLOCK_BYTES", 10)
    write(tmp_path / "n.ndjson", '{"n": 1}\n{"n": 2}\n{"n": 2.5}\n')
    with pytest.raises(DataFlowError) as raised:
        await read_all(file_source("ndjson", "n.ndjson", tmp_path))
    assert raised.value.message == "n.ndjson, line 3: column `n` expected Int64, got 2.5"


async def test_run_params_fill_uri_templates(tmp_path: Path) -> None:
    write(tmp_path / "daily" / "2026-11-26" / "orders.csv", "id\n7\n")
    write(tmp_path / "daily" / "2026-11-25" / "orders.csv", "id\n6\n")
    config = file_source("csv", "daily/{date}/orders.csv", tmp_path)
    frame = await read_all(config, ReadContext(params={"date": "2026-11-26"}))
    assert frame.to_dict(as_series=False)[SOURCE_COLUMN] == ["daily/2026-11-26/orders.csv"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "the source uses {date} but the run has no param `date`"),
        ({"date": "../secret"}, "run param `date` = '../secret' is not a plain value"),
        ({"date": "*"}, "run param `date` = '*' is not a plain value"),
    ],
)
async def test_template_params_are_whitelisted(
    tmp_path: Path, params: dict[str, str], message: str
) -> None:
    config = file_source("csv", "daily/{date}/orders.csv", tmp_path)
    with pytest.raises(DataFlowError) as raised:
        await read_all(config, ReadContext(params=params))
    assert raised.value.code == "SOURCE_INVALID"
    assert raised.value.message.startswith(message)


async def test_a_glob_that_matches_nothing_says_so(tmp_path: Path) -> None:
    with pytest.raises(DataFlowError) as raised:
        await read_all(file_source("csv", "none/*.csv", tmp_path))
    assert raised.value.code == "SOURCE_NO_FILES"
    assert raised.value.message == "no file matches none/*.csv"


async def test_a_globbed_link_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "in.csv", "id\n1\n")
    write(tmp_path / "secret.csv", "id\n42\n")
    (root / "link.csv").symlink_to(tmp_path / "secret.csv")
    with pytest.raises(DataFlowError) as raised:
        await read_all(file_source("csv", "*.csv", root))
    assert raised.value.code == "SOURCE_INVALID"
    assert raised.value.message == "link.csv links outside the allowed roots"


def test_dot_dot_after_a_glob_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataFlowError) as raised:
        file_source("csv", "data/*/../../x.csv", tmp_path)
    assert raised.value.code == "SOURCE_INVALID"


async def test_a_file_swapped_for_a_link_after_listing_is_not_read(tmp_path: Path) -> None:
    root = tmp_path / "root"
    path = write(root / "data.csv", "id\n1\n")
    write(tmp_path / "secret.csv", "id\n42\n")
    config = file_source("csv", "*.csv", root)
    from app.etl.sources import open_reader

    reader = open_reader(config, ReadContext())
    try:
        await reader.schema()
        path.unlink()
        os.symlink(tmp_path / "secret.csv", path)
        with pytest.raises(DataFlowError) as raised:
            _ = [batch async for batch in reader.batches(10)]
        assert raised.value.code == "SOURCE_INVALID"
    finally:
        await reader.aclose()


async def test_a_watermark_on_the_file_name_skips_files_already_read(tmp_path: Path) -> None:
    for day in ("2026-01-01", "2026-01-02", "2026-01-03"):
        write(tmp_path / f"{day}.csv", f"day\n{day}\n")
    config = file_source("csv", "*.csv", tmp_path)
    watermark = Watermark(SOURCE_COLUMN, "2026-01-02.csv")
    frame = await read_all(config, ReadContext(watermark=watermark))
    assert frame[SOURCE_COLUMN].to_list() == ["2026-01-03.csv"]
    everything_read = ReadContext(watermark=Watermark(SOURCE_COLUMN, "2026-01-03.csv"))
    nothing = await read_all(config, everything_read)
    assert nothing.height == 0
    assert "day" in nothing.columns


async def test_preview_returns_the_first_rows_without_locations(tmp_path: Path) -> None:
    write(tmp_path / "p.csv", "id\n" + "".join(f"{i}\n" for i in range(100)))
    frame = await preview_source(file_source("csv", "p.csv", tmp_path), ReadContext(), 3)
    assert frame.to_dict(as_series=False) == {"id": [0, 1, 2]}
    empty = await preview_source(file_source("csv", "p.csv", tmp_path), ReadContext(), 0)
    assert empty.schema == pl.Schema({"id": pl.Int64})
