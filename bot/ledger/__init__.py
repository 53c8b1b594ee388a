"""Durable records of every run request and of every decision: the ledger (SQLite or PostgreSQL)."""

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
from bot.ledger.schema import DEFAULT_URL, KEY_MAX, MIGRATIONS, async_url
from bot.ledger.store import LEASE_SECONDS, Ledger

__all__ = [
    "DEFAULT_URL",
    "FINAL_STATES",
    "KEY_MAX",
    "LEASE_SECONDS",
    "MIGRATIONS",
    "STATUS_STATES",
    "TRANSITIONS",
    "WORKING_STATES",
    "AuditAction",
    "AuditEntry",
    "AuditOutcome",
    "IllegalTransition",
    "Ledger",
    "LedgerError",
    "LedgerUnavailable",
    "LostLease",
    "Record",
    "RequestState",
    "SchemaTooNew",
    "UnknownRequest",
    "async_url",
]
