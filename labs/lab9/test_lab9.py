"""Lab 9 grader. Each test is one check of course.toml (its task, points and hint).

Run `pytest labs/lab9`. Every check starts your app on a uvicorn server with a folder of its own
for ChromaDB, and a fake Anthropic API (grader/fakes/anthropic.py) that your app's real
`anthropic` client talks to over a real socket: it streams its answers one word at a time, counts
tokens one per word, records every request (the model, the prompt, the connection it came on,
whether the client left before the end), and can be told to answer 529 (overloaded), to answer
nothing at all, or to stop. The documents and questions are the help desk's (grader/helpdesk.py).
The checks themselves are in grader/checks/assistant.py: the capstone runs them too.
"""

from grader import LabContext
from grader.checks import assistant

# --- Task 1: one client for the process ---


async def test_one_client(lab: LabContext):
    await assistant.one_client(lab)


# --- Task 2: the chat, streamed ---


async def test_chat_streams_each_word(lab: LabContext):
    await assistant.chat_streams_each_word(lab)


async def test_first_word_arrives_first(lab: LabContext):
    await assistant.first_word_arrives_first(lab)


async def test_leaving_client_stops_the_model(lab: LabContext):
    await assistant.leaving_client_stops_the_model(lab)


async def test_chat_remembers_the_session(lab: LabContext):
    await assistant.chat_remembers_the_session(lab)


# --- Task 3: answers from the help desk's documents ---


async def test_documents_survive_a_restart(lab: LabContext):
    await assistant.documents_survive_a_restart(lab)


async def test_answers_cite_their_sources(lab: LabContext):
    await assistant.answers_cite_their_sources(lab)


async def test_prompt_holds_the_sources(lab: LabContext):
    await assistant.prompt_holds_the_sources(lab)


async def test_nothing_relevant_asks_no_model(lab: LabContext):
    await assistant.nothing_relevant_asks_no_model(lab)


# --- Task 4: liveness and readiness ---


async def test_health_needs_no_model(lab: LabContext):
    await assistant.health_needs_no_model(lab)


async def test_ready_follows_the_model(lab: LabContext):
    await assistant.ready_follows_the_model(lab)


async def test_ready_gives_up_in_time(lab: LabContext):
    await assistant.ready_gives_up_in_time(lab)


# --- Task 5: overload, and the token totals ---


async def test_overloaded_model_falls_back(lab: LabContext):
    await assistant.overloaded_model_falls_back(lab)


async def test_usage_adds_up(lab: LabContext):
    await assistant.usage_adds_up(lab)
