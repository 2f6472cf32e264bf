"""Signed tokens for a metrics service's staff: PyJWT, HS256, short-lived, checked strictly.

A token says who its holder is (`sub`), when it was issued (`iat`) and when it stops working
(`exp`); its `jti` and `ver` claims let the service withdraw it earlier, at the price of one
lookup per request. Module 5's lesson (sections "JWT" and "What a JWT cannot do") includes parts of
this file; examples/token_endpoint.py issues these tokens at sign-in. Run it with
`pytest examples/jwt_tokens.py`.
"""

import base64
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from fastapi.testclient import TestClient

Claims = dict[str, Any]


# --8<-- [start:tokens]
class Tokens:
    """Issues and checks the service's access tokens."""

    ALGORITHM = "HS256"
    REQUIRED = ["exp", "iat", "sub", "jti"]  # a token without any of them is refused

    def __init__(self, secret: str, lifetime: timedelta = timedelta(minutes=15)) -> None:
        if len(secret.encode()) < 32:  # HS256's key should be as long as its hash: 256 bits
            raise ValueError("The signing secret must be at least 32 bytes long")
        self.secret = secret
        self.lifetime = lifetime

    def issue(self, subject: str, version: int = 0, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        claims = {
            "sub": subject,
            "iat": now,
            "exp": now + self.lifetime,  # PyJWT writes both as whole seconds since 1970
            "jti": secrets.token_urlsafe(16),  # this token's own id, to deny it by
            "ver": version,  # the subject's token version when it was issued
        }
        return jwt.encode(claims, self.secret, algorithm=self.ALGORITHM)

    def verify(self, token: str) -> Claims:
        """The claims of a token that we signed and that has not expired; anything else raises
        jwt.InvalidTokenError."""
        return jwt.decode(
            token,
            self.secret,
            algorithms=[self.ALGORITHM],  # pinned: never the one the token names
            options={"require": self.REQUIRED},
        )


# --8<-- [end:tokens]


# --8<-- [start:revocations]
class Revocations:
    """What a signed token cannot say by itself: that it was withdrawn before it expired. In
    production, the deny-list lives in Redis (a key per jti, expiring with the token) and the
    versions in the users' table, so that every process sees them."""

    def __init__(self) -> None:
        self.denied: dict[str, int] = {}  # jti: the token's exp, after which it is moot
        self.versions: dict[str, int] = {}  # subject: its current token version

    def version(self, subject: str) -> int:
        return self.versions.get(subject, 0)

    def deny(self, claims: Claims) -> None:
        """Withdraw one token: signing out on one device."""
        now = time.time()
        self.denied = {jti: exp for jti, exp in self.denied.items() if exp > now}
        self.denied[claims["jti"]] = claims["exp"]

    def withdraw_all(self, subject: str) -> None:
        """Withdraw every token issued so far to `subject`: a new password, a lost laptop."""
        self.versions[subject] = self.version(subject) + 1

    def allow(self, claims: Claims) -> bool:
        return claims["jti"] not in self.denied and claims.get("ver") == self.version(claims["sub"])


# --8<-- [end:revocations]


# --8<-- [start:dependency]
bearer = OAuth2PasswordBearer(tokenUrl="token")  # no Authorization header: 401, WWW-Authenticate


def invalid_token() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "Invalid or expired token",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},  # RFC 6750's wording
    )


def staff_claims(token: Annotated[str, Depends(bearer)], request: Request) -> Claims:
    try:
        claims = request.app.state.tokens.verify(token)
    except jwt.InvalidTokenError:  # bad signature, expired, malformed, a claim missing...
        raise invalid_token() from None
    if not request.app.state.revocations.allow(claims):
        raise invalid_token()
    return claims


StaffClaims = Annotated[Claims, Depends(staff_claims)]
# --8<-- [end:dependency]


# --8<-- [start:routes]
router = APIRouter()


@router.get("/alerts")
def open_alerts(claims: StaffClaims) -> dict[str, Any]:
    return {"for": claims["sub"], "alerts": [{"sensor": "co2", "level": "high"}]}


@router.post("/sign-out", status_code=status.HTTP_204_NO_CONTENT)
def sign_out(claims: StaffClaims, request: Request) -> None:
    request.app.state.revocations.deny(claims)


@router.post("/sign-out-everywhere", status_code=status.HTTP_204_NO_CONTENT)
def sign_out_everywhere(claims: StaffClaims, request: Request) -> None:
    request.app.state.revocations.withdraw_all(claims["sub"])


def create_app(secret: str, lifetime: timedelta = timedelta(minutes=15)) -> FastAPI:
    app = FastAPI(title="Metrics, for staff")
    app.state.tokens = Tokens(secret, lifetime)  # a short secret stops the app here, at startup
    app.state.revocations = Revocations()
    app.include_router(router)
    return app


# --8<-- [end:routes]

SECRET = secrets.token_urlsafe(64)  # 64 random bytes: enough for HS512, which one test uses
tokens = Tokens(SECRET)


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(SECRET))


def bearer_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def encoded(part: Claims) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def unsigned(claims: Claims) -> str:
    """A token that names the algorithm "none": a header, the claims, and no signature."""
    return f"{encoded({'alg': 'none', 'typ': 'JWT'})}.{encoded(claims)}."


def with_claims(token: str, **changes: Any) -> str:
    """The token with its claims changed and its signature kept: what a forger can do."""
    header, claims, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    return f"{header}.{encoded(decoded | changes)}.{signature}"


def valid_claims() -> Claims:
    now = int(time.time())
    return {"sub": "ada", "iat": now, "exp": now + 900, "jti": "j1", "ver": 0}


def without(claim: str) -> Claims:
    return {name: value for name, value in valid_claims().items() if name != claim}


# --8<-- [start:refusal_tests]
def test_a_valid_token_names_its_holder(client: TestClient) -> None:
    response = client.get("/alerts", headers=bearer_header(tokens.issue("ada")))
    assert response.status_code == 200 and response.json()["for"] == "ada"


def test_no_token_is_a_401_that_asks_for_a_bearer_token(client: TestClient) -> None:
    response = client.get("/alerts")
    assert (response.status_code, response.headers["WWW-Authenticate"]) == (401, "Bearer")


@pytest.mark.parametrize(
    "token",
    [
        tokens.issue("ada", now=datetime.now(UTC) - timedelta(minutes=16)),  # expired
        Tokens("another service's secret, 32+ bytes long").issue("ada"),  # not signed by us
        unsigned(valid_claims()),  # "alg": "none"
        jwt.encode(without("exp"), SECRET, algorithm="HS256"),  # signed by us, but no exp
        jwt.encode(valid_claims(), SECRET, algorithm="HS512"),  # another algorithm
        with_claims(tokens.issue("ada"), sub="grace"),  # claims changed, signature kept
        "not.a.token",
    ],
    ids=["expired", "wrong-secret", "alg-none", "no-exp", "hs512", "tampered", "garbage"],
)
def test_every_bad_token_is_a_401_with_www_authenticate(client: TestClient, token: str) -> None:
    response = client.get("/alerts", headers=bearer_header(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --8<-- [end:refusal_tests]


# --8<-- [start:pinning_tests]
def test_pyjwt_refuses_to_decode_without_a_list_of_algorithms() -> None:
    with pytest.raises(jwt.DecodeError, match="algorithms"):
        jwt.decode(tokens.issue("ada"), SECRET)


def test_without_require_a_token_without_exp_never_expires() -> None:
    forever = jwt.encode({"sub": "ada"}, SECRET, algorithm="HS256")
    assert jwt.decode(forever, SECRET, algorithms=["HS256"]) == {"sub": "ada"}


def test_turning_off_the_signature_check_accepts_alg_none() -> None:
    claims = jwt.decode(unsigned(valid_claims()), options={"verify_signature": False})
    assert claims["sub"] == "ada"  # anyone can write this token: never trust such claims


def test_allowing_none_turns_an_unsigned_token_into_a_500() -> None:
    with pytest.raises(jwt.InvalidKeyError) as raised:  # refused, but not as an invalid token...
        jwt.decode(unsigned(valid_claims()), SECRET, algorithms=["HS256", "none"])
    assert not isinstance(raised.value, jwt.InvalidTokenError)  # ...so `except` above misses it


def test_a_short_secret_stops_the_service_and_only_warns_in_pyjwt() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        create_app("secret")
    with pytest.warns(jwt.warnings.InsecureKeyLengthWarning):
        jwt.encode({"sub": "ada"}, "secret", algorithm="HS256")


# --8<-- [end:pinning_tests]


# --8<-- [start:revocation_tests]
def test_signing_out_withdraws_that_token_only(client: TestClient) -> None:
    laptop, phone = bearer_header(tokens.issue("ada")), bearer_header(tokens.issue("ada"))
    assert client.post("/sign-out", headers=laptop).status_code == 204
    assert client.get("/alerts", headers=laptop).status_code == 401
    assert client.get("/alerts", headers=phone).status_code == 200


def test_signing_out_everywhere_withdraws_every_token_issued_before(client: TestClient) -> None:
    laptop, phone = bearer_header(tokens.issue("ada")), bearer_header(tokens.issue("ada"))
    assert client.post("/sign-out-everywhere", headers=phone).status_code == 204
    assert client.get("/alerts", headers=laptop).status_code == 401
    assert client.get("/alerts", headers=phone).status_code == 401
    version = client.app.state.revocations.version("ada")
    fresh = bearer_header(tokens.issue("ada", version=version))  # the next sign-in's token
    assert client.get("/alerts", headers=fresh).status_code == 200


# --8<-- [end:revocation_tests]


def test_the_deny_list_forgets_tokens_once_they_have_expired() -> None:
    revocations = Revocations()
    revocations.deny({"jti": "old", "exp": int(time.time()) - 1})
    revocations.deny({"jti": "new", "exp": int(time.time()) + 900})
    assert list(revocations.denied) == ["new"]
