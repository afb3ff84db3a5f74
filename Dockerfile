# Callboard: multi-stage build; the runtime image runs as a non-root user.
#   docker build -t callboard .
#   docker run --rm -it -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET -p 3000:3000 callboard
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
RUN /opt/callboard/bin/pip install --no-deps --no-build-isolation .

FROM python:3.11-slim AS runtime
# git: the git catalog source and docs freshness dates read repositories.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system callboard \
 && useradd --system --gid callboard --home-dir /app --shell /usr/sbin/nologin callboard
COPY --from=build /opt/callboard /opt/callboard
WORKDIR /app
COPY config ./config
COPY templates ./templates
RUN mkdir -p /app/var && chown -R callboard:callboard /app/var
ENV PATH=/opt/callboard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CALLBOARD_CONFIG=/app/config/callboard.yaml
USER callboard
VOLUME ["/app/var"]
EXPOSE 3000
# In Slack HTTP mode, /healthz on the configured port answers 200 (use it as the probe).
ENTRYPOINT ["callboard"]
CMD ["run"]
