"""One router per resource. Routers hold no logic: each endpoint declares what it needs, calls a
service (app/services/) and returns the result."""
