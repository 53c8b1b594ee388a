"""Objects of any Nautobot model, found by what a person types: the options of an ObjectVar's select.

The variables API names an ObjectVar's model (``dcim.location``), not its REST endpoint. Each app's API
root lists its endpoints (``GET /api/dcim/`` → ``{"locations": ".../api/dcim/locations/", …}``), named
by the model's plural with hyphens (``ip-addresses`` for ``ipam.ipaddress``); an app's models may also
live under ``/api/plugins/<name>/``. An endpoint found is kept for the life of the process. The search
is Nautobot's own ``q`` filter, with the bot token's ``view`` permission: a person is offered only what
the bot may see, and Nautobot checks again what it is sent.
"""

from __future__ import annotations

import logging

from bot.nautobot.client import NautobotClient
from bot.nautobot.errors import NautobotError

log = logging.getLogger("bot.nautobot.objects")

SEARCH_LIMIT = 50
"""Options offered per search; Slack shows at most 100, and a person narrows by typing."""


class ObjectSearch:
    def __init__(self, nautobot: NautobotClient) -> None:
        self.nautobot = nautobot
        self._endpoints: dict[str, str | None] = {}

    async def search(self, model: str, query: str) -> list[tuple[str, str]]:
        """(id, display) of the objects of ``model`` matching ``query`` (empty: the first ones), as Nautobot
        orders them; empty when Nautobot has no API for the model."""
        endpoint = await self._endpoint(model)
        if endpoint is None:
            return []
        params = {"q": query.strip(), "limit": str(SEARCH_LIMIT), "depth": "0"}
        body = await self.nautobot.get_object(endpoint, what=f"search the {model} objects", params=params)
        found: list[tuple[str, str]] = []
        for item in (body or {}).get("results") or []:
            if isinstance(item, dict) and item.get("id"):
                found.append((str(item["id"]), str(item.get("display") or item.get("name") or item["id"])))
        return found

    async def _endpoint(self, model: str) -> str | None:
        if model not in self._endpoints:
            self._endpoints[model] = await self._find_endpoint(model)
            if self._endpoints[model] is None:
                log.warning("Nautobot has no REST API the bot can find for the model %s", model)
        return self._endpoints[model]

    async def _find_endpoint(self, model: str) -> str | None:
        app, _, name = model.partition(".")
        if not app or not name:
            return None
        found = await self._in_root(f"/api/{app}/", name)
        for plugin in [] if found else await self._root("/api/plugins/"):  # an app's models, if not Nautobot's
            found = await self._in_root(f"/api/plugins/{plugin}/", name)
            if found:
                break
        return found

    async def _in_root(self, root: str, name: str) -> str | None:
        plurals = _plurals(name)
        key = next((key for key in await self._root(root) if key.replace("-", "").replace("_", "") in plurals), None)
        return f"{root}{key}/" if key else None

    async def _root(self, path: str) -> list[str]:
        """The endpoint names an API root lists (none when it is not there)."""
        try:
            body = await self.nautobot.get_object(path, what="list Nautobot's REST endpoints")
        except NautobotError as exc:
            log.debug("no API root at %s: %s", path, exc)
            return []
        return [key for key, value in (body or {}).items() if isinstance(value, str)]


def _plurals(name: str) -> set[str]:
    """How an API root may name the endpoint of ``name`` (a model's lower-case name)."""
    forms = {name, name + "s", name + "es"}
    if name.endswith("y"):
        forms.add(name[:-1] + "ies")
    return forms
