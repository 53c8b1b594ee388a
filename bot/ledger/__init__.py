"""Durable records of every run request and of every decision: the ledger (SQLite or PostgreSQL)."""

from bot.ledger.approval import Approval, Ending, Notice, NoticeKind, Vote
from bot.ledger.approvals import Fired
from bot.ledger.database import DEFAULT_URL, async_url
from bot.ledger.migrations import MIGRATIONS
from bot.ledger.records import (
    FINAL_STATES,
    STATUS_STATES,
    TRANSITIONS,
    WORKING_STATES,
    AuditAction,
    AuditEntry,
    AuditOutcome,
    IllegalTransition,
    LedgerError,
    LedgerUnavailable,
    LostLease,
    Record,
    RequestState,
    SchemaTooNew,
    UnknownRequest,
)
from bot.ledger.replica import LEASE_SECONDS
from bot.ledger.schema import KEY_MAX
from bot.ledger.store import Ledger

__all__ = [
    "DEFAULT_URL",
    "FINAL_STATES",
    "KEY_MAX",
    "LEASE_SECONDS",
    "MIGRATIONS",
    "STATUS_STATES",
    "TRANSITIONS",
    "WORKING_STATES",
    "Approval",
    "AuditAction",
    "AuditEntry",
    "AuditOutcome",
    "Ending",
    "Fired",
    "IllegalTransition",
    "Ledger",
    "LedgerError",
    "LedgerUnavailable",
    "LostLease",
    "Notice",
    "NoticeKind",
    "Record",
    "RequestState",
    "SchemaTooNew",
    "UnknownRequest",
    "Vote",
    "async_url",
]
