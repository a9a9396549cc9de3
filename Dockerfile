# syntax=docker/dockerfile:1.7
# Build: resolve the locked dependencies with uv into /app/.venv.
FROM python:3.11-slim-bookworm AS build
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# Dependencies first, so a code change does not re-download them.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY app ./app
COPY actors ./actors
COPY graph ./graph
COPY migrations ./migrations
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# Runtime: the virtualenv and the code, no build tools, a non-root user.
FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system dataflow && useradd --system --gid dataflow --home /app dataflow
WORKDIR /app
COPY --from=build --chown=dataflow:dataflow /app /app
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 DATA_DIR=/app/data ENV=prod
RUN mkdir -p /app/data && chown dataflow:dataflow /app/data
USER dataflow
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
CMD ["dataflow", "serve", "--host", "0.0.0.0", "--port", "8000"]
