"""The machine's PostgreSQL, as tests reach it outside the bot: throwaway databases, statements, queries."""

from __future__ import annotations

import psycopg2

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def psql(*statements: str, database: str = "postgres") -> None:
    """Run statements with autocommit (``CREATE DATABASE`` cannot run in a transaction)."""
    conn = psycopg2.connect(dbname=database, connect_timeout=3, **POSTGRES)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        conn.close()


def query(database: str, statement: str, *args: object) -> list[tuple]:
    conn = psycopg2.connect(dbname=database, connect_timeout=3, **POSTGRES)
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement, args)
            return cursor.fetchall()
    finally:
        conn.close()
