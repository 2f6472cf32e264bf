"""gunicorn's settings for the help desk's assistant, read from the environment as a platform sets
it (Lab 10).

Run: gunicorn app.main:app -c gunicorn.conf.py

Each worker is a process of its own, with its own model client, rate limiter, conversations and
token totals: a key's limit is RATE_LIMIT_PER_MINUTE per worker, and a chat session's next message
may reach a worker that never saw its turns. Run one worker per container and scale containers,
or move those into a shared store (Redis, a database) before raising WEB_CONCURRENCY.
"""

import multiprocessing
import os

worker_class = "uvicorn_worker.UvicornWorker"

# A container must listen on all its interfaces; the grader and a laptop set HOST=127.0.0.1.
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"

# The platform knows the machine: it sets WEB_CONCURRENCY. Unset, the classic rule of thumb.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1))

# Not a request timeout: how long a worker's event loop may be stuck before the master calls the
# worker dead and replaces it. Streams that await the model for a minute leave the loop free.
timeout = 30

# On SIGTERM, requests in flight (a chat still streaming, an agent still searching) get this long
# to finish before their worker is killed.
graceful_timeout = int(os.environ.get("GRACEFUL_SECONDS", "30"))

# Each worker is replaced after about a thousand requests, at different times thanks to the jitter:
# a slow leak never grows for ever, and the workers never all restart at once.
max_requests = 1000
max_requests_jitter = 100

# The app writes its own access line, as JSON with the request's id (app/middleware.py): gunicorn's
# would print every request a second time, in plain text and with its query string.
accesslog = None
errorlog = "-"  # gunicorn's own messages, on stderr

# One master per container, managed by the platform: no control socket (gunicornc) to look after.
control_socket_disable = True
