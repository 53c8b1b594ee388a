"""Fixtures shared by the unit tests: the ledger on each of its backends."""

from tests.support.ledger_backends import backend, ledger, postgres_database

__all__ = ["backend", "ledger", "postgres_database"]
