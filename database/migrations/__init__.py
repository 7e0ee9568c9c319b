"""Alembic migrations of the BladeCell records (run through `database.migrate`)."""
