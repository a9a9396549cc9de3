"""Pipeline files on their own: what they mean, the lines API error paths point to, and
the plan `apply` makes against the server's state (no server needed)."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import pytest

from app.cli.plan import make_plan
from app.pipeline_files import PipelineFile, PipelineFileError, find_files, load

if TYPE_CHECKING:
    from pathlib import Path

    from app.client.types import Pipeline, Source

FULL = """\
name: orders_clean
source:
  name: orders_csv
  kind: csv
  uri: demo/orders.csv
  options: {header: true}
steps:
  - filter: "status <> 'cancelled'"
  - derive:
      revenue: "quantity * unit_price"
destination:
  table: orders_clean
  mode: append
incremental: {cursor: order_ts, since: 2026-01-01}
max_attempts: 5
schedule: null
timezone: Europe/Berlin
"""


def write(tmp_path: Path, text: str, name: str = "pipeline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def loaded(tmp_path: Path, text: str = FULL) -> PipelineFile:
    return load(write(tmp_path, text))


def test_a_file_splits_into_source_spec_and_operations(tmp_path: Path) -> None:
    file = loaded(tmp_path)

    assert file.name == "orders_clean"
    assert (file.source.name, file.source.kind, file.source.uri) == (
        "orders_csv",
        "csv",
        "demo/orders.csv",
    )
    assert file.source.options == {"header": True}
    assert list(file.spec) == ["steps", "destination", "incremental"]
    assert file.spec["incremental"]["since"] == "2026-01-01"  # a date stays JSON text
    # Operations go to the API by its names; a null schedule is how a file removes one.
    assert file.operations == {"maxAttempts": 5, "schedule": "", "timezone": "Europe/Berlin"}


@pytest.mark.parametrize(
    ("api_path", "in_source", "line"),
    [
        (["steps", "1", "derive", "revenue"], False, 10),
        (["steps", "0", "filter"], False, 8),
        (["input", "spec", "destination", "mode"], False, 13),
        (["destination", "keys"], False, 11),  # not in the file: the nearest node that is
        (["maxAttempts"], False, 15),
        (["max_attempts"], False, 15),
        (["sourceId"], False, 2),
        (["pipelineId"], False, 1),
        ([], False, 1),
        (["uri"], True, 5),
        (["options", "header"], True, 6),
    ],
)
def test_an_api_error_path_points_at_its_line(
    tmp_path: Path, api_path: list[str], in_source: bool, line: int
) -> None:
    assert loaded(tmp_path).line_of_api_error(api_path, in_source=in_source) == line


@pytest.mark.parametrize(
    ("text", "line", "code", "words"),
    [
        ("name: a\nsource: s\nsteps:\n  - filter: 'a' b\n", 4, "YAML_INVALID", "expected"),
        ("", 1, "FILE_INVALID", "a mapping"),
        ("- name: a\n", 1, "FILE_INVALID", "a mapping"),
        ("name: a\n---\nname: b\n", 2, "YAML_INVALID", "single document"),
        ("source: s\nsteps: []\n", 1, "FILE_INVALID", "name: must be a non-empty string"),
        ("name: a\nsource: [s]\n", 2, "FILE_INVALID", "source: a source name"),
        ("name: a\nsource:\n  name: s\n  url: x\n", 4, "FILE_INVALID", "source.url: not one of"),
        ("name: a\nsource: {name: s, options: [1]}\n", 2, "FILE_INVALID", "must be a mapping"),
        ("name: a\nsource: s\nconcurrency: true\n", 3, "FILE_INVALID", "a whole number"),
        ("name: a\nsource: s\ntimezone: 3\n", 3, "FILE_INVALID", "must be a string"),
        ("name: a\nsource: s\nx: !!binary aGk=\n", 3, "FILE_INVALID", "not a JSON value"),
    ],
)
def test_a_broken_file_is_refused_at_its_line(
    tmp_path: Path, text: str, line: int, code: str, words: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)

    with pytest.raises(PipelineFileError) as caught:
        load(path)

    assert (caught.value.path, caught.value.line, caught.value.code) == (path, line, code)
    assert words in caught.value.message
    assert str(caught.value).startswith(f"{path}:{line}: {code}: ")


def test_a_folder_means_its_yaml_files_in_order(tmp_path: Path) -> None:
    for name in ["b.yml", "a.yaml", "notes.md"]:
        (tmp_path / name).write_text("name: x\n")
    single = tmp_path / "notes.md"

    assert find_files([tmp_path]) == [tmp_path / "a.yaml", tmp_path / "b.yml"]
    assert find_files([single]) == [single]


def remote_source(**changes: Any) -> Source:
    source: dict[str, Any] = {
        "id": "s1",
        "name": "orders_csv",
        "kind": "csv",
        "uri": "demo/orders.csv",
        "options": {"header": True},
        "createdAt": "2026-01-01T00:00:00+00:00",
    }
    return source | changes  # type: ignore[return-value]


def remote_pipeline(file: PipelineFile, **changes: Any) -> Pipeline:
    # The server may hand the spec back with its keys in another order.
    spec = dict(reversed(list(file.spec.items())))
    pipeline: dict[str, Any] = {
        "id": "p1",
        "name": file.name,
        "version": 3,
        "spec": spec,
        "maxAttempts": 5,
        "timeoutSeconds": 3600,
        "concurrency": 1,
        "schedule": None,
        "timezone": "Europe/Berlin",
        "createdAt": "2026-01-01T00:00:00+00:00",
        "updatedAt": "2026-01-01T00:00:00+00:00",
        "source": remote_source(),
        "lastRun": None,
    }
    return pipeline | changes  # type: ignore[return-value]


def test_a_file_the_server_already_has_plans_no_change(tmp_path: Path) -> None:
    file = loaded(tmp_path)

    plan = make_plan([file], [remote_source()], [remote_pipeline(file)])

    assert plan.errors == []
    assert plan.changes == 0
    assert [p.action for p in plan.pipelines] == ["unchanged"]


def test_changes_are_planned_with_what_they_do_to_the_version(tmp_path: Path) -> None:
    file = loaded(tmp_path)
    server_spec = {**file.spec, "destination": {"table": "orders_clean", "mode": "replace"}}
    pipeline = remote_pipeline(file, spec=server_spec, maxAttempts=3, schedule="0 * * * *")

    plan = make_plan([file], [remote_source(uri="old.csv")], [pipeline])

    (planned,) = plan.pipelines
    assert plan.sources["orders_csv"].fields == {"uri": "demo/orders.csv"}
    assert planned.action == "update"
    assert planned.new_version
    assert "-  mode: replace" in planned.spec_diff
    assert "+  mode: append" in planned.spec_diff
    assert planned.operations == {"maxAttempts": (3, 5), "schedule": ("0 * * * *", "")}


def test_a_source_kind_cannot_change(tmp_path: Path) -> None:
    plan = make_plan([loaded(tmp_path)], [remote_source(kind="json")], [])

    assert [(e.line, e.code) for e in plan.errors] == [(4, "SOURCE_KIND_FIXED")]
    assert plan.pipelines == []


def test_files_that_contradict_each_other_or_the_server_are_refused(tmp_path: Path) -> None:
    first = loaded(tmp_path)
    unknown = load(write(tmp_path, "name: b\nsource: nowhere\n", "b.yaml"))
    twice = load(write(tmp_path, "name: orders_clean\nsource: orders_csv\n", "c.yaml"))
    clash = load(
        write(tmp_path, "name: d\nsource: {name: orders_csv, kind: csv, uri: x}\n", "d.yaml")
    )

    plan = make_plan([first, unknown, twice, clash], [remote_source()], [])

    found = [(e.path.name, e.line, e.code) for e in plan.errors]
    assert found == [
        ("b.yaml", 2, "SOURCE_NOT_FOUND"),
        ("c.yaml", 1, "NAME_TAKEN"),
        ("d.yaml", 2, "SOURCE_CONFLICT"),
    ]
    assert [p.name for p in plan.pipelines] == ["orders_clean"]


def test_a_masked_credential_is_not_a_change_but_a_new_option_is(tmp_path: Path) -> None:
    text = FULL.replace("options: {header: true}", "options: {headers: {Authorization: Bearer x}}")
    file = loaded(tmp_path, text)
    masked = remote_source(options={"headers": {"Authorization": "***"}})
    plus = load(write(tmp_path, text.replace("Bearer x}", "Bearer x, Accept: json}"), "b.yaml"))

    assert make_plan([file], [masked], [remote_pipeline(file)]).sources["orders_csv"].action == (
        "unchanged"
    )
    assert make_plan([plus], [masked], []).sources["orders_csv"].action == "update"


def test_a_file_may_name_a_source_that_a_later_file_defines(tmp_path: Path) -> None:
    early = load(write(tmp_path, "name: a_first\nsource: orders_csv\n", "a.yaml"))
    later = load(write(tmp_path, FULL, "z.yaml"))

    plan = make_plan([early, later], [], [])

    assert plan.errors == []
    assert plan.sources["orders_csv"].action == "create"
    assert [(p.name, p.action) for p in plan.pipelines] == [
        ("a_first", "create"),
        ("orders_clean", "create"),
    ]
