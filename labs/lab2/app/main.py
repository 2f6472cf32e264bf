"""Lab 2 — The middleware stack: request ids, JSON access logs, rate limits, errors and CORS.

Grade your work with `pytest labs/lab2`. The lab page lists the tasks; each TODO names one.
"""

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.config import get_settings
from app.errors import ErrorBoundaryMiddleware
from app.logs import configure_logging
from app.middleware.access_log import AccessLogMiddleware
from app.middleware.rate_limit import RateLimitMiddleware
from app.middleware.request_id import RequestIdMiddleware
from app.routers import items

configure_logging()
settings = get_settings()

app = FastAPI(title="Lab 2 — The middleware stack")
app.include_router(items.router)

app.add_middleware(ErrorBoundaryMiddleware)  # added first, so the innermost layer: leave it here

# TODO (task 6): these layers are added in the order they came to mind. Work out which one wraps
# which (see the lesson), and which responses each must see: a 429, a preflight.
app.add_middleware(AccessLogMiddleware)
app.add_middleware(RequestIdMiddleware)
app.add_middleware(
    CORSMiddleware,
    # TODO (task 5): only the origins in settings.cors_origins; and what may browser code send
    # (X-API-Key) and read (X-Request-ID, Retry-After)?
    allow_origins=["*"],
    allow_methods=["*"],
    allow_headers=["*"],
)
app.add_middleware(RateLimitMiddleware, limit=settings.rate_limit_per_minute, window=60)
