"""What validating a realistic JSON body costs: lax or strict, parsed by `json` or by Pydantic.

The body is a library's order to a book supplier: a branch with its address, who asked for it,
and 50 order lines (ISBN, title, authors, quantity, price, format): about 10 KB of JSON. Each way
of validating it runs `--calls` times per run; every figure is the median of `--runs` runs, the
ways taking turns so that a noisy moment hits them alike. Ways:

- `json.loads` + `model_validate`: what FastAPI does with a request body (the parsed object is
  validated in Python mode), and what `Model.model_validate(response.json())` does;
- `model_validate_json`: Pydantic parses and validates the bytes in one pass, in Rust;
- for a bare JSON list of the 50 lines: a `TypeAdapter(list[Line])` built once, or on every call.

Strict models are the same models with `strict=True` in their config, the date relaxed by name
(JSON has no date type), as Module 4's lesson recommends. Run:

    .venv/bin/python benchmarks/validation_cost.py [--calls 2000] [--runs 7]
"""

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import Literal

import pydantic
import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


def build_models(strict: bool) -> tuple[type[BaseModel], type[BaseModel]]:
    """The order and its line, lax or strict: every nested model carries the config itself."""

    class Base(BaseModel):
        model_config = ConfigDict(strict=strict, extra="forbid")

    class Address(Base):
        street: str
        city: str
        postcode: str = Field(max_length=10)

    class Branch(Base):
        id: int
        name: str
        address: Address

    class Requester(Base):
        member_id: int
        name: str
        email: str

    class Line(Base):
        isbn: str = Field(pattern=r"^97[89][0-9]{10}$")
        title: str = Field(min_length=1, max_length=200)
        authors: list[str] = Field(min_length=1)
        quantity: int = Field(ge=1, le=100)
        unit_price: float = Field(gt=0)
        format: Literal["hardback", "paperback", "ebook", "audio"]
        notes: str | None = None

    class Order(Base):
        order_ref: str
        branch: Branch
        requested_by: Requester
        placed_on: date = Field(strict=False)
        priority: Literal["low", "normal", "urgent"]
        lines: list[Line] = Field(min_length=1, max_length=100)

    return Order, Line


def sample_lines(count: int = 50) -> list[dict]:
    formats = ["hardback", "paperback", "ebook", "audio"]
    return [
        {
            "isbn": f"978{n:010d}",
            "title": f"Essays on Library Science, Volume {n}",
            "authors": ["Margaret Hamilton", f"Author Number {n}"],
            "quantity": n % 5 + 1,
            "unit_price": 12.5 + n,
            "format": formats[n % 4],
            "notes": "replace the damaged copy" if n % 7 == 0 else None,
        }
        for n in range(count)
    ]


def sample_order() -> dict:
    return {
        "order_ref": "ACQ-2026-0042",
        "branch": {
            "id": 12,
            "name": "Central Library",
            "address": {"street": "1 Market Square", "city": "Leeds", "postcode": "LS1 1AA"},
        },
        "requested_by": {"member_id": 501, "name": "Ada Lovelace", "email": "ada@example.org"},
        "placed_on": "2026-03-01",
        "priority": "normal",
        "lines": sample_lines(),
    }


def per_call(function: Callable[[], object], calls: int) -> float:
    """Microseconds per call of `function`, over `calls` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls * 1e6


def ways() -> dict[str, Callable[[], object]]:
    raw_order = json.dumps(sample_order()).encode()
    raw_lines = json.dumps(sample_lines()).encode()
    lax_order, lax_line = build_models(strict=False)
    strict_order, strict_line = build_models(strict=True)
    lax_lines, strict_lines = TypeAdapter(list[lax_line]), TypeAdapter(list[strict_line])
    for model in (lax_order, strict_order):  # both accept the sample, so both do the full work
        model.model_validate(json.loads(raw_order))
        model.model_validate_json(raw_order)
    return {
        "order: json.loads alone": lambda: json.loads(raw_order),
        "order: json.loads + model_validate, lax": lambda: lax_order.model_validate(
            json.loads(raw_order)
        ),
        "order: json.loads + model_validate, strict": lambda: strict_order.model_validate(
            json.loads(raw_order)
        ),
        "order: model_validate_json, lax": lambda: lax_order.model_validate_json(raw_order),
        "order: model_validate_json, strict": lambda: strict_order.model_validate_json(raw_order),
        "list: json.loads + model_validate per item": lambda: [
            lax_line.model_validate(item) for item in json.loads(raw_lines)
        ],
        "list: json.loads + TypeAdapter.validate_python": lambda: lax_lines.validate_python(
            json.loads(raw_lines)
        ),
        "list: TypeAdapter.validate_json, lax": lambda: lax_lines.validate_json(raw_lines),
        "list: TypeAdapter.validate_json, strict": lambda: strict_lines.validate_json(raw_lines),
        "list: a new TypeAdapter per call, validate_json": lambda: TypeAdapter(
            list[lax_line]
        ).validate_json(raw_lines),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per way and run")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    measured = ways()
    size = len(json.dumps(sample_order()))
    print(
        f"Python {platform.python_version()}, pydantic {pydantic.VERSION}, "
        f"pydantic-core {pydantic_core.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start"
    )
    print(f"Order body: {size:,} bytes of JSON, 50 lines; median of {args.runs} runs\n")
    runs: dict[str, list[float]] = {name: [] for name in measured}
    for _ in range(args.runs):
        for name, function in measured.items():
            runs[name].append(per_call(function, args.calls))
    width = max(map(len, measured))
    print(f"  {'way':<{width}} {'µs/call':>9} {'spread':>15}")
    for name, results in runs.items():
        spread = f"{min(results):.0f}–{max(results):.0f}"
        print(f"  {name:<{width}} {statistics.median(results):>9.1f} {spread:>15}")
    print(f"\nLoad average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
