"""examples/deploy/ is the catalogue service's build context (Module 10): the files its container
image is built from, and nothing else. It holds no tests, and its gunicorn.conf.py is no module
name pytest could import, so pytest does not collect it. The tests that read and serve it are
examples/catalogue_*.py."""

collect_ignore = ["deploy"]
