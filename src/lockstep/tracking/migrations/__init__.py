"""Alembic migrations of the tracking database (run by ``TrackingStore.open``)."""
