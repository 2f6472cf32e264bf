"""One router per resource. Routers hold no logic: they say who may call, and call services."""
