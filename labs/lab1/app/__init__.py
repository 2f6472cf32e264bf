"""Lab 1 — Lifespan and dependency injection."""
