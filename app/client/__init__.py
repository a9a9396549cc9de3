"""A small typed client of the DataFlow GraphQL API: HTTP queries, WebSocket subscriptions."""

from __future__ import annotations

from app.client.api import DataFlowClient
from app.client.credentials import Credentials, resolve_credentials
from app.client.errors import ApiError, AuthError, ClientError, ConnectionFailed

__all__ = [
    "ApiError",
    "AuthError",
    "ClientError",
    "ConnectionFailed",
    "Credentials",
    "DataFlowClient",
    "resolve_credentials",
]
