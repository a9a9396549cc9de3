"""docker-compose.yml's services run as processes: its commands and environment, each
with a data dir of its own, sharing PostgreSQL, Redis and an S3 store (moto's server
standing for MinIO). A worker's load is answered by the API's analytics across process
and data-dir boundaries, as it must be in the compose stack."""

from __future__ import annotations

import itertools
import os
import random
import secrets
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto.server import ThreadedMotoServer

from tests import services
from tests.compose import Service, interpolate, load_services
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.e2e.test_analytics_embedded import ANALYTICS
from tests.live import GraphQLClient, free_port, wait_until_healthy
from tests.workers import stop_worker

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
# What an operator's shell may hold that must not reach the processes: they get exactly
# what compose gives them.
_HOST_PREFIXES = ("DATAFLOW_", "AWS_", "S3_", "ANALYTICS_")
_HOST_NAMES = {"ENV", "DATABASE_URL", "WAREHOUSE_URL", "REDIS_URL", "SECRET_KEY", "DATA_DIR"}
_HOST_NAMES |= {"FILE_ROOTS", "LOG_LEVEL", "SENTRY_DSN"}
COUNTRIES = ("DE", "ES", "FR", "IT")


class Stack:
    """The compose services as processes on this machine."""

    def __init__(self, root: Path, shell: dict[str, str], wiring: dict[str, str]) -> None:
        self.root = root
        self.shell = shell  # what compose interpolates ${…} from
        self.wiring = wiring  # compose's service host names, pointed at this machine
        self.services = load_services()
        self.logs: dict[str, Path] = {}

    def environment(self, service: Service) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if name not in _HOST_NAMES and not name.startswith(_HOST_PREFIXES)
        }
        nowhere = str(self.root / "no-aws-config")
        env.update(AWS_CONFIG_FILE=nowhere, AWS_SHARED_CREDENTIALS_FILE=nowhere)
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # `dataflow worker` execs dramatiq
        for name, value in service.environment.items():
            env[name] = self.wiring.get(name) or interpolate(value, self.shell)
        env["DATA_DIR"] = str(self.folder(service) / "data")  # each container has its own
        return env

    def folder(self, service: Service) -> Path:
        folder = self.root / service.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def argv(self, service: Service, port: int | None = None) -> list[str]:
        """The service's command, its executable from this venv; a server listens on
        this machine's loopback, on a free port."""
        command = service.command
        argv = [str(BIN / command[0])]
        for previous, part in itertools.pairwise(command):
            if previous == "--host":
                part = "127.0.0.1"
            elif previous == "--port" and port is not None:
                part = str(port)
            argv.append(part)
        return argv

    def run_once(self, name: str) -> None:
        service = self.services[name]
        log = self.logs[name] = self.folder(service) / "output.log"
        with log.open("wb") as output:
            done = subprocess.run(
                self.argv(service),
                cwd=self.folder(service),
                env=self.environment(service),
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=600,
                check=False,
            )
        assert done.returncode == 0, self.tail()

    def start(
        self, name: str, stack: ExitStack, port: int | None = None
    ) -> subprocess.Popen[bytes]:
        service = self.services[name]
        log = self.logs[name] = self.folder(service) / "output.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                self.argv(service, port),
                cwd=self.folder(service),
                env=self.environment(service),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        stack.callback(stop_worker, process)
        return process

    def healthcheck(self, name: str, port: int) -> subprocess.CompletedProcess[str]:
        """The service's compose healthcheck, run beside its process."""
        service = self.services[name]
        test = service.spec["healthcheck"]["test"]
        assert test[:2] == ["CMD", "python"]
        argv = [sys.executable, *(part.replace(":8000/", f":{port}/") for part in test[2:])]
        return subprocess.run(
            argv,
            cwd=self.folder(service),
            env=self.environment(service),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def tail(self, lines: int = 40) -> str:
        parts = []
        for name, log in self.logs.items():
            text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
            parts.append(f"--- {name} ---\n" + "\n".join(text))
        return "\n".join(parts)


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh, unmigrated database: the compose `migrate` service migrates it."""
    try:
        url = services.create_database()
    except (OSError, Exception) as error:  # asyncpg raises several unrelated types
        services.unavailable("PostgreSQL", error)
        raise
    yield url
    services.drop_database(url)


@pytest.fixture
def stack(tmp_path: Path, database_url: str, redis_url: str, s3_endpoint: str) -> Stack:
    mount = tmp_path / "mounted-data"  # ./data in compose
    mount.mkdir()
    shell = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "MINIO_ROOT_USER": "compose-test",
        "MINIO_ROOT_PASSWORD": secrets.token_urlsafe(16),
        "DATAFLOW_ADMIN_EMAIL": "admin@example.com",
        "DATAFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(16),
    }
    wiring = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "S3_ENDPOINT_URL": s3_endpoint,
        "FILE_ROOTS": str(mount),
    }
    return Stack(tmp_path / "services", shell, wiring)


def orders_csv(rows: int = 400) -> tuple[bytes, list[list[Any]]]:
    """A CSV of orders, and revenue and orders per country computed here, by hand."""
    rng = random.Random(12)
    lines = ["order_id,country,quantity,unit_price"]
    totals: dict[str, list[int]] = {country: [0, 0] for country in COUNTRIES}
    for order_id in range(1, rows + 1):
        country, quantity, price = rng.choice(COUNTRIES), rng.randint(1, 9), rng.randint(1, 50)
        lines.append(f"{order_id},{country},{quantity},{price}")
        totals[country][0] += quantity * price
        totals[country][1] += 1
    expected = [[country, *totals[country]] for country in sorted(totals)]
    return ("\n".join(lines) + "\n").encode(), expected


def object_store(stack: Stack) -> tuple[Any, str]:
    """A client of the store with the stack's credentials, and the stack's bucket."""
    env = stack.environment(stack.services["api"])
    client = boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    return client, env["S3_BUCKET"]


async def log_in(url: str, stack: Stack) -> GraphQLClient:
    """As the first admin, whom `dataflow serve` made from the compose environment."""
    credentials = {
        "email": stack.shell["DATAFLOW_ADMIN_EMAIL"],
        "password": stack.shell["DATAFLOW_ADMIN_PASSWORD"],
    }
    login = await GraphQLClient(url).data(ops.LOGIN, credentials)
    return GraphQLClient(url, login["login"]["token"])


async def load_through_the_api(client: GraphQLClient, stack: Stack, uri: str, table: str) -> None:
    """Define a pipeline with a dataset over `uri` and run it to success."""
    source = await client.data(
        ops.CREATE_SOURCE, {"input": {"name": f"{table}_src", "kind": "csv", "uri": uri}}
    )
    assert source["createSource"]["errors"] == [], stack.tail()
    spec = {
        "steps": [{"derive": {"revenue": "quantity * unit_price"}}],
        "destination": {"table": table, "mode": "replace"},
        "dataset": {
            "dimensions": ["country"],
            "measures": {"revenue": "sum(revenue)", "orders": "count(*)"},
        },
    }
    source_id = source["createSource"]["source"]["id"]
    pipeline = await client.data(
        ops.CREATE_PIPELINE, {"input": {"name": table, "sourceId": source_id, "spec": spec}}
    )
    assert pipeline["createPipeline"]["errors"] == [], stack.tail()
    run_id = await flows.trigger(client, pipeline["createPipeline"]["pipeline"]["id"])
    try:
        run = await flows.wait_for_end(client, run_id, timeout=600)
    except TimeoutError:
        pytest.fail(f"the run did not end:\n{stack.tail()}")
    assert run["status"] == "SUCCEEDED", f"{run['error']}\n{stack.tail()}"


async def test_the_compose_services_answer_analytics_on_a_workers_load(stack: Stack) -> None:
    body, expected = orders_csv()
    store, bucket = object_store(stack)
    store.create_bucket(Bucket=bucket)  # what the compose one-shot `create-bucket` does
    store.put_object(Bucket=bucket, Key="raw/orders.csv", Body=body)

    stack.run_once("migrate")
    port = free_port()
    with ExitStack() as running:
        stack.start("scheduler", running)
        stack.start("worker", running)
        api = stack.start("api", running, port)
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, api, stack.logs["api"], seconds=300)

        client = await log_in(url, stack)
        table = "orders_by_country"
        await load_through_the_api(client, stack, f"s3://{bucket}/raw/orders.csv", table)
        # Containers have a disk each: the replica the worker wrote must be in the shared
        # bucket (here, on one machine, the API could read the worker's data dir too).
        replicas = store.list_objects_v2(Bucket=bucket, Prefix=f"replica/{table}/")
        assert replicas.get("KeyCount", 0) >= 1, f"no replica in s3://{bucket}/replica/"
        assert not (stack.folder(stack.services["worker"]) / "data" / "replica").exists()
        query = {
            "dataset": table,
            "measures": ["revenue", "orders"],
            "dimensions": ["country"],
            "order": [{"member": "country"}],
        }
        answer = await client.post(ANALYTICS, {"query": query})
        assert "errors" not in answer, f"{answer['errors']}\n{stack.tail()}"
        result = answer["data"]["analytics"]
        assert [column["name"] for column in result["columns"]] == ["country", "revenue", "orders"]
        assert result["rows"] == expected

        for name in ("api", "worker", "scheduler"):
            check = stack.healthcheck(name, port)
            assert check.returncode == 0, f"{name}'s healthcheck: {check.stdout}{check.stderr}"
