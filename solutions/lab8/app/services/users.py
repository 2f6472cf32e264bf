"""Sign-ups. Lines name the user by id: an email or a password never reaches a log."""

import logging
import uuid

from app.logs import FIELDS

logger = logging.getLogger(__name__)


def sign_up(email: str, password: str) -> str:
    user_id = uuid.uuid4().hex
    logger.info("user_signed_up", extra={FIELDS: {"user_id": user_id}})
    return user_id


def send_welcome_email(user_id: str) -> None:
    """Run after the answer, as a background task, still inside the request's context."""
    logger.info("welcome_email_sent", extra={FIELDS: {"user_id": user_id}})
