"""One router per resource. Routers hold no logic: they call services and name the models."""
