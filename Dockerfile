# syntax=docker/dockerfile:1
# Aegra server image: `docker build -t aegra .` then `docker run -p 127.0.0.1:2026:2026 -e DATABASE_URL=... aegra`.
# Inside the container the server binds 0.0.0.0 (HOST) and is allowed to do so without `auth`
# (AEGRA_ALLOW_UNAUTHENTICATED=true): a container is reached only through the ports published for it, so publish
# them on 127.0.0.1, or configure `auth` before publishing them anywhere else.
# Two stages: `build` resolves the locked dependencies with uv into /app/.venv; `runtime` copies only that
# virtualenv plus the config and graphs, and runs as an unprivileged user.

ARG PYTHON_VERSION=3.12
ARG UV_VERSION=0.9

FROM ghcr.io/astral-sh/uv:${UV_VERSION} AS uv

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
COPY --from=uv /uv /uvx /usr/local/bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock file changes.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --no-install-project
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
COPY migrations ./migrations
# The project itself, installed as a regular (non-editable) package: migrations ship inside it.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 aegra \
    && useradd --system --uid 10001 --gid aegra --home-dir /app --shell /usr/sbin/nologin aegra
WORKDIR /app
COPY --from=build --chown=aegra:aegra /app/.venv /app/.venv
# The served project: the example graphs by default. Replace these two lines (or mount a folder and set
# AEGRA_CONFIG) to serve your own graphs.
COPY --chown=aegra:aegra aegra.json ./
COPY --chown=aegra:aegra examples ./examples
# Without DATABASE_URL the server runs an embedded PostgreSQL under /app/.aegra (handy for a quick try;
# use a real PostgreSQL, as compose.yaml does, for anything you keep).
RUN mkdir -p /app/.aegra && chown aegra:aegra /app/.aegra
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    AEGRA_ALLOW_UNAUTHENTICATED=true \
    PORT=2026 \
    LOG_FORMAT=json
USER aegra
EXPOSE 2026
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ok' % os.environ.get('PORT', '2026'), timeout=4)"]
# `aegra serve` stops gracefully on SIGTERM (docker stop): it drains requests, then exits 0.
ENTRYPOINT ["aegra"]
CMD ["serve"]
