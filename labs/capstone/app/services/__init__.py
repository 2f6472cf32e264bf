"""The rules, with no HTTP in sight: they raise domain errors (app/errors.py)."""
