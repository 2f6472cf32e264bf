"""The dependency graph is resolved once per request: a dependency that several others need
runs once, and its value is shared, unless one of them asks for a fresh call.

Module 1's lesson (section "Dependencies") includes this file. Run it with
`pytest examples/dependency_cache.py`.
"""

from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.testclient import TestClient

# --8<-- [start:cache]
lookups: list[str] = []  # every call of find_user, for the tests to count


async def find_user(x_user: Annotated[str, Header()]) -> dict[str, str]:
    """Stands for a database lookup: worth doing once per request, not once per dependent."""
    lookups.append(x_user)
    return {"name": x_user, "plan": "pro" if x_user == "ada" else "free"}


UserDep = Annotated[dict[str, str], Depends(find_user)]


async def require_pro(user: UserDep) -> None:
    if user["plan"] != "pro":
        raise HTTPException(403, "This report needs the pro plan")


async def audit(user: UserDep) -> str:
    return f"report read by {user['name']}"


async def fresh_user(
    user: Annotated[dict[str, str], Depends(find_user, use_cache=False)],
) -> dict[str, str]:
    return user


app = FastAPI()


@app.get("/report", dependencies=[Depends(require_pro)])
async def report(user: UserDep, note: Annotated[str, Depends(audit)]) -> dict[str, str]:
    return {"for": user["name"], "audit": note}


@app.get("/report-fresh", dependencies=[Depends(require_pro)])
async def report_fresh(user: Annotated[dict[str, str], Depends(fresh_user)]) -> dict[str, str]:
    return {"for": user["name"]}


# --8<-- [end:cache]


# --8<-- [start:tests]
client = TestClient(app)


def test_three_dependents_one_lookup_per_request() -> None:
    lookups.clear()
    for _ in range(2):
        assert client.get("/report", headers={"X-User": "ada"}).status_code == 200
    assert lookups == ["ada", "ada"]  # once per request, for the endpoint and both dependencies


def test_use_cache_false_calls_it_again() -> None:
    lookups.clear()
    assert client.get("/report-fresh", headers={"X-User": "ada"}).status_code == 200
    assert lookups == ["ada", "ada"]  # once for require_pro, once more for fresh_user


# --8<-- [end:tests]


def test_a_dependency_can_refuse_the_request() -> None:
    response = client.get("/report", headers={"X-User": "bob"})
    assert response.status_code == 403
