"""gunicorn's settings for the inventory service, read from the environment as a platform sets it.

Run: gunicorn app.main:app -c gunicorn.conf.py
"""

import os

# TODO 1a: the uvicorn-worker package's worker (uvicorn's own uvicorn.workers is deprecated).
worker_class = "uvicorn.workers.UvicornWorker"

# TODO 1b: $HOST:$PORT, HOST 0.0.0.0 when unset (as a container needs).
bind = f"127.0.0.1:{os.environ.get('PORT', '8000')}"

# TODO 1c: WEB_CONCURRENCY workers; 2 × cores + 1 when it is unset.
workers = 4

# TODO 1d: graceful_timeout from GRACEFUL_SECONDS; max_requests (1000 or more) with a jitter.

# TODO 1e: the access log on stdout.
