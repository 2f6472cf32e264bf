"""What the app says about its LLM client: the logic behind every router's GET /client-id."""

from anthropic import AsyncAnthropic


def client_identity(client: AsyncAnthropic) -> dict[str, int]:
    """Which client object this is. Equal ids across routers mean one shared client, provided
    only one was ever created: CPython reuses the memory, and so the id, of a freed object."""
    return {"client_id": id(client)}
