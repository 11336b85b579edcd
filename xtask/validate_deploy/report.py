"""The failures found so far: each is printed as it is found and counted at the end."""

from __future__ import annotations

failures: list[str] = []


def fail(message: str) -> None:
    failures.append(message)
    print(f"  FAIL {message}")
