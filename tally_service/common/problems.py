"""RFC 9457 problem details: every refusal the service gives, with a stable type per check."""

from __future__ import annotations

from typing import Any

TYPE_BASE = "/problems/"


class Problem(Exception):
    """A refusal: turned into an ``application/problem+json`` answer by the HTTP layer and into
    one error line with a non-zero exit by the CLI."""

    def __init__(
        self,
        status: int,
        check: str,
        detail: str,
        title: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.retry_after = retry_after  # seconds, for a temporary refusal (503)
        self.check = check
        self.detail = detail
        self.title = title or check.replace("-", " ").capitalize()

    def to_json(self) -> dict[str, Any]:
        return {
            "type": TYPE_BASE + self.check,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "check": self.check,
        }


def bad_request(check: str, detail: str) -> Problem:
    return Problem(400, check, detail)


def not_found(check: str, detail: str) -> Problem:
    return Problem(404, check, detail)


def conflict(check: str, detail: str) -> Problem:
    return Problem(409, check, detail)


def unprocessable(check: str, detail: str) -> Problem:
    return Problem(422, check, detail)


def forbidden(check: str, detail: str) -> Problem:
    return Problem(403, check, detail)


def unavailable(check: str, detail: str, retry_after: int = 5) -> Problem:
    """A temporary refusal: nothing was recorded, the same request may succeed later."""
    return Problem(503, check, detail, retry_after=retry_after)
