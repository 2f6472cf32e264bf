"""The avatar service's answer, as this app relies on it."""

# TODO (task 4): a model of the answer, to validate it before use.
