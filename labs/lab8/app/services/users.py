"""Sign-ups."""

import logging
import uuid

from app.logs import FIELDS

logger = logging.getLogger(__name__)


def sign_up(email: str, password: str) -> str:
    user_id = uuid.uuid4().hex
    # TODO 1: a log line is read by more people, and kept longer, than the data it is about.
    logger.info("user_signed_up", extra={FIELDS: {"user_id": user_id, "email": email}})
    return user_id


def send_welcome_email(user_id: str) -> None:
    """Run after the answer, as a background task."""
    logger.info("welcome_email_sent", extra={FIELDS: {"user_id": user_id}})
