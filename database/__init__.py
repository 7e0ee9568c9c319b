"""BladeCell records: SQLAlchemy models, Alembic migrations and the FastAPI service."""

__version__ = "0.1.0"
