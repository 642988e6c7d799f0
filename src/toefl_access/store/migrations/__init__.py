"""Alembic migrations, run programmatically by :meth:`toefl_access.store.Store.upgrade`.

No ``alembic.ini`` is needed: the store builds the Alembic configuration itself and hands
its own connection to ``env.py``. To add a revision, copy the newest file in ``versions/``,
give it the next number as ``revision`` and the previous as ``down_revision``, and update
``schema.HEAD`` and the tables in ``schema.py`` (a test compares both after upgrading).
"""
