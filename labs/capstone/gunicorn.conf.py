"""gunicorn's settings for the help desk's assistant, read from the environment as a platform sets
it (Lab 10).

Run: gunicorn app.main:app -c gunicorn.conf.py
"""

import os

# TODO 7: the settings of a production server (Lab 10): the uvicorn-worker package's worker
# class; bind on $HOST:$PORT, HOST 0.0.0.0 when unset (as a container needs); WEB_CONCURRENCY
# workers, one when unset (why not Lab 10's 2 × cores + 1? the project page says);
# graceful_timeout from GRACEFUL_SECONDS (30 when unset),
# timeout, and max_requests with a jitter; and one access line per request, not two (the app
# writes its own, as JSON). Then have the Procfile run gunicorn with this file instead of
# uvicorn, and list every setting of app/config.py in .env.example, with a comment each.
bind = f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = 2 * (os.cpu_count() or 1) + 1  # Lab 10's rule of thumb
