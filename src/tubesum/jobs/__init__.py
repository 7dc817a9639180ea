"""Jobs: durable store (SQLAlchemy + Alembic), executors, and the types they share."""

from __future__ import annotations
