"""Business logic: plain Python that knows nothing of routes, status codes or requests."""
