"""Business logic: plain Python that knows nothing about HTTP. Routers call it and return what it
returns, so each piece of logic is written once and can be tested without a server."""
