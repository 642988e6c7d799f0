"""The migration scripts, oldest first (Alembic ignores this file)."""
