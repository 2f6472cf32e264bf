"""The users of a load test, as locust runs them (grader/services/load.py writes their plan).

Each user takes the next seat of the plan (the headers it sends: its API key, or several in
turn; how long it thinks between two requests) and sends the plan's request over and over,
cycling through the plan's bodies. A user told to wait after a 429 waits as its Retry-After says,
as a well-behaved client does. Every request is written to the plan's log twice: when it is sent,
and when its answer has come (status, seconds, the first characters of the body). A request still
waiting when the run ends has only its first line: the grader tells apart an answer that came
late from one that never came.
"""

import itertools
import json
import os
import time
from pathlib import Path

from locust import FastHttpUser, task

PLAN = json.loads(Path(os.environ["GRADER_LOAD_PLAN"]).read_text(encoding="utf-8"))
BODY_SHOWN = 2000
"""Characters of an answer's body kept in the log: enough for the JSON of one answer."""

_seats = itertools.count()
_numbers = itertools.count()
_log = open(PLAN["log"], "a", buffering=1, encoding="utf-8")  # one line per write


def log(**fields: object) -> None:
    _log.write(json.dumps(fields) + "\n")


class Seated(FastHttpUser):
    def on_start(self) -> None:
        self.seat = next(_seats) % len(PLAN["seats"])
        seat = PLAN["seats"][self.seat]
        self.headers = itertools.cycle([seat["headers"], *seat["also"]])
        self.think = seat["think"]
        self.waits_after_429 = seat["waits_after_429"]
        self.bodies = itertools.cycle(range(len(PLAN["bodies"])))

    def wait_time(self) -> float:
        return self.think

    @task
    def send(self) -> None:
        number, body = next(_numbers), next(self.bodies)
        sent = time.monotonic()
        log(number=number, seat=self.seat, body=body, sent=sent)
        with self.client.request(
            PLAN["method"],
            PLAN["path"],
            json=PLAN["bodies"][body],
            headers=next(self.headers),
            name=PLAN["path"],
            catch_response=True,
        ) as response:
            status = response.status_code
            log(number=number, took=time.monotonic() - sent, status=status,
                body=(response.text or "")[:BODY_SHOWN])  # fmt: skip
            if status and status < 500:  # a 429 is a right answer; locust counts it a success
                response.success()
            else:
                response.failure(f"status {status}")
        if status == 429 and self.waits_after_429:
            time.sleep(float(response.headers.get("retry-after") or 1))
