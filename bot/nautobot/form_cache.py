"""The Job's form, kept fresh in the background so opening the modal never waits on Nautobot."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from bot.models import JobForm
from bot.nautobot.client import NautobotClient

log = logging.getLogger("bot.nautobot.form_cache")


class FormCache:
    """The last form read from Nautobot; Slack's trigger_id dies in 3 s, so the command never fetches."""

    def __init__(
        self,
        nautobot: NautobotClient,
        job_name: str,
        *,
        max_age: float = 60.0,
        listeners: Iterable[Callable[[JobForm], None]] = (),
    ):
        self.nautobot = nautobot
        self.job_name = job_name
        self.max_age = max_age
        self.form: JobForm | None = None
        self.fetched_at = 0.0
        self._refreshing: asyncio.Task | None = None
        self._listeners: list[Callable[[JobForm], None]] = list(listeners)

    def listen(self, listener: Callable[[JobForm], None]) -> None:
        """Call ``listener`` with every form read from now on, before :meth:`refresh` returns it."""
        self._listeners.append(listener)

    def current(self) -> JobForm | None:
        return self.form

    async def get(self) -> JobForm:
        """The cached form, else one read now (raising the client's errors)."""
        return self.form or await self.refresh()

    @property
    def stale(self) -> bool:
        return time.monotonic() - self.fetched_at > self.max_age

    async def refresh(self) -> JobForm:
        """Read the form now; raises the client's errors so the caller can tell the person."""
        form = await self.nautobot.job_form(self.job_name)
        self.form, self.fetched_at = form, time.monotonic()
        for listener in self._listeners:
            listener(form)
        return form

    def refresh_soon(self) -> None:
        """Refresh in the background when stale; one refresh at a time."""
        if not self.stale or (self._refreshing and not self._refreshing.done()):
            return
        self._refreshing = asyncio.create_task(self._refresh_quietly())

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:
            log.warning("could not refresh the form of job=%r: %s", self.job_name, exc)

    async def keep_fresh(self) -> None:
        """Run for the life of the bot: refresh every ``max_age`` seconds."""
        while True:
            await self._refresh_quietly()
            await asyncio.sleep(self.max_age)


class FormCaches:
    """One :class:`FormCache` per Job, made when first asked for: each command's, and a resumed request's Job's."""

    def __init__(self, nautobot: NautobotClient, *, max_age: float = 60.0):
        self.nautobot = nautobot
        self.max_age = max_age
        self._caches: dict[str, FormCache] = {}

    def of(self, job_name: str) -> FormCache:
        cache = self._caches.get(job_name)
        if cache is None:
            cache = self._caches[job_name] = FormCache(self.nautobot, job_name, max_age=self.max_age)
        return cache

    def add(self, cache: FormCache) -> FormCache:
        """Use ``cache`` for its Job (one made elsewhere, e.g. with listeners already on it)."""
        return self._caches.setdefault(cache.job_name, cache)
