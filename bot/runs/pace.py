"""When a follow looks at its run next: the polling pace, with or without Nautobot's events, and the quick looks
after an end event or a Cancel.

What Nautobot tells (2.4 and 3.2, from its source): ``nautobot.jobs.job.started`` when a worker takes the run and
``nautobot.jobs.job.completed`` at the end of the worker's own run of the Job, whether it succeeded or failed.
Every other end is announced by nothing: a cancel (3.2's revoke sets REVOKED, whether it terminated a live
task, reaped one no worker held, or abandoned one it could not check), a hard time limit (Celery's main
process records the FAILURE after killing the worker process that ran it), and a killed worker (the run stays
STARTED until someone reaps it). Only a read of the JobResult shows those. So while events flow a follow
still reads on a net as often as the usual pace reads a long run (``EVENT_SAFETY_POLL``); and where the bot
itself asked for the cancel, it looks at once and quickly until the JobResult says the run ended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from bot.models import JobRun
from bot.nautobot.event_payload import APPROVAL_DENIED, APPROVAL_TOPICS
from bot.nautobot.wakeups import CANCEL_ASKED, JOB_COMPLETED

FIRST_POLL = 0.5
POLL_GROWTH = 1.5
POLL_CAP = 2.0
LONG_RUN = 600.0
LONG_RUN_POLL = 15.0
APPROVAL_POLL_CAP = 15.0
LATE_POLL = 300.0
"""Past the follow's timeout: a look now and then, so a late end still reaches the thread."""
EVENT_SAFETY_POLL = LONG_RUN_POLL
"""While events flow, a follow still looks this often: for an event pub/sub lost, and for the ends Nautobot
announces by no event (a cancel made in Nautobot, a hard time limit, a reaped run). Reads of many runs go to
Nautobot together, so this costs about one request per this many seconds, however many runs are followed."""
STARTED_SETTLE = 1.0
"""After a start event, a follow waits this long for the end before it looks: a short Job is read once."""
ENDING_POLLS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
"""After an end event, quick looks until the JobResult says so: Nautobot publishes the end a moment
before its worker records the final status (and an approval decision before it is saved)."""
SCHEDULER_POLL = 1.0
"""An approved run not started yet: Nautobot's scheduler picks it up within seconds."""
CANCEL_FIRST_POLL, CANCEL_POLL_CAP, CANCEL_WATCH = 1.0, 5.0, 120.0
"""After the bot asked Nautobot to cancel a run: a look at once, then looks from 1 s apart growing to 5 s, for
up to two minutes (a revoked run reads REVOKED within a second; a terminated one once its worker confirms)."""


def poll_delays(elapsed: Callable[[], float], flowing: Callable[[], bool] = lambda: False) -> Iterator[float]:
    """Fast while a run is young (most finish in seconds), then every few seconds, then slower.

    While events flow (``flowing``) they say when to look, and a look now and then is the safety net.
    """
    delay = FIRST_POLL
    while True:
        if flowing():
            yield EVENT_SAFETY_POLL
        else:
            yield LONG_RUN_POLL if elapsed() > LONG_RUN else delay
            delay = min(delay * POLL_GROWTH, POLL_CAP)


def approval_delays(
    elapsed: Callable[[], float], timeout: float, flowing: Callable[[], bool] = lambda: False
) -> Iterator[float]:
    """People decide in minutes: a few quick looks, then every 15 s, and rarely once past the timeout.

    While events flow, the decision's event says when to look (a look now and then is the safety net).
    """
    delay = 2 * FIRST_POLL
    while True:
        if elapsed() > timeout:
            yield LATE_POLL
        elif flowing():
            yield EVENT_SAFETY_POLL
        else:
            yield delay
            delay = min(delay * POLL_GROWTH, APPROVAL_POLL_CAP)


def cancel_delays() -> Iterator[float]:
    delay, waited = CANCEL_FIRST_POLL, 0.0
    while waited < CANCEL_WATCH:
        yield delay
        waited += delay
        delay = min(delay * POLL_GROWTH, CANCEL_POLL_CAP)


class RunPace:
    """One follow's pace: the usual delays, cut short by quick looks after an end event or a Cancel; past the
    follow's ``timeout``, a look now and then, so a late end still reaches the thread."""

    def __init__(self, elapsed: Callable[[], float], flowing: Callable[[], bool], timeout: float) -> None:
        self._elapsed = elapsed
        self._timeout = timeout
        self._usual = poll_delays(elapsed, flowing)
        self._quick: Iterator[float] = iter(())
        self.ending_soon = False
        """An end event came, and the JobResult did not say so yet."""
        self.cancelling = False
        """The bot asked Nautobot to cancel the run, which announces no revoked run."""

    def __iter__(self) -> Iterator[float]:
        for usual in self._usual:
            yield LATE_POLL if self._elapsed() > self._timeout else next(self._quick, usual)

    def with_log(self, woken_by: str | None) -> bool:
        """Whether the next read should bring the log along: the run likely ended."""
        return woken_by == JOB_COMPLETED or self.ending_soon

    def read(self, run: JobRun, woken_by: str | None, *, flowing: bool) -> bool:
        """What a read after a pause ``woken_by`` showed; True: it found the run ended and no event had said so."""
        if woken_by == CANCEL_ASKED and not self.cancelling:
            self.cancelling, self._quick = True, cancel_delays()
        elif woken_by == JOB_COMPLETED and not run.status.is_final and not self.ending_soon:
            self.ending_soon, self._quick = True, iter(ENDING_POLLS)
        unannounced = woken_by is None and not (self.ending_soon or self.cancelling)
        return unannounced and flowing and run.status.is_final


class ApprovalPace:
    """One approval's pace: the usual approval delays; quick looks after a decision's event (Nautobot publishes it
    a moment before it is saved); once approved, quick looks until the scheduler has started the run."""

    def __init__(self, elapsed: Callable[[], float], timeout: float, flowing: Callable[[], bool]) -> None:
        self._usual = approval_delays(elapsed, timeout, flowing)
        self._settling: Iterator[float] = iter(())
        self.denial_heard = False
        """A denial's event came: a scheduled job gone from Nautobot was denied, not deleted by hand."""
        self.approval_shown = False
        """The approvers' messages show the approval (before the scheduler has started the run)."""

    def next(self, *, approved: bool) -> float:
        usual = next(self._usual)
        return SCHEDULER_POLL if approved else next(self._settling, usual)

    def woken(self, woken_by: str | None) -> None:
        """What ended the last pause: a decision's event brings quick looks."""
        if woken_by in APPROVAL_TOPICS:
            self.denial_heard = self.denial_heard or woken_by == APPROVAL_DENIED
            self._settling = iter(ENDING_POLLS)
