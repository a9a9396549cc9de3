"""The GraphQL documents the client sends; each selects exactly what `types` declares."""

from __future__ import annotations

SOURCE = "id name kind uri options createdAt"
RUN_REF = "id status createdAt finishedAt"
PIPELINE = f"""id name version spec maxAttempts timeoutSeconds concurrency schedule timezone
  createdAt updatedAt source {{ {SOURCE} }} lastRun {{ {RUN_REF} }}"""
RUN = """id status attempt stage rowsRead rowsWritten rowsRejected rowsFiltered params
  pipelineVersion createdAt scheduledFor startedAt finishedAt error { code message }
  pipeline { id name }"""
EVENT = "id runId at kind stage payload"
USER = "id email role isActive createdAt analyticsScope"
API_KEY = "id name prefix role createdAt lastUsedAt revokedAt analyticsScope"
BACKFILL = """id pipelineId partitions createdAt cancelledAt
  progress { total queued running succeeded failed cancelling cancelled done }"""
PREVIEW = "columns { name type } rows rowsSampled"
ERRORS = "errors { code message path }"
PAGE = "pageInfo { hasNextPage endCursor }"

LOGIN = f"""mutation($email: String!, $password: String!) {{
  login(email: $email, password: $password) {{ token user {{ {USER} }} {ERRORS} }}
}}"""
ME = f"query {{ me {{ {USER} }} }}"
USERS = f"""query($after: String) {{
  users(first: 200, after: $after) {{ nodes {{ {USER} }} {PAGE} }}
}}"""
CREATE_USER = f"""mutation($input: CreateUserInput!) {{
  createUser(input: $input) {{ user {{ {USER} }} {ERRORS} }}
}}"""
SET_USER_ACTIVE = f"""mutation($userId: ID!, $active: Boolean!) {{
  setUserActive(userId: $userId, active: $active) {{ user {{ {USER} }} {ERRORS} }}
}}"""
SET_USER_ANALYTICS_SCOPE = f"""mutation($userId: ID!, $scope: JSON) {{
  setUserAnalyticsScope(userId: $userId, scope: $scope) {{ user {{ {USER} }} {ERRORS} }}
}}"""
API_KEYS = f"query($userId: ID!) {{ apiKeys(userId: $userId) {{ {API_KEY} }} }}"
CREATE_API_KEY = f"""mutation($input: CreateApiKeyInput!) {{
  createApiKey(input: $input) {{ apiKey {{ {API_KEY} }} secret {ERRORS} }}
}}"""
REVOKE_API_KEY = f"""mutation($id: ID!) {{
  revokeApiKey(id: $id) {{ apiKey {{ {API_KEY} }} {ERRORS} }}
}}"""
SET_API_KEY_ANALYTICS_SCOPE = f"""mutation($id: ID!, $scope: JSON) {{
  setApiKeyAnalyticsScope(id: $id, scope: $scope) {{ apiKey {{ {API_KEY} }} {ERRORS} }}
}}"""

SOURCES = f"""query($after: String) {{
  sources(first: 200, after: $after) {{ nodes {{ {SOURCE} }} {PAGE} }}
}}"""
CREATE_SOURCE = f"""mutation($input: CreateSourceInput!) {{
  createSource(input: $input) {{ source {{ {SOURCE} }} {ERRORS} }}
}}"""
UPDATE_SOURCE = f"""mutation($input: UpdateSourceInput!) {{
  updateSource(input: $input) {{ source {{ {SOURCE} }} {ERRORS} }}
}}"""
PREVIEW_SOURCE = f"""mutation($id: ID!, $limit: Int!) {{
  previewSource(id: $id, limit: $limit) {{ preview {{ {PREVIEW} }} {ERRORS} }}
}}"""

PIPELINES = f"""query($after: String) {{
  pipelines(first: 200, after: $after) {{ nodes {{ {PIPELINE} }} {PAGE} }}
}}"""
PIPELINE_VERSIONS = """query($id: ID!) {
  pipeline(id: $id) { versions { version sourceId createdAt } }
}"""
CREATE_PIPELINE = f"""mutation($input: CreatePipelineInput!) {{
  createPipeline(input: $input) {{ pipeline {{ {PIPELINE} }} {ERRORS} }}
}}"""
UPDATE_PIPELINE = f"""mutation($input: UpdatePipelineInput!) {{
  updatePipeline(input: $input) {{ pipeline {{ {PIPELINE} }} {ERRORS} }}
}}"""
VALIDATE_PIPELINE = f"""query($input: ValidatePipelineInput!) {{
  validatePipeline(input: $input) {{ valid {ERRORS} }}
}}"""

RUN_BY_ID = f"query($id: ID!) {{ run(id: $id) {{ {RUN} }} }}"
RUNS = f"""query($first: Int, $after: String, $filter: RunFilter) {{
  runs(first: $first, after: $after, filter: $filter) {{ nodes {{ {RUN} }} {PAGE} }}
}}"""
RUN_EVENTS_PAGE = f"""query($id: ID!, $after: String) {{
  run(id: $id) {{ events(after: $after, first: 1000) {{ {EVENT} }} }}
}}"""
TRIGGER_RUN = f"""mutation($pipelineId: ID!, $key: String, $params: JSON) {{
  triggerRun(pipelineId: $pipelineId, idempotencyKey: $key, params: $params) {{
    run {{ {RUN} }} {ERRORS}
  }}
}}"""
CANCEL_RUN = f"""mutation($id: ID!) {{
  cancelRun(runId: $id) {{ run {{ {RUN} }} {ERRORS} }}
}}"""
RETRY_RUN = f"""mutation($id: ID!) {{
  retryRun(runId: $id) {{ run {{ {RUN} }} {ERRORS} }}
}}"""
RUN_EVENTS = f"""subscription($runId: ID!, $after: String) {{
  runEvents(runId: $runId, after: $after) {{ {EVENT} }}
}}"""

CREATE_BACKFILL = f"""mutation($input: BackfillInput!) {{
  backfill(input: $input) {{ backfill {{ {BACKFILL} }} {ERRORS} }}
}}"""
BACKFILL_BY_ID = f"query($id: ID!) {{ backfill(id: $id) {{ {BACKFILL} }} }}"

REPORT = """query($since: DateTime) {
  report(since: $since) {
    pipelineId pipelineName runs succeeded failed cancelled active successRate
    p50DurationSeconds p95DurationSeconds rowsLoaded rowsRejected
  }
}"""
