"""One router per resource; routers hold no logic, only endpoints and their dependencies."""
