# Callboard: multi-stage build; the runtime image runs as a non-root user (uid 10001).
#   docker build -t callboard .
#   docker run --rm -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET -p 3000:3000 callboard
# Deploying (compose, Kubernetes, upgrades): README.md, "Deploying", and deploy/.
# tests/unit/test_deploy.py checks this file's rules: the lock with hashes, the project without
# its dependencies, no build tools in the runtime stage, a non-root USER, a HEALTHCHECK.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies first, from the lock (exact versions, hashes checked): a layer that changes only
# with requirements.txt. Then the project itself, with nothing more resolved.
COPY requirements.txt ./
RUN python -m venv /opt/callboard \
 && /opt/callboard/bin/pip install --require-hashes -r requirements.txt
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY commands ./commands
RUN /opt/callboard/bin/pip install --no-deps --no-build-isolation . \
 && /opt/callboard/bin/python -m compileall -q /opt/callboard/lib

FROM python:3.11-slim AS runtime
# git: the git catalog source and docs freshness dates read repositories (a runtime need, not a
# build tool). Nothing is compiled here: the virtualenv comes whole from the build stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 callboard \
 && useradd --system --uid 10001 --gid callboard --home-dir /app/var \
      --shell /usr/sbin/nologin callboard
COPY --from=build /opt/callboard /opt/callboard
WORKDIR /app
COPY config ./config
COPY templates ./templates
RUN mkdir -p /app/var && chown -R callboard:callboard /app/var
# A read-only root filesystem needs only /app/var (data_dir: SQLite, git clones) and /tmp
# writable; bytecode is compiled in the build stage, never written at run time.
ENV PATH=/opt/callboard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/app/var \
    CALLBOARD_CONFIG=/app/config/callboard.yaml \
    CALLBOARD_HEALTH_URL=http://127.0.0.1:3000/healthz
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 10001:10001
VOLUME ["/app/var"]
EXPOSE 3000
# Slack HTTP mode answers /healthz on slack.port; a Discord-only or scheduler-only container
# sets metrics.port (which serves /healthz, /readyz and /metrics) and points
# CALLBOARD_HEALTH_URL at http://127.0.0.1:<metrics.port>/healthz instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['CALLBOARD_HEALTH_URL'], timeout=4)"]
ENTRYPOINT ["callboard"]
CMD ["run"]
