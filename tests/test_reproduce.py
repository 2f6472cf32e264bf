"""What a failed check tells the learner to run by hand, and where it sends them to read."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx

from grader.manifest import load_course
from grader.reproduce import Launch, carries, curl, requests_by_hand

LAUNCH = Launch("app.main:app", Path("/course/labs/lab1"), "labs/lab1")


def test_the_app_starts_by_hand_with_the_checks_settings():
    launch = replace(LAUNCH, env={"SLOW_SECONDS": "0.5", "ANTHROPIC_API_KEY": None})
    assert launch.command() == [
        "cd labs/lab1 && env -u ANTHROPIC_API_KEY SLOW_SECONDS=0.5 uvicorn app.main:app --port 8001"
    ]
    assert launch.settings() == "SLOW_SECONDS=0.5, no ANTHROPIC_API_KEY"


def test_files_and_another_folder_are_said_not_done():
    """The learner's own .env is never overwritten: the command says what the copy held."""
    launch = replace(LAUNCH, files={".env": "KEY=from-dotenv\n"}, cwd_elsewhere=True)
    assert launch.command() == [
        "# The grader's copy had a .env holding: KEY=from-dotenv",
        "cd /tmp && uvicorn app.main:app --port 8001 --app-dir /course/labs/lab1",
    ]


def test_curl_sends_what_the_check_sent_to_the_learners_port():
    request = httpx.Request(
        "POST",
        "http://127.0.0.1:41234/items?q=1",
        json={"name": "it's"},
        headers={"X-API-Key": "k"},
    )
    assert curl(request) == (
        "curl -i -X POST -H 'X-API-Key: k' -H 'Content-Type: application/json' "
        """--data-binary '{"name":"it'"'"'s"}' 'http://127.0.0.1:8001/items?q=1'"""
    )


def test_repeated_requests_fold_into_a_loop_and_a_burst_into_python():
    request = httpx.Request("GET", "http://127.0.0.1:41234/items")
    assert requests_by_hand([request] * 4, concurrent=False) == [
        "for i in $(seq 4); do curl -i http://127.0.0.1:8001/items; done"
    ]
    script = "\n".join(requests_by_hand([request] * 3, concurrent=True))
    assert "asyncio.gather(*(send() for _ in range(3)))" in script
    assert 'client.request("GET", "http://127.0.0.1:8001/items")' in script


def test_a_key_the_grader_was_issued_is_sent_from_a_shell_variable():
    """The grader's server, and the key it issued, are gone: the learner issues their own (the
    check's `Service.by_hand` lines say how) and the requests send it from the variable."""
    issued = {"X-API-Key": "helpdesk_issued"}
    keyed = httpx.Request("GET", "http://127.0.0.1:41234/rag", headers=issued)
    other = httpx.Request("GET", "http://127.0.0.1:41234/rag", headers={"X-API-Key": "made-up"})
    assert requests_by_hand([keyed, other], False, issued) == [
        'curl -i -H "X-API-Key: $X_API_KEY" http://127.0.0.1:8001/rag',
        "curl -i -H 'X-API-Key: made-up' http://127.0.0.1:8001/rag",
    ]
    assert carries(keyed, issued) and not carries(other, issued)
    script = "\n".join(requests_by_hand([keyed] * 2, True, issued))
    assert 'headers={"X-API-Key": os.environ["X_API_KEY"]}' in script
    assert "helpdesk_issued" not in script


def test_read_links_work_with_or_without_a_served_site():
    course = load_course()
    local = course.reading("modules/03-async-safety/lesson.md", "background-tasks")
    assert local.startswith("“Background tasks” in docs/modules/03-async-safety/lesson.md")
    assert "http://127.0.0.1:8000/modules/03-async-safety/lesson/#background-tasks" in local
    published = replace(course, site_url="https://course.example.org/fastapi/")
    assert published.reading("modules/03-async-safety/lesson.md", "background-tasks") == (
        "https://course.example.org/fastapi/modules/03-async-safety/lesson/#background-tasks"
    )
