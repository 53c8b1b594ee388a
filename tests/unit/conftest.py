"""Fixtures shared by the unit tests: the ledger on each of its backends, and a Bolt app on the Slack stand-in."""

from tests.support.bolt_socket import bolt
from tests.support.ledger_backends import backend, ledger, postgres_database, sqlite_ledger

__all__ = ["backend", "bolt", "ledger", "postgres_database", "sqlite_ledger"]
