"""gunicorn's settings for the catalogue service: a Python file, read once when the master starts.

Where to listen and how many workers to run come from the environment, which the platform sets;
the rest is a decision about this service, written down here. The Dockerfile's CMD and the
Procfile both start `gunicorn --config gunicorn.conf.py`. Module 10's lesson includes this file;
examples/catalogue_gunicorn.py loads it with gunicorn's own loader, and serves the app with it.
"""

import os

# --8<-- [start:server]
wsgi_app = "catalogue:app"  # gunicorn's name for the application to serve, ASGI ones included
worker_class = "uvicorn_worker.UvicornWorker"  # each worker runs uvicorn's event loop

# The platform says where to listen and how many workers it wants. Every interface by default:
# in a container, 127.0.0.1 is the container's own loopback, which nothing outside can reach.
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))

accesslog = "-"  # a line per request, on stdout, where the platform collects logs
errorlog = "-"  # gunicorn's own messages, on stderr
# --8<-- [end:server]

# --8<-- [start:lifetimes]
timeout = 30  # a worker whose event loop has not run for 30 s is stuck: killed and replaced
graceful_timeout = 25  # after SIGTERM: 5 s of draining, then up to 20 s for the slowest request
max_requests = 10_000  # a worker retires after about this many requests...
max_requests_jitter = 1_000  # ...give or take up to 1,000, so that workers retire one by one
# --8<-- [end:lifetimes]

# One master per container, managed by the platform: no control socket (gunicornc) to look after.
control_socket_disable = True
