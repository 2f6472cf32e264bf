"""Real services that checks, examples and benchmarks start for themselves: one per use, on
127.0.0.1, always stopped, never outliving the process that started it.

Where a learner's app would meet the real thing in production, the course starts the real thing
rather than a fake that behaves as we believe it does: `redis.py`, Debian's redis-server;
`celery_worker.py`, a Celery worker; `gunicorn.py`, what Lab 10's checks need beside a gunicorn
master serving the app under test; `load.py`, locust, a real load tool, with its users in
`locust_users.py`.
"""
