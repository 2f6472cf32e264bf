"""Lab 4 — Validation and errors."""
