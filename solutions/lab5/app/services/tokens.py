"""Access tokens: JWTs signed with HS256, naming their user (`sub`), when they were issued
(`iat`) and when they expire (`exp`).

Decoding pins the algorithm: the token's own header never chooses how it is checked, so neither an
unsigned token (`alg: none`) nor one signed some other way gets through; and a token without an
expiry is refused rather than trusted forever.
"""

import time

import jwt

from app.config import Settings
from app.errors import NotAuthenticated
from app.models.users import Token

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub"]


def issue(username: str, settings: Settings) -> Token:
    now = int(time.time())
    claims = {"sub": username, "iat": now, "exp": now + settings.token_seconds}
    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=ALGORITHM)
    return Token(access_token=token, expires_in=settings.token_seconds)


def subject(token: str, settings: Settings) -> str:
    """The username a valid token names; NotAuthenticated for any other token."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[ALGORITHM],
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.InvalidTokenError as error:
        raise NotAuthenticated(f"The token is not valid: {error}.", "Bearer") from None
    return claims["sub"]
