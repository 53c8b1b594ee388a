"""The migrated template database each Nautobot release's test runs copy, and the environment
nautobot-server runs in.

The template's name is a hash of the release's installed versions and of nautobot_config.py, so a
new Nautobot, app or configuration migrates a template of its own (about 7 minutes on two cores).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from testbed.nautobot_machine import (
    EVENTS_URL,
    PG,
    REDIS_BROKER_DB,
    REDIS_CACHE_DB,
    REDIS_HOST,
    REDIS_PORT,
    TESTBED,
    StackError,
    database_exists,
    log_tail,
    run_sql,
)
from testbed.nautobot_releases import NautobotRelease, ReleaseError


def template_name(nautobot: NautobotRelease) -> str:
    """Name of the migrated template: a new Nautobot or app version means a new migration."""
    versions = nautobot.versions()
    config = (TESTBED / "nautobot_config.py").read_bytes()
    digest = hashlib.sha256(versions.encode() + config).hexdigest()[:10]
    return f"meraki_chatops_nautobot_tpl_{digest}"


def base_env(root: Path, database: str, nautobot: NautobotRelease) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NAUTOBOT_", "MERAKI_"))}
    env.update(
        NAUTOBOT_CONFIG=str(TESTBED / "nautobot_config.py"),
        NAUTOBOT_ROOT=str(root),
        NAUTOBOT_DB_NAME=database,
        NAUTOBOT_DB_USER=PG["user"],
        NAUTOBOT_DB_HOST=PG["host"],
        NAUTOBOT_DB_PORT=str(PG["port"]),
        NAUTOBOT_DB_TIMEOUT="0",
        NAUTOBOT_REDIS_HOST=REDIS_HOST,
        NAUTOBOT_REDIS_PORT=str(REDIS_PORT),
        NAUTOBOT_TEST_CACHE_URL=f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_CACHE_DB}",
        NAUTOBOT_CELERY_BROKER_URL=f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_BROKER_DB}",
        NAUTOBOT_TEST_EVENTS_URL=EVENTS_URL,
        NAUTOBOT_SECRET_KEY="meraki-chatops-tests-only-" + "x" * 40,
        NAUTOBOT_CELERY_WORKER_HEARTBEAT_FILE=str(root / "worker-heartbeat"),
        NAUTOBOT_CELERY_WORKER_READINESS_FILE=str(root / "worker-ready"),
        PATH=f"{nautobot.bin}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
    )
    return env


def ensure_template(root: Path, log: Path, nautobot: NautobotRelease) -> str:
    """Build the release's venv and migrate an empty database into its template once; later calls return at once."""
    try:
        nautobot.install(log)
    except ReleaseError as exc:
        raise StackError(f"{exc}:\n{log_tail(log)}") from None
    name = template_name(nautobot)
    if database_exists(name):
        return name
    building = f"{name}_building"
    run_sql(f'DROP DATABASE IF EXISTS "{building}"')
    run_sql(f'CREATE DATABASE "{building}"')
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("ab") as out:
        done = subprocess.run(
            [nautobot.server, "migrate", "--no-input"], env=base_env(root, building, nautobot), stdout=out, stderr=out
        )
    if done.returncode != 0:
        raise StackError(f"nautobot-server migrate failed:\n{log_tail(log)}")
    # A rename is atomic: a template under its final name is always completely migrated.
    run_sql(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    print(f"migrated Nautobot template {name} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return name
