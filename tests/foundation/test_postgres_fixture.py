"""The PostgreSQL fixture gives an empty, writable database of its own."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.postgres


def test_fresh_database_is_empty_and_writable(postgres_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        tables = conn.execute(
            sa.text("select count(*) from information_schema.tables where table_schema = 'public'")
        ).scalar_one()
        assert tables == 0
        conn.execute(sa.text("create table probe (id int primary key)"))
        conn.execute(sa.text("insert into probe values (1), (2)"))
        assert conn.execute(sa.text("select sum(id) from probe")).scalar_one() == 3
    engine.dispose()
