"""What the Nautobot at ``NAUTOBOT_URL`` can do, told by the version it reports: 2.4 LTM and 3.x differ.

The bot learns the version from ``GET /api/status/`` (at start, then with every readiness check), so a
Nautobot upgraded under a running bot is noticed. Until it is known, a capability that only some
versions have counts as absent: no Cancel button is offered that Nautobot might not honour.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_VERSION = re.compile(r"^\s*(\d+)\.(\d+)")


def reported_version(status: Mapping[str, Any] | None) -> tuple[int, int] | None:
    """(major, minor) of the Nautobot that answered ``/api/status/``; None when it named none."""
    match = _VERSION.match(str((status or {}).get("nautobot-version") or ""))
    return (int(match[1]), int(match[2])) if match else None


@dataclass(frozen=True)
class Capabilities:
    version: tuple[int, int] | None = None
    """None: not known yet (Nautobot has not answered, or named no version)."""

    @classmethod
    def from_status(cls, status: Mapping[str, Any] | None) -> Capabilities:
        return cls(reported_version(status))

    @property
    def known(self) -> bool:
        return self.version is not None

    @property
    def cancel(self) -> bool:
        """Nautobot 3.2 added the API that cancels a queued or running Job."""
        return self.version is not None and self.version >= (3, 2)

    @property
    def events(self) -> bool:
        """Nautobot 2.4 added event brokers (Job started/completed, approvals)."""
        return self.version is not None and self.version >= (2, 4)

    @property
    def denial_deletes(self) -> bool:
        """Nautobot 2.x deletes a denied scheduled job (3.x keeps it as ``denied``): there, gone means denied."""
        return self.version is not None and self.version < (3, 0)

    @property
    def approvals(self) -> str:
        """How a run is made to wait for approval on this Nautobot."""
        if self.version is None:
            return "unknown"
        if self.version >= (3, 0):
            return "approval workflows"
        return "the Job's approval_required flag"

    def describe(self) -> str:
        """One line for doctor: what this Nautobot offers the bot."""
        if self.version is None:
            return "capabilities unknown (Nautobot named no version)"
        cancel = "cancel: yes" if self.cancel else "cancel: no (needs 3.2)"
        events = "events: can publish" if self.events else "events: none (needs 2.4)"
        return f"approvals by {self.approvals}; {cancel}; {events}"
