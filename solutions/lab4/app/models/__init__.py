"""What crosses the boundary: the shapes the API accepts and returns, and what it reads from the
avatar service."""
