"""gunicorn's settings for the help desk's assistant, read from the environment as a platform sets
it (Lab 10).

Run: gunicorn app.main:app -c gunicorn.conf.py

One worker unless the platform says otherwise. Each worker is a process of its own, with its own
model client, rate limiter, conversations and token totals: with two, a key's limit would be
RATE_LIMIT_PER_MINUTE per worker, and a chat session's next message could reach a worker that
never saw its turns. And each would open the same embedded Chroma store, which one process should
own: two workers opening a new one at once can fail to start (seen in this course's tests). Scale
by running more containers, each with one worker, or move that state into shared stores (Redis, a
Chroma server) before raising WEB_CONCURRENCY.
"""

import os

worker_class = "uvicorn_worker.UvicornWorker"

# A container must listen on all its interfaces; the grader and a laptop set HOST=127.0.0.1.
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"

# Not the rule of thumb (2 × cores + 1): this process holds state (see above).
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))

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
