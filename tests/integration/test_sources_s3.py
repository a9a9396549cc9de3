"""S3 file sources against moto's S3 server on localhost: real HTTP, real aioboto3."""

from __future__ import annotations

import gzip
import io
import socket
from typing import TYPE_CHECKING, Any

import boto3  # type: ignore[import-untyped]
import polars as pl
import pytest
from moto.server import ThreadedMotoServer

from app.errors import DataFlowError
from app.etl.sources import ROW_COLUMN, SOURCE_COLUMN, ReadContext, parse_source
from app.etl.sources.policy import SourcePolicy
from app.etl.sources.preview import preview_source
from app.etl.sources.reader import REASON_COLUMN
from tests.unit.etl.sources.readers import data_only, read_all, read_batches
from tests.unit.etl.sources.workbooks import workbook_bytes

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.etl.sources import SourceConfig

BUCKET = "raw-data"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials in the environment, as on a worker (and no AWS config file of ours)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def bucket(s3_endpoint: str, credentials: None) -> Iterator[Any]:
    """An empty bucket."""
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def s3(kind: str, key: str, endpoint: str, tmp_path: Path, **options: Any) -> SourceConfig:
    policy = SourcePolicy((tmp_path,), s3_endpoint_url=endpoint)
    return parse_source(kind, f"s3://{BUCKET}/{key}", options, policy)


def put(client: Any, key: str, data: bytes) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=data)


async def test_a_key_glob_reads_gzipped_csvs_in_key_order(
    bucket: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    put(bucket, "orders/2026-02/part-1.csv.gz", gzip.compress(b"id,total\n3,7.5\n"))
    put(bucket, "orders/2026-01/part-2.csv.gz", gzip.compress(b"id,total\n2,5\n"))
    put(bucket, "orders/2026-01/part-1.csv.gz", gzip.compress(b"id,total\n1,2.5\n"))
    put(bucket, "orders/2026-01/notes.txt", b"not data")
    put(bucket, "other/2026-01/part-1.csv.gz", gzip.compress(b"id,total\n9,9\n"))
    config = s3("csv", "orders/2026-*/part-*.csv.gz", s3_endpoint, tmp_path)
    frame = await read_all(config)
    assert frame.to_dict(as_series=False) == {
        "id": [1, 2, 3],
        "total": [2.5, 5.0, 7.5],
        SOURCE_COLUMN: [
            "orders/2026-01/part-1.csv.gz",
            "orders/2026-01/part-2.csv.gz",
            "orders/2026-02/part-1.csv.gz",
        ],
        ROW_COLUMN: [2, 2, 2],
        REASON_COLUMN: [None, None, None],  # the reader judged every row: none is bad
    }


async def test_parquet_objects_are_read_with_their_types(
    bucket: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    for part in range(2):
        buffer = io.BytesIO()
        pl.DataFrame({"n": list(range(part * 5, part * 5 + 5))}).write_parquet(buffer)
        put(bucket, f"facts/part-{part}.parquet", buffer.getvalue())
    config = s3("parquet", "facts/*.parquet", s3_endpoint, tmp_path)
    schema, batches = await read_batches(config, batch_rows=4)
    assert schema == pl.Schema({"n": pl.Int64})
    assert [batch.height for batch in batches] == [4, 4, 2]
    assert pl.concat(batches)["n"].to_list() == list(range(10))


async def test_xlsx_workbooks_are_read_from_a_key_glob(
    bucket: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    for part in range(2):
        rows = [[n] for n in range(part * 5, part * 5 + 5)]
        put(bucket, f"sheets/part-{part}.xlsx", workbook_bytes({"Data": [["n"], *rows]}))
    config = s3("xlsx", "sheets/*.xlsx", s3_endpoint, tmp_path, sheet="Data")
    schema, batches = await read_batches(config, batch_rows=4)
    assert schema == pl.Schema({"n": pl.Int64})
    frame = pl.concat(batches)
    assert frame["n"].to_list() == list(range(10))
    assert frame[SOURCE_COLUMN].unique(maintain_order=True).to_list() == [
        "sheets/part-0.xlsx",
        "sheets/part-1.xlsx",
    ]


async def test_a_large_object_streams_in_batches(
    bucket: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    rows = 50_000
    body = "id,text\n" + "".join(f"{i},row number {i}\n" for i in range(rows))
    put(bucket, "big/data.csv", body.encode())
    _, batches = await read_batches(s3("csv", "big/data.csv", s3_endpoint, tmp_path), None, 7_000)
    assert [batch.height for batch in batches[:-1]] == [7_000] * (len(batches) - 1)
    frame = pl.concat(batches)
    assert frame["id"].to_list() == list(range(rows))
    assert frame[ROW_COLUMN][-1] == rows + 1


async def test_ndjson_with_a_run_param_in_the_key(
    bucket: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    put(bucket, "events/2026-11-26.ndjson", b'{"kind": "click", "n": 1}\n')
    put(bucket, "events/2026-11-25.ndjson", b'{"kind": "view", "n": 2}\n')
    config = s3("ndjson", "events/{date}.ndjson", s3_endpoint, tmp_path)
    frame = await read_all(config, ReadContext(params={"date": "2026-11-26"}))
    assert data_only(frame).to_dict(as_series=False) == {"kind": ["click"], "n": [1]}


async def test_malformed_data_names_the_object_and_line(
    bucket: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    put(bucket, "bad/a.csv", b"id,name\n1,a\n2,b,c\n")
    with pytest.raises(DataFlowError) as raised:
        await read_all(s3("csv", "bad/a.csv", s3_endpoint, tmp_path))
    assert raised.value.code == "SOURCE_MALFORMED"
    assert raised.value.message == "bad/a.csv, line 3: expected 2 fields, found 3"


async def test_missing_objects_and_empty_globs_are_typed(
    bucket: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    for key in ("missing.csv", "nothing/*.csv"):
        with pytest.raises(DataFlowError) as raised:
            await read_all(s3("csv", key, s3_endpoint, tmp_path))
        assert raised.value.code == "SOURCE_NO_FILES", key
        assert f"s3://{BUCKET}/{key}" in raised.value.message


async def test_a_missing_bucket_is_a_terminal_error(
    s3_endpoint: str, credentials: None, tmp_path: Path
) -> None:
    policy = SourcePolicy((tmp_path,), s3_endpoint_url=s3_endpoint)
    config = parse_source("csv", "s3://no-such-bucket/x/*.csv", {}, policy)
    with pytest.raises(DataFlowError) as raised:
        await read_all(config)
    assert raised.value.code == "SOURCE_REQUEST_FAILED"
    assert "NoSuchBucket" in raised.value.message


async def test_an_unreachable_endpoint_is_transient(credentials: None, tmp_path: Path) -> None:
    policy = SourcePolicy((tmp_path,), s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    config = parse_source("csv", f"s3://{BUCKET}/x.csv", {}, policy)
    with pytest.raises(DataFlowError) as raised:
        await read_all(config)
    assert raised.value.code == "SOURCE_UNAVAILABLE"


async def test_preview_reads_the_start_of_the_first_object(
    bucket: Any, s3_endpoint: str, tmp_path: Path
) -> None:
    put(bucket, "p/a.csv", b"id\n1\n2\n3\n")
    put(bucket, "p/b.csv", b"id\n4\n")
    frame = await preview_source(s3("csv", "p/*.csv", s3_endpoint, tmp_path), ReadContext(), 2)
    assert frame.to_dict(as_series=False) == {"id": [1, 2]}


async def test_no_credentials_says_where_they_come_from(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(DataFlowError) as raised:
        await read_all(s3("csv", "x.csv", s3_endpoint, tmp_path))
    assert raised.value.code == "SOURCE_INVALID"
    assert "no AWS credentials" in raised.value.message
