"""Lab 2 — The middleware stack."""
