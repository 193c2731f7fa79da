"""The background tasks' health: each failure is logged and counted, and the task carries on.

A task that fails (a full disk under the checkpointer, say) must not die: it retries on its next
turn and resumes by itself once the cause is gone. ``GET /api/v1/health`` shows the counts.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from tally_service.common import clock

log = logging.getLogger("tally_service.service.health")


@dataclass
class TaskHealth:
    runs: int = 0
    errors: int = 0
    failing: bool = False  # did the latest run fail?
    last_error: str | None = None
    last_error_at: str | None = None


class Health:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskHealth] = {}

    def _task(self, name: str) -> TaskHealth:
        return self._tasks.setdefault(name, TaskHealth())

    def ok(self, name: str) -> None:
        with self._lock:
            task = self._task(name)
            task.runs += 1
            if task.failing:
                log.info("task resumed", extra={"task": name})
            task.failing = False

    def failed(self, name: str, exc: BaseException) -> None:
        """Count and log a failed run (the error's type and message only: no data)."""
        with self._lock:
            task = self._task(name)
            task.runs += 1
            task.errors += 1
            task.failing = True
            task.last_error = f"{type(exc).__name__}: {exc}"
            task.last_error_at = clock.now()
        log.error("task failed", extra={"task": name, "error": task.last_error})

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            tasks = {
                name: {
                    "runs": t.runs,
                    "errors": t.errors,
                    "failing": t.failing,
                    "last_error": t.last_error,
                    "last_error_at": t.last_error_at,
                }
                for name, t in sorted(self._tasks.items())
            }
        failing = any(t["failing"] for t in tasks.values())
        return {"status": "degraded" if failing else "ok", "tasks": tasks}
