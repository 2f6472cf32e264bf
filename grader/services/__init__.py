"""Real services that checks, examples and benchmarks start for themselves: one server per use,
on 127.0.0.1, always stopped, never outliving the process that started it.

Where a learner's app would meet the real thing in production, the course starts the real thing
(`redis.py`: Debian's redis-server) rather than a fake that behaves as we believe it does.
"""
