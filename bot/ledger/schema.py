"""How the ledger is stored: its tables, and a row of each as the ledger's own types.

The tables are declared here as the current schema version has them (:mod:`bot.ledger.migrations` brings a
database there); the ledger's statements are SQLAlchemy Core over :data:`REQUESTS` and :data:`AUDIT`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Dialect, Index, Integer, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.ledger.records import AuditAction, AuditEntry, AuditOutcome, Record

KEY_MAX = 255


def now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend; SQLite stores no offset, so it gets UTC wall time."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the ledger stores only timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class SchemaVersionRow(Base):
    """One row per applied migration step; the highest ``version`` is the schema's version."""

    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class RequestRow(Base):
    """The ``requests`` table as the current schema version defines it."""

    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_state", "state"),
        Index("ix_requests_lease", "state", "lease_until"),
        Index("ix_requests_approval_due", "state", "approval_due"),
    )

    request_id: Mapped[str] = mapped_column(String(KEY_MAX), primary_key=True)
    requester_id: Mapped[str] = mapped_column(String(255))
    channel_id: Mapped[str] = mapped_column(String(255))
    job_name: Mapped[str] = mapped_column(String(255))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    dryrun: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String(32))
    result_id: Mapped[str | None] = mapped_column(String(255))
    scheduled_job_id: Mapped[str | None] = mapped_column(String(255))
    message_channel: Mapped[str | None] = mapped_column(String(255))
    message_ts: Mapped[str | None] = mapped_column(String(64))
    run_status: Mapped[str | None] = mapped_column(String(32))
    log_posted: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resumes: Mapped[int] = mapped_column(Integer, default=0)
    approval: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    approval_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    nautobot_approval: Mapped[dict[str, Any] | None] = mapped_column(JSON)


REQUESTS: Table = Base.metadata.tables[RequestRow.__tablename__]


class GrantRow(Base):
    """The ``grants`` table: one row per time-bound grant, keyed by its revoke's scheduled job."""

    __tablename__ = "grants"
    __table_args__ = (Index("ix_grants_due", "state", "due"),)

    scheduled_job_id: Mapped[str] = mapped_column(String(KEY_MAX), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    grant: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


GRANTS: Table = Base.metadata.tables[GrantRow.__tablename__]


class WorkflowStepRow(Base):
    """The ``workflow_steps`` table: one row per Workflow Builder step execution, keyed by Slack's execution id."""

    __tablename__ = "workflow_steps"
    __table_args__ = (Index("ix_workflow_steps_state", "state"),)

    execution_id: Mapped[str] = mapped_column(String(KEY_MAX), primary_key=True)
    callback_id: Mapped[str] = mapped_column(String(255))
    requester_id: Mapped[str] = mapped_column(String(255))
    request_id: Mapped[str | None] = mapped_column(String(KEY_MAX))
    token: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(32))
    ending: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    owner: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


WORKFLOW_STEPS: Table = Base.metadata.tables[WorkflowStepRow.__tablename__]


class AuditRow(Base):
    """The ``audit`` table as the current schema version defines it."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(255))
    user_name: Mapped[str] = mapped_column(String(255))
    channel_id: Mapped[str] = mapped_column(String(255))
    team_id: Mapped[str] = mapped_column(String(255))
    request_id: Mapped[str | None] = mapped_column(String(KEY_MAX))
    job_name: Mapped[str | None] = mapped_column(String(255))
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    nautobot_user: Mapped[str | None] = mapped_column(String(255))


AUDIT: Table = Base.metadata.tables[AuditRow.__tablename__]


def to_audit(row: Any) -> AuditEntry:
    """``row``: anything with the audit table's columns as attributes (a result row, an ``AuditRow``)."""
    return AuditEntry(
        action=AuditAction(row.action),
        outcome=AuditOutcome(row.outcome),
        user_id=row.user_id,
        user_name=row.user_name,
        channel_id=row.channel_id,
        team_id=row.team_id,
        request_id=row.request_id,
        job_name=row.job_name,
        inputs=dict(row.inputs) if row.inputs is not None else None,
        reason=row.reason,
        source=row.source,
        nautobot_user=row.nautobot_user,
        at=row.at,
    )


def to_record(row: Any) -> Record:
    """``row``: anything with the requests table's columns as attributes (a result row, a ``RequestRow``)."""
    return Record.model_validate(row)
