"""A list read from one environment variable, comma-separated: `NoDecode` and a validator.

pydantic-settings parses a `list[str]` field's variable as JSON, so `ALLOWED_HOSTS=a,b` fails at
startup. `NoDecode` hands the raw string to a validator of ours instead.

Module 2's lesson (page "CORS") includes parts of this file. Run it with
`pytest examples/list_settings.py`.
"""

from typing import Annotated

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsError
from starlette.middleware.trustedhost import TrustedHostMiddleware


# --8<-- [start:settings]
class Settings(BaseSettings):
    allowed_hosts: Annotated[list[str], NoDecode] = ["localhost"]
    """ALLOWED_HOSTS: the host names this app answers to, comma-separated."""

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def split_commas(cls, value: object) -> object:
        if isinstance(value, str):  # from the environment: split it ourselves
            return [host.strip().lower() for host in value.split(",") if host.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def no_catch_all(cls, hosts: list[str]) -> list[str]:
        if "*" in hosts:
            raise ValueError("name the hosts: '*' would accept any Host header")
        return hosts


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI()
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)

    @app.get("/")
    async def home() -> dict[str, str]:
        return {"status": "ok"}

    return app


# --8<-- [end:settings]


class JsonListSettings(BaseSettings):
    """The same field without NoDecode: the variable must be JSON."""

    allowed_hosts: list[str] = ["localhost"]


# --8<-- [start:tests]
def test_a_comma_separated_variable_becomes_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", "api.example.com, WWW.example.com,")
    settings = Settings()
    assert settings.allowed_hosts == ["api.example.com", "www.example.com"]
    client = TestClient(create_app(settings))
    assert client.get("http://www.example.com/").status_code == 200
    assert client.get("http://attacker.example/").status_code == 400


def test_without_nodecode_the_variable_must_be_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", "api.example.com,www.example.com")
    with pytest.raises(SettingsError, match="allowed_hosts"):
        JsonListSettings()


def test_a_wildcard_stops_the_app_at_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", "*")
    with pytest.raises(ValueError, match="name the hosts"):
        Settings()


# --8<-- [end:tests]
