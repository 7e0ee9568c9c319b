"""Takes one PostgreSQL test database away and gives it back: the records-database outage of the
cell tests and the ROS fault tests (a real server refusing connections, not a mock); `SqliteLock`, the
SQLite file's write lock held from another connection, is the same switch for a SQLite cell."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

PG_ADMIN_URL = os.environ.get("BLADECELL_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


class PgOutage:
    """Takes one PostgreSQL database away (no new connections, open ones terminated) and gives it back."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.name = url.rsplit("/", 1)[1]
        self.admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
        self.down = False

    def take_away(self) -> None:
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (self.name,),
        )
        self.down = True

    def give_back(self) -> None:
        self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')
        self.down = False

    def close(self) -> None:
        if self.down:
            self.give_back()
        self.admin.close()


class SqliteLock:
    """Holds the SQLite file's write lock from another connection (as another process would)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.down = False

    def take_away(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.down = True

    def give_back(self) -> None:
        self.conn.execute("ROLLBACK")
        self.down = False

    def close(self) -> None:
        if self.down:
            self.give_back()
        self.conn.close()
