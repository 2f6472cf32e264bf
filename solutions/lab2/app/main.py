"""Lab 2 — The middleware stack: request ids, JSON access logs, rate limits, errors and CORS."""

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

# Each add_middleware wraps everything added before it: the last one added is the outermost
# layer, first to see a request and last to touch its response. So, from the inside out:
app.add_middleware(ErrorBoundaryMiddleware)  # innermost: every layer outside sees its 500s
app.add_middleware(RateLimitMiddleware, limit=settings.rate_limit_per_minute, window=60)
app.add_middleware(
    CORSMiddleware,  # outside the limiter: preflights are never counted, 429s get CORS headers
    allow_origins=settings.cors_origins,
    allow_methods=["GET"],
    allow_headers=["X-API-Key", "X-Request-ID"],  # what browser code may send
    expose_headers=["X-Request-ID", "Retry-After"],  # what browser code may read
)
app.add_middleware(AccessLogMiddleware)  # logs every response from the layers inside it
app.add_middleware(RequestIdMiddleware)  # outermost: every log line and response has the id
