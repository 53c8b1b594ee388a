# syntax=docker/dockerfile:1
# The meraki-chatops Slack bot: a wheel built in one stage, installed with its runtime
# dependencies alone into a slim Python image that runs as an unprivileged user.
#
#   docker build --build-arg SOURCE_URL=https://… -t meraki-chatops .
#   docker run --env-file .env -v meraki-chatops-data:/data meraki-chatops
#
# tests/unit/test_dockerfile.py lints this file and replays its two install RUN lines.

FROM python:3.11-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .


FROM python:3.11-slim-bookworm AS runtime

ARG VERSION=0.1.0
ARG SOURCE_URL=""
LABEL org.opencontainers.image.title="meraki-chatops" \
      org.opencontainers.image.description="Add Cisco Meraki dashboard administrators from Slack, through a logged Nautobot Job." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STORE_URL=sqlite+aiosqlite:////data/meraki-chatops.sqlite3 \
    PROBE_HOST=0.0.0.0 \
    PROBE_PORT=8081

RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir /wheels/meraki_chatops-*.whl

RUN groupadd --system --gid 10001 chatops \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin chatops \
    && install -d -o 10001 -g 10001 -m 0750 /data

WORKDIR /data
VOLUME ["/data"]
USER 10001:10001

# 8080: Slack's requests (HTTP mode); 8081: /healthz, /readyz, /metrics, on every interface so that
# orchestrators can probe them (the bot alone keeps them on loopback).
EXPOSE 8080 8081
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/healthz', timeout=4)"]

ENTRYPOINT ["meraki-chatops"]
CMD ["serve"]
