"""The GraphQL documents the end-to-end tests send, as a client would write them."""

from __future__ import annotations

LOGIN = """
mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { token user { email role } errors { code message } }
}"""

CREATE_SOURCE = """
mutation($input: CreateSourceInput!) {
  createSource(input: $input) { source { id name kind uri } errors { code message path } }
}"""

CREATE_PIPELINE = """
mutation($input: CreatePipelineInput!) {
  createPipeline(input: $input) {
    pipeline { id name version source { id name } }
    errors { code message path }
  }
}"""

TRIGGER_RUN = """
mutation($pipelineId: ID!, $key: String) {
  triggerRun(pipelineId: $pipelineId, idempotencyKey: $key) {
    run { id status attempt }
    errors { code message path }
  }
}"""

RUN = """
query($id: ID!) {
  run(id: $id) {
    id status attempt stage rowsRead rowsWritten rowsRejected rowsFiltered
    startedAt finishedAt error { code message } pipeline { name source { name } }
  }
}"""

RUNS = """
query($first: Int, $after: String) {
  runs(first: $first, after: $after) {
    edges { cursor node { id status } }
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
}"""

RUN_EVENTS = """
subscription($runId: ID!, $after: String) {
  runEvents(runId: $runId, after: $after) { id runId type kind stage payload at }
}"""
