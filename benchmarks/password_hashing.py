"""What hashing a password costs, next to hashing an API key and signing a token.

Module 5's lesson quotes these figures. Measured, each as the median of `--repeats` runs:

- pwdlib's recommended hasher (argon2id with argon2-cffi's defaults): one `hash`, one `verify`,
  in wall-clock time and in CPU time. argon2 spreads one hash over `p` threads (4 by default), so
  CPU time, summed over those threads, is what a busy server runs out of;
- the logins per second that allows: the CPU-time bound (`cores / CPU seconds per verify`), and
  a measured one, `--logins` verifies through a pool of one thread per core, as a server's
  thread pool would run them;
- for scale: SHA-256 of an API key (32 random bytes, URL-safe), bcrypt when it is installed (it
  is not a dependency of the course), and PyJWT's HS256 encode and decode.

Other work on the machine inflates wall-clock times much more than CPU times: the load average is
printed at the start and the end, beside the figures. Run:

    .venv/bin/python benchmarks/password_hashing.py [--repeats 15] [--logins 24]
"""

import argparse
import hashlib
import importlib.metadata
import os
import platform
import secrets
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash

PASSWORD = "correct horse battery staple"
JWT_SECRET = secrets.token_bytes(32)


def costs(function: Callable[[], object], calls: int, repeats: int) -> tuple[float, float, float]:
    """Median wall time, median CPU time (all threads) and fastest wall time of one call, in
    seconds, each run making `calls` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            function()
        walls.append((time.perf_counter() - wall) / calls)
        cpus.append((time.process_time() - cpu) / calls)
    return statistics.median(walls), statistics.median(cpus), min(walls)


def logins_per_second(verify: Callable[[], object], logins: int, workers: int) -> float:
    """`logins` verifies through a pool of `workers` threads: argon2 releases the GIL."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        start = time.perf_counter()
        list(pool.map(lambda _: verify(), range(logins)))
        return logins / (time.perf_counter() - start)


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def operations(password_hash: PasswordHash, stored: str) -> dict[str, tuple[Callable, int]]:
    """Each operation, and how many calls make one run of it."""
    measured: dict[str, tuple[Callable, int]] = {
        "argon2id hash": (lambda: password_hash.hash(PASSWORD), 1),
        "argon2id verify": (lambda: password_hash.verify(PASSWORD, stored), 1),
    }
    if version("bcrypt") != "not installed":
        from pwdlib.hashers.bcrypt import BcryptHasher

        bcrypt = BcryptHasher()
        bcrypt_hash = bcrypt.hash(PASSWORD)
        measured["bcrypt verify, pwdlib's default cost"] = (
            lambda: bcrypt.verify(PASSWORD, bcrypt_hash),
            1,
        )
    api_key = ("mtr_" + secrets.token_urlsafe(32)).encode()
    measured["SHA-256 of an API key"] = (lambda: hashlib.sha256(api_key).hexdigest(), 10_000)
    now = datetime.now(UTC)
    claims = {"sub": "ada", "iat": now, "exp": now + timedelta(minutes=15), "jti": "x" * 22}
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    required = {"require": ["exp", "iat", "sub", "jti"]}
    measured["JWT encode, HS256"] = (lambda: jwt.encode(claims, JWT_SECRET, "HS256"), 2_000)
    measured["JWT decode, HS256, claims required"] = (
        lambda: jwt.decode(token, JWT_SECRET, ["HS256"], options=required),
        2_000,
    )
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="runs per figure")
    parser.add_argument("--logins", type=int, default=24, help="verifies for the measured rate")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(
        f"Python {platform.python_version()}, pwdlib {version('pwdlib')}, "
        f"argon2-cffi {version('argon2-cffi')}, argon2-cffi-bindings "
        f"{version('argon2-cffi-bindings')}, PyJWT {version('pyjwt')}, "
        f"bcrypt {version('bcrypt')}; {cores} CPUs"
    )
    print(f"Load average at start: {load()}\n")

    password_hash = PasswordHash.recommended()
    stored = password_hash.hash(PASSWORD)
    assert password_hash.verify(PASSWORD, stored)
    print(f"argon2 parameters: {stored[: stored.index('$', stored.index('m='))]}\n")

    measured = operations(password_hash, stored)
    width = max(map(len, measured))
    print(f"  {'operation':<{width}} {'wall':>10} {'CPU':>10} {'fastest':>10}")
    cpu_times = {}
    for name, (function, calls) in measured.items():
        wall, cpu_times[name], fastest = costs(function, calls, args.repeats)
        print(f"  {name:<{width}} {show(wall):>10} {show(cpu_times[name]):>10} {show(fastest):>10}")

    bound = cores / cpu_times["argon2id verify"]
    rate = logins_per_second(measured["argon2id verify"][0], args.logins, cores)
    print(f"\nLogins per second on {cores} cores, argon2id verify only:")
    print(f"  bound by CPU time ({cores} / CPU time per verify): {bound:.1f}")
    print(f"  measured, {args.logins} verifies on {cores} threads: {rate:.1f}")
    print(f"\nLoad average at end: {load()}")


def load() -> str:
    return " ".join(f"{average:.2f}" for average in os.getloadavg())


def show(seconds: float) -> str:
    """Milliseconds for slow operations, microseconds for fast ones."""
    return f"{seconds * 1e3:.1f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.2f} µs"


if __name__ == "__main__":
    main()
