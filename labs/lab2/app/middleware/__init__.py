"""Pure ASGI middleware: each class wraps the app inside it, one concern per module."""
