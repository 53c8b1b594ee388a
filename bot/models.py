"""Data that crosses module boundaries: a Job's form, a run request, a run's state and its log.

Everything here is parsed from the edge (Nautobot JSON, Slack ``private_metadata``) once, so the
rest of the bot works with typed values and never with loose dicts.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from bot.job_labels import humanise, split_label

InputValue: TypeAlias = str | bool | int | float | list[Any] | dict[str, Any] | None
"""One value of a Job's input data, as sent in ``{"data": {...}}``."""

LogLevel: TypeAlias = Literal["debug", "info", "success", "warning", "failure", "error", "critical"]
LOG_LEVELS: tuple[LogLevel, ...] = ("debug", "info", "success", "warning", "failure", "error", "critical")
FAILING_LEVELS: frozenset[str] = frozenset({"failure", "error", "critical"})

_LEGACY_LEVELS = {"default": "info", "warn": "warning", "fatal": "critical"}


def _choice_pairs(raw: Any) -> list[tuple[str, str]]:
    """Nautobot sends ``[[value, label], ...]``; also accept a mapping, bare values and option groups."""
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        raw = list(raw.items())
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        return []
    pairs: list[tuple[str, str]] = []
    for item in raw:
        if isinstance(item, Sequence) and not isinstance(item, str | bytes) and len(item) == 2:
            value, label = item
            if isinstance(label, Sequence) and not isinstance(label, str | bytes):
                pairs.extend(_choice_pairs(label))
            else:
                pairs.append((str(value), str(label)))
        elif isinstance(item, str | int | float):
            pairs.append((str(item), str(item)))
    return pairs


class JobVariable(BaseModel):
    """One input of a Job, as ``GET /api/extras/jobs/<id>/variables/`` describes it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    type: str = "StringVar"
    label: str | None = None
    help_text: str = ""
    required: bool = False
    min_length: int | None = None
    max_length: int | None = None
    min_value: int | None = None
    max_value: int | None = None
    choices: list[tuple[str, str]] = Field(default_factory=list)
    default: Any = None
    model: str | None = None

    @field_validator("help_text", mode="before")
    @classmethod
    def _help_text(cls, value: Any) -> str:
        return "" if value is None else str(value)

    @field_validator("label", mode="before")
    @classmethod
    def _label(cls, value: Any) -> str | None:
        return None if value is None else str(value)

    @field_validator("choices", mode="before")
    @classmethod
    def _choices(cls, value: Any) -> list[tuple[str, str]]:
        return _choice_pairs(value)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> JobVariable:
        return cls.model_validate(dict(data))

    @property
    def display_label(self) -> str:
        """The label without any ``regex: ...`` suffix, else the humanised name."""
        shown, _ = split_label(self.label)
        if not shown and self.type == "DryRunVar":
            return "Dry run"
        return shown or humanise(self.name) or "Field"

    @property
    def regex(self) -> str | None:
        """The pattern a label like ``"User Email, regex: ^...$"`` announces (the API hides the real one)."""
        return split_label(self.label)[1]

    @property
    def mentions_email(self) -> bool:
        text = f"{self.name} {self.label or ''}".casefold()
        return self.type == "StringVar" and ("email" in text or "e-mail" in text)

    @property
    def is_email(self) -> bool:
        """An email and nothing else: a label that offers another kind of input ("Email or Name") takes text."""
        return self.mentions_email and " or " not in f" {self.display_label.casefold()} "

    def choice_label(self, value: Any) -> str | None:
        return next((label for key, label in self.choices if key == value), None)


class JobForm(BaseModel):
    """A Job and its variables in the Job's field order: what the Slack modal mirrors."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str
    job_name: str
    description: str = ""
    variables: list[JobVariable] = Field(default_factory=list)

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any) -> str:
        return "" if value is None else str(value)

    @classmethod
    def from_api(cls, job: Mapping[str, Any], variables: Sequence[Mapping[str, Any]]) -> JobForm:
        """Build from ``GET /api/extras/jobs/<id>/`` and ``.../variables/``."""
        return cls(
            job_id=str(job.get("id", "")),
            job_name=str(job.get("name") or job.get("job_class_name") or "Nautobot Job"),
            description=job.get("description") or "",
            variables=[JobVariable.from_api(item) for item in variables],
        )

    def variable(self, name: str) -> JobVariable | None:
        return next((var for var in self.variables if var.name == name), None)

    @property
    def dry_run_variable(self) -> str | None:
        """The name of the Job's dry-run variable (a ``DryRunVar``), if it has one."""
        return next((var.name for var in self.variables if var.type == "DryRunVar"), None)

    @property
    def email_variable(self) -> JobVariable | None:
        return next((var for var in self.variables if var.is_email), None)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def email_regex(self) -> str | None:
        """The regex the first email variable's label announces, if any."""
        email = self.email_variable
        return email.regex if email else None


class LogEntry(BaseModel):
    """One line of ``GET /api/extras/job-results/<id>/logs/``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    created: datetime
    log_level: LogLevel = "info"
    grouping: str = ""
    message: str = ""
    log_object: str | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> str:
        level = str(value or "info").strip().casefold()
        level = _LEGACY_LEVELS.get(level, level)
        return level if level in LOG_LEVELS else "info"

    @field_validator("grouping", "message", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return "" if value is None else str(value)

    @field_validator("log_object", mode="before")
    @classmethod
    def _object(cls, value: Any) -> str | None:
        return None if value in (None, "") else str(value)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> LogEntry:
        return cls.model_validate(dict(data))

    @property
    def failing(self) -> bool:
        return self.log_level in FAILING_LEVELS


class RunStatus(StrEnum):
    """Where a request stands, as the people in Slack see it."""

    SUBMITTED = "submitted"
    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DENIED = "denied"
    TIMED_OUT = "timed_out"

    @property
    def is_final(self) -> bool:
        """True once the bot stops following the run (``TIMED_OUT`` may still finish in Nautobot)."""
        return self in _FINAL

    @classmethod
    def from_nautobot(cls, value: Any) -> RunStatus:
        """Map a JobResult status; unknown values count as still running so following goes on."""
        if isinstance(value, Mapping):
            value = value.get("value")
        return NAUTOBOT_STATUS.get(str(value or "").strip().upper(), cls.RUNNING)


_FINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.DENIED, RunStatus.TIMED_OUT})

NAUTOBOT_STATUS: Mapping[str, RunStatus] = {
    "PENDING": RunStatus.QUEUED,
    "RECEIVED": RunStatus.QUEUED,
    "REJECTED": RunStatus.QUEUED,
    "STARTED": RunStatus.RUNNING,
    "RETRY": RunStatus.RUNNING,
    "IGNORED": RunStatus.RUNNING,
    "SUCCESS": RunStatus.SUCCEEDED,
    "FAILURE": RunStatus.FAILED,
    "REVOKED": RunStatus.CANCELLED,
    # Nautobot 1.x values
    "RUNNING": RunStatus.RUNNING,
    "COMPLETED": RunStatus.SUCCEEDED,
    "ERRORED": RunStatus.FAILED,
    "FAILED": RunStatus.FAILED,
}
"""Celery states Nautobot reports; ``REJECTED``/``IGNORED`` are not ready states there either."""


class JobRun(BaseModel):
    """A snapshot of one JobResult."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    result_id: str
    status: RunStatus
    url: str
    job_name: str = ""
    date_created: datetime | None = None
    date_started: datetime | None = None
    date_done: datetime | None = None
    result: dict[str, Any] | None = None
    traceback: str | None = None
    log_counts: dict[LogLevel, int] | None = None
    """Log lines by level; None while unknown: Nautobot 2.4's JobResult carries no counts, only its log does."""
    log: tuple[LogEntry, ...] | None = None
    """The run's log, oldest first, when it was read together with the ended result; else None."""

    @classmethod
    def from_api(cls, data: Mapping[str, Any], web_base_url: str) -> JobRun:
        """Build from ``GET /api/extras/job-results/<id>/``; ``url`` points at the web page, not the API."""
        result_id = str(data.get("id", ""))
        result = data.get("result")
        if isinstance(result, str) and result.startswith("{"):  # GraphQL may send the JSON field as its text
            with contextlib.suppress(json.JSONDecodeError):
                result = json.loads(result)
        if result is not None and not isinstance(result, Mapping):
            result = {"value": result}
        counted = any(f"{level}_log_count" in data for level in LOG_LEVELS)  # Nautobot 3.x; not 2.4
        counts = {level: int(data.get(f"{level}_log_count") or 0) for level in LOG_LEVELS}
        return cls(
            result_id=result_id,
            status=RunStatus.from_nautobot(data.get("status")),
            url=f"{web_base_url.rstrip('/')}/extras/job-results/{result_id}/",
            job_name=str(data.get("name") or ""),
            date_created=data.get("date_created"),
            date_started=data.get("date_started"),
            date_done=data.get("date_done"),
            result=dict(result) if result is not None else None,
            traceback=data.get("traceback") or None,
            log_counts={level: count for level, count in counts.items() if count} if counted else None,
        )

    def with_log(self, entries: Sequence[LogEntry]) -> JobRun:
        """This snapshot with its log, counted by level from the log itself: what the thread shows, on any
        Nautobot (2.4's JobResult has no counts; 3.x's were read a moment before the log)."""
        ordered = tuple(sorted(entries, key=lambda entry: entry.created))
        counts = {level: n for level in LOG_LEVELS if (n := sum(e.log_level == level for e in ordered))}
        return self.model_copy(update={"log": ordered, "log_counts": counts})

    @property
    def duration(self) -> timedelta | None:
        start = self.date_started or self.date_created
        if start is None or self.date_done is None:
            return None
        return max(self.date_done - start, timedelta(0))

    @property
    def exception(self) -> str | None:
        """``"RuntimeError: boom"`` from Celery's failure result, if the run raised."""
        if not self.result or "exc_type" not in self.result:
            return None
        message = self.result.get("exc_message")
        if isinstance(message, list | tuple):
            message = ", ".join(str(part) for part in message)
        kind = str(self.result.get("exc_type") or "Exception")
        return f"{kind}: {message}" if message not in (None, "") else kind


REQUESTED_BY = "requested_by"
"""The Job variable the bot fills itself with who asked: never in the form, never shown back as an input."""
APPROVED_BY = "approved_by"
"""The Job variable the bot fills itself with who approved the request in Slack, when it needed approval."""
REQUEST_ID = "request_id"
"""The Job variable the bot fills with the request's key, so that a restarted bot finds the run exactly."""
FILLED_BY_BOT = frozenset({REQUESTED_BY, APPROVED_BY, REQUEST_ID})
"""Variables the bot fills itself: never in the form, never shown back as inputs."""


class RunRequest(BaseModel):
    """What a person asked for; ``request_id`` is the idempotency key (the modal's view id)."""

    model_config = ConfigDict(frozen=True)

    request_id: str = Field(min_length=1)
    requester_id: str
    channel_id: str
    job_name: str
    inputs: dict[str, InputValue] = Field(default_factory=dict)
    dryrun: bool = False


METADATA_MAX = 3000


class ModalContext(BaseModel):
    """What the modal carries in ``private_metadata``: the submission payload lacks the channel."""

    model_config = ConfigDict(frozen=True)

    channel_id: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    job_id: str = Field(max_length=255)
    command_text: str = ""
    command: str = Field(default="", max_length=32)
    """The slash command the form belongs to; empty in forms opened before the bot had several (the main one's)."""
    values: dict[str, InputValue] | None = None
    """What a confirmation summary asks to confirm: the checked values of the form it replaced; None on a form."""

    def to_metadata(self) -> str:
        """Compact ASCII JSON of at most 3000 characters; the command text is cut to fit.

        Raises ``ValueError`` when the values to confirm do not fit (they are never cut).
        """
        text = self.command_text[:METADATA_MAX]
        encoded = self._encode(text)
        if len(encoded) <= METADATA_MAX:
            return encoded
        if len(self._encode("")) > METADATA_MAX:
            raise ValueError(f"the values to confirm take more than Slack's {METADATA_MAX} characters of metadata")
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            if len(self._encode(text[:middle])) <= METADATA_MAX:
                low = middle
            else:
                high = middle - 1
        return self._encode(text[:low])

    def _encode(self, text: str) -> str:
        payload: dict[str, Any] = {"c": self.channel_id, "u": self.user_id, "j": self.job_id}
        if self.command:
            payload["k"] = self.command
        if self.values is not None:
            payload["v"] = self.values
        if text:
            payload["t"] = text
        return json.dumps(payload, separators=(",", ":"))

    @classmethod
    def from_metadata(cls, raw: str) -> ModalContext:
        """Inverse of :meth:`to_metadata`; raises ``ValueError`` on anything else."""
        try:
            data = json.loads(raw)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"private_metadata is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("private_metadata is not a JSON object")
        return cls(
            channel_id=data.get("c", ""),
            user_id=data.get("u", ""),
            job_id=data.get("j", ""),
            command_text=data.get("t", ""),
            command=data.get("k", ""),
            values=data.get("v"),
        )
