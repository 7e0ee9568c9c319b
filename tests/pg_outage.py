"""Takes one PostgreSQL test database away and gives it back: the records-database outage of the
cell tests and the ROS fault tests (a real server refusing connections, not a mock)."""

from __future__ import annotations

import os

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
