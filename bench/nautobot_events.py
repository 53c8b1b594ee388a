"""Nautobot's Job events as its ``RedisEventBroker`` publishes them, for the benchmark's Nautobot stand-in.

Nautobot (2.4 and later) publishes each event on the Redis pub/sub channel named after its topic, the
payload a JSON string. The worker publishes ``started`` when it begins the Job and ``completed`` when
the Job returns; the payloads below are the ones ``nautobot.extras.jobs`` builds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

STARTED = "nautobot.jobs.job.started"
COMPLETED = "nautobot.jobs.job.completed"
DEFAULT_URL = "redis://127.0.0.1:6379/0"
"""Pub/sub channels are server-wide: the database number only completes the URL."""


def started_payload(result_id: str, job_name: str, user_name: str, job_kwargs: dict[str, Any]) -> dict[str, Any]:
    """What the worker sends when the Job starts; ``job_kwargs`` is left out for Jobs with sensitive variables."""
    return {"job_result_id": result_id, "job_name": job_name, "user_name": user_name, "job_kwargs": job_kwargs}


def completed_payload(started: dict[str, Any], output: Any, einfo: dict[str, str] | None = None) -> dict[str, Any]:
    """The started payload plus the Job's return value and, for a Job that raised, ``{exc_type, exc_message}``."""
    return {**started, "job_output": output, "einfo": einfo}


def reachable(url: str) -> str | None:
    """None when Redis at ``url`` answers a PING, else why not."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"{url}: {exc}"
    finally:
        client.close()
    return None


class Publisher:
    """Publishes events from one event loop over one connection, in the order they were due.

    Events are queued and sent in pipelines, so hundreds of runs ending together cost a few round
    trips instead of a connection each.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.published = 0
        self.failed = 0
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import redis.asyncio

        self._client = redis.asyncio.Redis.from_url(self.url)
        await self._client.ping()
        self._task = asyncio.create_task(self._send(), name="nautobot-events")

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Queue one event; call from the publisher's event loop."""
        self._queue.put_nowait((topic, json.dumps(payload)))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _send(self) -> None:
        import redis

        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            pipe = self._client.pipeline(transaction=False)
            for topic, message in batch:
                pipe.publish(topic, message)
            try:
                await pipe.execute()
            except redis.RedisError:
                # A lost event is what a subscriber's safety-net polling is for; it is counted, not fatal.
                self.failed += len(batch)
            else:
                self.published += len(batch)
