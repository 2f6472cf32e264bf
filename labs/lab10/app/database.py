"""The inventory database, as far as the probes need it: does it accept connections?"""

import asyncio

from app.config import Settings


async def reachable(settings: Settings) -> bool:
    """Whether the database accepts a TCP connection within DATABASE_TIMEOUT_SECONDS."""
    try:
        async with asyncio.timeout(settings.database_timeout_seconds):
            _, writer = await asyncio.open_connection(
                settings.database_host, settings.database_port
            )
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True
