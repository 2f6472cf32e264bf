"""Pydantic schemas: what the API answers, and what it accepts from the upstream API."""
