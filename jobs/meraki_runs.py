"""What every Job that works in Meraki shares: who asked for and approved the run, and one way to fail on a Meraki
problem."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .meraki_admins import MerakiProblem
from .requesters import RequesterMixin


class MerakiRunMixin(RequesterMixin):
    """For a Job (with the ``requested_by``/``approved_by``/``request_id`` variables) whose work is done in Meraki."""

    fail: Callable[..., None]  # Nautobot's Job.fail: logs at level "failure" and marks the run failed

    def meraki_result(self, work: Callable[[], dict], requester: str, approval: str | None, **inputs: Any) -> dict:
        """The result of ``work`` with who asked and who approved (:meth:`approval`, None if nobody did); on a
        :class:`MerakiProblem` a failed run, the same for every Job.

        The failure's sentence says what to do, logged under the step that failed; the result echoes ``inputs``
        so that whoever reads it knows which request failed.
        """
        who = {"requested_by": requester, "approved_by": approval}
        try:
            result = work()
        except MerakiProblem as problem:
            self.fail(str(problem), extra={"grouping": problem.step})
            return {"outcome": "failed", "error": str(problem), **inputs, **who}
        return {**result, **who}
