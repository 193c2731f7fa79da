"""Child programs that do not outlive the process that started them.

The demo, the tests and the benchmarks start servers, witnesses and guardians as programs of
their own. Stopped by Ctrl-C or SIGTERM they stop them; killed by SIGKILL they cannot, and the
children used to run on as orphans. A child started with ``child_env()`` watches its parent
and stops as on SIGTERM once it is gone (``exit_with_parent_if_asked``, run by
``tally-service``'s command line before any command).
"""

from __future__ import annotations

import os
import signal
import threading
import time

PARENT_ENV = "KZ_TALLY_EXIT_WITH_PARENT"


def child_env() -> dict[str, str]:
    """The environment of a child program that must not outlive this process (see
    ``exit_with_parent_if_asked``)."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", PARENT_ENV: str(os.getpid())}


def exit_with_parent_if_asked() -> None:
    """In a program started with ``child_env``: once the process that started it is gone, even
    killed by SIGKILL, stop as on SIGTERM (a server drains and exits). Without it, a demo or a
    test killed hard left its servers and witnesses running. The variable is not passed on."""
    wanted = os.environ.pop(PARENT_ENV, "")
    if not wanted.isdigit() or int(wanted) != os.getppid():
        return
    parent = int(wanted)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
