"""The DataFlow API as typed Python calls: one method per operation the CLI needs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, cast

from app.client import documents as doc
from app.client.errors import ApiError, from_user_error
from app.client.transport import SubscriptionDropped, Transport

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from app.client.credentials import Credentials
    from app.client.types import (
        ApiKey,
        Backfill,
        Pipeline,
        PipelineReport,
        PipelineVersion,
        Preview,
        Run,
        RunEvent,
        Source,
        User,
    )

FULL_ID_LENGTH = 36  # a uuid as text
AMBIGUOUS_SHOWN = 10  # the runs an ambiguous id prefix lists
# A dropped subscription is resumed from the last event seen, this many times in a row.
RECONNECTS = 5


class DataFlowClient:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @classmethod
    def connect(cls, credentials: Credentials) -> DataFlowClient:
        """A client with the credentials' token, or logged in with its e-mail/password."""
        client = cls(Transport(credentials.url, credentials.token))
        if credentials.token is None and credentials.email and credentials.password:
            client.transport.token = client.login(credentials.email, credentials.password)
        return client

    @property
    def url(self) -> str:
        return self.transport.url

    # --- plumbing -------------------------------------------------------------------

    def _query(self, document: str, field: str, variables: Mapping[str, Any] | None = None) -> Any:
        return self.transport.execute(document, variables)[field]

    def _mutate(self, document: str, field: str, result: str, variables: Mapping[str, Any]) -> Any:
        """The payload's `result` object; its first UserError raised as an ApiError."""
        payload = self._query(document, field, variables)
        if payload["errors"]:
            raise from_user_error(payload["errors"][0])
        return payload[result]

    def _all(self, document: str, field: str) -> list[Any]:
        """Every node of a connection, page after page."""
        nodes: list[Any] = []
        after: str | None = None
        while True:
            page = self._query(document, field, {"after": after})
            nodes.extend(page["nodes"])
            if not page["pageInfo"]["hasNextPage"]:
                return nodes
            after = page["pageInfo"]["endCursor"]

    # --- access ---------------------------------------------------------------------

    def login(self, email: str, password: str) -> str:
        token: str = self._mutate(
            doc.LOGIN, "login", "token", {"email": email, "password": password}
        )
        return token

    def me(self) -> User:
        return cast("User", self._query(doc.ME, "me"))

    def users(self) -> list[User]:
        return cast("list[User]", self._all(doc.USERS, "users"))

    def user_by_email(self, email: str) -> User:
        for user in self.users():
            if user["email"] == email.lower():
                return user
        raise ApiError("NOT_FOUND", f"no user has the e-mail {email}")

    def create_user(self, email: str, password: str, role: str) -> User:
        data = {"input": {"email": email, "password": password, "role": role.upper()}}
        return cast("User", self._mutate(doc.CREATE_USER, "createUser", "user", data))

    def set_user_active(self, user_id: str, *, active: bool) -> User:
        data = {"userId": user_id, "active": active}
        return cast("User", self._mutate(doc.SET_USER_ACTIVE, "setUserActive", "user", data))

    def set_user_analytics_scope(self, user_id: str, scope: Mapping[str, Any] | None) -> User:
        data = {"userId": user_id, "scope": _scope(scope)}
        name = "setUserAnalyticsScope"
        return cast("User", self._mutate(doc.SET_USER_ANALYTICS_SCOPE, name, "user", data))

    def api_keys(self, user_id: str) -> list[ApiKey]:
        return cast("list[ApiKey]", self._query(doc.API_KEYS, "apiKeys", {"userId": user_id}))

    def create_api_key(
        self,
        name: str,
        user_id: str | None,
        role: str | None,
        scope: Mapping[str, Any] | None = None,
    ) -> tuple[ApiKey, str]:
        fields = {"name": name, "userId": user_id, "role": role.upper() if role else None}
        data = {"input": {**fields, "analyticsScope": _scope(scope)}}
        payload = self._query(doc.CREATE_API_KEY, "createApiKey", data)
        if payload["errors"]:
            raise from_user_error(payload["errors"][0])
        return cast("ApiKey", payload["apiKey"]), str(payload["secret"])

    def revoke_api_key(self, key_id: str) -> ApiKey:
        data = {"id": key_id}
        return cast("ApiKey", self._mutate(doc.REVOKE_API_KEY, "revokeApiKey", "apiKey", data))

    def set_api_key_analytics_scope(self, key_id: str, scope: Mapping[str, Any] | None) -> ApiKey:
        data = {"id": key_id, "scope": _scope(scope)}
        name = "setApiKeyAnalyticsScope"
        return cast("ApiKey", self._mutate(doc.SET_API_KEY_ANALYTICS_SCOPE, name, "apiKey", data))

    # --- sources --------------------------------------------------------------------

    def sources(self) -> list[Source]:
        return cast("list[Source]", self._all(doc.SOURCES, "sources"))

    def find_source(self, name: str) -> Source | None:
        return next((s for s in self.sources() if s["name"] == name), None)

    def source_by_name(self, name: str) -> Source:
        found = self.find_source(name)
        if found is None:
            raise ApiError("SOURCE_NOT_FOUND", f"no source is named {name!r}")
        return found

    def create_source(self, fields: Mapping[str, Any]) -> Source:
        data = {"input": dict(fields)}
        return cast("Source", self._mutate(doc.CREATE_SOURCE, "createSource", "source", data))

    def update_source(self, source_id: str, changes: Mapping[str, Any]) -> Source:
        data = {"input": {"id": source_id, **changes}}
        return cast("Source", self._mutate(doc.UPDATE_SOURCE, "updateSource", "source", data))

    def preview_source(self, source_id: str, limit: int) -> Preview:
        data = {"id": source_id, "limit": limit}
        return cast("Preview", self._mutate(doc.PREVIEW_SOURCE, "previewSource", "preview", data))

    # --- pipelines ------------------------------------------------------------------

    def pipelines(self) -> list[Pipeline]:
        return cast("list[Pipeline]", self._all(doc.PIPELINES, "pipelines"))

    def find_pipeline(self, name: str) -> Pipeline | None:
        return next((p for p in self.pipelines() if p["name"] == name), None)

    def pipeline_by_name(self, name: str) -> Pipeline:
        found = self.find_pipeline(name)
        if found is None:
            raise ApiError("PIPELINE_NOT_FOUND", f"no pipeline is named {name!r}")
        return found

    def pipeline_versions(self, pipeline_id: str) -> list[PipelineVersion]:
        found = self._query(doc.PIPELINE_VERSIONS, "pipeline", {"id": pipeline_id})
        return cast("list[PipelineVersion]", found["versions"] if found else [])

    def create_pipeline(self, fields: Mapping[str, Any]) -> Pipeline:
        data = {"input": dict(fields)}
        return cast(
            "Pipeline", self._mutate(doc.CREATE_PIPELINE, "createPipeline", "pipeline", data)
        )

    def update_pipeline(self, pipeline_id: str, changes: Mapping[str, Any]) -> Pipeline:
        data = {"input": {"id": pipeline_id, **changes}}
        return cast(
            "Pipeline", self._mutate(doc.UPDATE_PIPELINE, "updatePipeline", "pipeline", data)
        )

    def validate_pipeline(self, fields: Mapping[str, Any]) -> None:
        """Raise the first problem createPipeline or updatePipeline would find, as an
        ApiError; nothing is changed on the server."""
        data = {"input": dict(fields)}
        payload = self._query(doc.VALIDATE_PIPELINE, "validatePipeline", data)
        if payload["errors"]:
            raise from_user_error(payload["errors"][0])

    # --- runs -----------------------------------------------------------------------

    def trigger_run(
        self, pipeline_id: str, key: str | None = None, params: Mapping[str, Any] | None = None
    ) -> Run:
        data = {"pipelineId": pipeline_id, "key": key, "params": dict(params) if params else None}
        return cast("Run", self._mutate(doc.TRIGGER_RUN, "triggerRun", "run", data))

    def run(self, run_id: str) -> Run:
        found = self._query(doc.RUN_BY_ID, "run", {"id": run_id})
        if found is None:
            raise ApiError("RUN_NOT_FOUND", f"run {run_id} does not exist")
        return cast("Run", found)

    def run_id(self, text: str) -> str:
        """The full id of the one run whose id starts with `text` (a whole id is taken as
        it is); none is RUN_NOT_FOUND, several RUN_ID_AMBIGUOUS, listing them."""
        if len(text) >= FULL_ID_LENGTH:
            return text
        matches = self.runs(AMBIGUOUS_SHOWN + 1, {"idPrefix": text})
        if len(matches) == 1:
            return matches[0]["id"]
        if not matches:
            raise ApiError("RUN_NOT_FOUND", f"no run id starts with {text!r}")
        shown = matches[:AMBIGUOUS_SHOWN]
        listed = "; ".join(
            f"{run['id']} ({run['pipeline']['name'] if run['pipeline'] else '?'}, "
            f"{run['status'].lower()}, {run['createdAt']})"
            for run in shown
        )
        more = " and more" if len(matches) > len(shown) else ""
        raise ApiError(
            "RUN_ID_AMBIGUOUS",
            f"{text!r} is the start of {len(shown)}{more} run ids: {listed}; give more of it",
        )

    def runs(self, first: int, where: Mapping[str, Any] | None = None) -> list[Run]:
        """The newest `first` runs matching the filter (at most one page of 200)."""
        page = self._query(doc.RUNS, "runs", {"first": first, "filter": where})
        return cast("list[Run]", page["nodes"])

    def cancel_run(self, run_id: str) -> Run:
        return cast("Run", self._mutate(doc.CANCEL_RUN, "cancelRun", "run", {"id": run_id}))

    def retry_run(self, run_id: str) -> Run:
        return cast("Run", self._mutate(doc.RETRY_RUN, "retryRun", "run", {"id": run_id}))

    def run_events(self, run_id: str) -> list[RunEvent]:
        """Every stored event of the run, oldest first."""
        events: list[RunEvent] = []
        after: str | None = None
        while True:
            found = self._query(doc.RUN_EVENTS_PAGE, "run", {"id": run_id, "after": after})
            if found is None:
                raise ApiError("RUN_NOT_FOUND", f"run {run_id} does not exist")
            page = cast("list[RunEvent]", found["events"])
            if not page:
                return events
            events.extend(page)
            after = page[-1]["id"]

    def follow_run(self, run_id: str, after: str | None = None) -> Iterator[RunEvent]:
        """The run's events after `after`, live, until its final `run_finished`; a
        dropped connection resumes from the last event seen, so none is missed."""
        cursor, failures = after, 0
        while True:
            try:
                variables = {"runId": run_id, "after": cursor}
                for data in self.transport.subscribe(doc.RUN_EVENTS, variables):
                    event = cast("RunEvent", data["runEvents"])
                    cursor, failures = event["id"], 0
                    yield event
                return
            except SubscriptionDropped:
                failures += 1
                if failures > RECONNECTS:
                    raise
                time.sleep(0.5 * failures)

    # --- operations -----------------------------------------------------------------

    def backfill(
        self, pipeline_id: str, start: str, end: str, step: str, *, allow_unsafe_mode: bool = False
    ) -> Backfill:
        data = {
            "input": {
                "pipelineId": pipeline_id,
                "from": start,
                "to": end,
                "step": step,
                "allowUnsafeMode": allow_unsafe_mode,
            }
        }
        return cast("Backfill", self._mutate(doc.CREATE_BACKFILL, "backfill", "backfill", data))

    def backfill_status(self, backfill_id: str) -> Backfill:
        found = self._query(doc.BACKFILL_BY_ID, "backfill", {"id": backfill_id})
        if found is None:
            raise ApiError("NOT_FOUND", f"backfill {backfill_id} does not exist")
        return cast("Backfill", found)

    def report(self, since: str | None) -> list[PipelineReport]:
        """Per pipeline: counts, durations and row sums."""
        return cast("list[PipelineReport]", self._query(doc.REPORT, "report", {"since": since}))


def _scope(scope: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A scope as the API takes it: a JSON object, or null to clear it."""
    return dict(scope) if scope is not None else None
