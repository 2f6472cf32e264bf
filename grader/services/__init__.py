"""Real services that checks start and stop: a gunicorn master serving the app under test, Redis,
a Celery worker. Each is the one place its service is started from."""
