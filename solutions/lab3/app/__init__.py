"""Lab 3 — Async safety."""
