"""docker-compose.yml and the Dockerfile hold together: real commands, one image, shared
object store, healthchecks that can pass, restart policies, migrations in the wheel.

No Docker engine runs here: tests/integration/test_compose_processes.py runs the same
services' commands as processes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
import zipfile
from typing import TYPE_CHECKING

import pytest

from app.config import Settings
from app.migrate import migrations_dir
from tests.compose import (
    ROOT,
    Service,
    dataflow_command,
    dockerfile_instructions,
    load_services,
)

if TYPE_CHECKING:
    from pathlib import Path

SERVICES = load_services()
DATAFLOW = [service for service in SERVICES.values() if service.runs_dataflow]
ONE_SHOTS = {
    name
    for service in SERVICES.values()
    for name, condition in service.waits_for().items()
    if condition == "service_completed_successfully"
}
LONG_RUNNING = [service for service in SERVICES.values() if service.name not in ONE_SHOTS]
_HTTP_PORT = re.compile(r"https?://[^/:'\"\s]+:(\d+)")


def object_store_variables() -> list[str]:
    """The names the app reads the bucket, its endpoint and credentials from."""
    fields = ("s3_bucket", "s3_endpoint_url", "aws_access_key_id", "aws_secret_access_key")
    # No alias: each is read from the variable of its own name.
    names = [
        name.upper()
        for name in fields
        if name in Settings.model_fields and Settings.model_fields[name].validation_alias is None
    ]
    assert len(names) == 4
    return names


def container_ports(service: Service) -> set[int]:
    published = [str(port).rsplit(":", 1)[-1] for port in service.spec.get("ports", [])]
    exposed = [str(port) for port in service.spec.get("expose", [])]
    return {int(port.split("/")[0]) for port in published + exposed}


def healthcheck_text(service: Service) -> str:
    test = service.spec.get("healthcheck", {}).get("test", [])
    return " ".join(test) if isinstance(test, list) else str(test)


@pytest.mark.parametrize("service", DATAFLOW, ids=lambda service: service.name)
def test_every_dataflow_service_runs_a_real_dataflow_command(service: Service) -> None:
    assert dataflow_command(service.command)


def test_every_service_of_the_image_runs_dataflow() -> None:
    image = {service.spec.get("image") for service in DATAFLOW}
    assert len(image) == 1
    users = [service for service in SERVICES.values() if service.spec.get("image") in image]
    assert users == DATAFLOW, "a service of the dataflow image runs something else"
    assert {"migrate", "serve", "worker", "scheduler"} <= {
        dataflow_command(service.command)[0] for service in DATAFLOW
    }


def test_one_image_is_built_once_and_reused_by_every_dataflow_service() -> None:
    builders = [service for service in SERVICES.values() if "build" in service.spec]
    assert len(builders) == 1, [service.name for service in builders]
    builder = builders[0]
    assert builder.runs_dataflow
    for service in DATAFLOW:
        assert service.spec["image"] == builder.spec["image"]
        if service is not builder:
            # Compose would otherwise try to pull the name from a registry.
            assert service.spec.get("pull_policy") == "never", service.name
            assert builder.name in service.waits_for(), f"{service.name} must wait for the build"


@pytest.mark.parametrize(
    "service", [s for s in DATAFLOW if s in LONG_RUNNING], ids=lambda service: service.name
)
def test_every_long_running_dataflow_service_shares_the_object_store(service: Service) -> None:
    """The worker writes raw files' results and the analytics replica to the bucket; the
    API reads them: with no bucket each would use its own DATA_DIR."""
    names = object_store_variables()
    reference = next(s for s in DATAFLOW if s.name == "api").environment
    environment = service.environment
    for name in names:
        assert environment.get(name), f"{service.name} has no {name}"
        assert environment[name] == reference[name], f"{service.name}: another {name}"
    endpoint_host = environment["S3_ENDPOINT_URL"].split("://", 1)[1].split(":")[0]
    assert endpoint_host in SERVICES, "the object store is a service of the stack"
    # The bucket exists before they start: a one-shot that makes it, which they wait for.
    makers = [
        s for s in SERVICES.values() if s.environment.get("S3_BUCKET") == environment["S3_BUCKET"]
    ]
    assert any(maker.name in ONE_SHOTS and maker.name in service.waits_for() for maker in makers)


def test_no_http_healthcheck_on_a_service_without_that_port() -> None:
    for service in SERVICES.values():
        for port in _HTTP_PORT.findall(healthcheck_text(service)):
            assert int(port) in container_ports(service), (
                f"{service.name} checks HTTP on {port} but serves no such port"
            )


@pytest.mark.parametrize("service", LONG_RUNNING, ids=lambda service: service.name)
def test_long_running_services_restart_and_have_a_healthcheck(service: Service) -> None:
    assert service.spec.get("restart") == "unless-stopped"
    assert service.spec.get("healthcheck", {}).get("test"), f"{service.name}: no healthcheck"


@pytest.mark.parametrize("name", sorted(ONE_SHOTS))
def test_one_shots_do_not_restart_nor_claim_health(name: str) -> None:
    service = SERVICES[name]
    assert service.spec.get("restart") == "no"
    assert "healthcheck" not in service.spec


@pytest.mark.parametrize("service", DATAFLOW, ids=lambda service: service.name)
def test_dataflow_healthchecks_are_python_that_compiles(service: Service) -> None:
    test = service.spec.get("healthcheck", {}).get("test")
    if test is None:
        assert service.name in ONE_SHOTS
        return
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], f"{service.name} healthcheck", "exec")


def test_the_dockerfile_has_no_healthcheck() -> None:
    """Every container of the image would inherit it, and most serve no HTTP."""
    assert "HEALTHCHECK" not in [instruction for instruction, _ in dockerfile_instructions()]


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, arguments in dockerfile_instructions():
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, arguments))
    return stages


def test_the_image_installs_the_wheel_built_from_everything_it_ships() -> None:
    build_stage, *_, runtime = _stages()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {*wheel["packages"], *wheel.get("force-include", {}), project["project"]["readme"]}
    assert "migrations" in needed
    copied: set[str] = set()
    for instruction, arguments in build_stage:
        if instruction == "COPY":
            copied.update(arguments.split()[:-1])
        if instruction == "RUN" and "--no-editable" in arguments:
            for part in ("uv sync", "--frozen", "--no-dev"):
                assert part in arguments, f"the install is not {part}"
            break
    else:
        pytest.fail("the build stage never installs the project as a wheel (--no-editable)")
    assert needed <= copied, f"not copied before the install: {needed - copied}"

    copies = [arguments for instruction, arguments in runtime if instruction == "COPY"]
    assert copies == ["--from=build /app/.venv /app/.venv"], "the runtime holds only the venv"
    users = [arguments for instruction, arguments in runtime if instruction == "USER"]
    assert users, "the runtime runs as root"
    assert users[-1] not in {"root", "0"}
    cmd = [arguments for instruction, arguments in runtime if instruction == "CMD"][-1]
    assert dataflow_command(json.loads(cmd)) == ["serve"]


def test_the_checkout_finds_the_source_migrations() -> None:
    assert migrations_dir() == ROOT / "migrations"


def test_the_wheel_contains_the_migrations(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    assert uv, "uv builds the wheel, as the image does"
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("dataflow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("app/migrations/")}
    source = ROOT / "migrations"
    expected = {
        "app/migrations/" + path.relative_to(source).as_posix()
        for path in source.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "app/migrations/env.py" in expected
    assert shipped == expected


def test_the_readme_exports_every_variable_compose_requires() -> None:
    """`docker compose up` stops on a `${NAME:?…}` that is unset: the README sets them."""
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    readme = (ROOT / "README.md").read_text()
    production = readme.split("## Production", 1)[1].split("\n## ", 1)[0]
    exported = set(
        re.findall(r"(?:export |\s)(\w+)=", production.split("```sh", 1)[1].split("```")[0])
    )
    assert required
    assert required <= exported, (
        f"the README's Production section does not set {required - exported}"
    )
