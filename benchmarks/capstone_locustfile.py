"""The locust users of benchmarks/capstone_load.py: each asks the help desk's questions on
`POST /rag/ask`, back to back, with one of the API keys in LOAD_KEYS (comma-separated), the keys
shared out in turn."""

import itertools
import os
import random

from locust import HttpUser, constant, task

QUESTIONS = [
    "How can I reach the office systems while working remotely?",
    "What should I do with a dodgy message that asks me to click a link?",
    "Can I borrow a computer for a fortnight?",
    "I forgot my login and cannot get into the office systems from my house.",
]
KEYS = itertools.cycle(os.environ["LOAD_KEYS"].split(","))


class Asker(HttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.key = next(KEYS)

    @task
    def ask(self) -> None:
        question = {"question": random.choice(QUESTIONS)}
        self.client.post("/rag/ask", json=question, headers={"X-API-Key": self.key})
