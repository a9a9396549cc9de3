"""The bounds of a query's row limit.

Analytics is tuned through the application's one `Settings` (`app.config`): the
`ANALYTICS_*` variables and the AWS credentials of the S3 replica.
"""

from __future__ import annotations

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 50_000
