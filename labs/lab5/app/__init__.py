"""Lab 5 — Authentication and authorisation."""
