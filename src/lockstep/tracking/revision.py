"""The newest migration of the tracking schema (a test checks it against Alembic's head).

Kept apart from ``schema.py`` so that code which must not load SQLAlchemy can read it.
"""

HEAD_REVISION = "0001"
