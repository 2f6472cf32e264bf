"""Fake upstreams that checks run: real HTTP servers on 127.0.0.1 that answer as a check tells
them to, and record what the app under test sent them."""
