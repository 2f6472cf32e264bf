"""One router per area. Routers hold no logic: they say who may call, and call services."""
