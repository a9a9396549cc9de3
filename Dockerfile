# syntax=docker/dockerfile:1.7
# Build: resolve the locked dependencies with uv into /app/.venv.
FROM python:3.11-slim-bookworm AS build
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# Dependencies first, so a code change does not re-download them. Then the project, built
# as a wheel and installed (--no-editable) with what the wheel build reads (pyproject.toml's
# [tool.hatch.build] section: the packages, the migrations, the readme).
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY app ./app
COPY actors ./actors
COPY graph ./graph
COPY migrations ./migrations
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# Runtime: only the virtualenv, where the project is installed as a wheel (migrations
# included): what scripts/check_installed_wheel.py installs and checks in CI. No source
# tree, no build tools; the code is root's and read-only to the non-root user.
FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system dataflow && useradd --system --gid dataflow --home-dir /app dataflow
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 DATA_DIR=/app/data ENV=prod
RUN mkdir -p /app/data && chown dataflow:dataflow /app/data
USER dataflow
EXPOSE 8000
# No HEALTHCHECK: every container of this image would inherit it, and the worker, the
# scheduler and the one-shot migration serve no HTTP. docker-compose.yml gives each
# service the check that fits what it runs.
CMD ["dataflow", "serve", "--host", "0.0.0.0", "--port", "8000"]
