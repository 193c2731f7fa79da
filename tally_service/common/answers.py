"""Reading an answer from a service that may be hostile: at most so many bytes, within a deadline.

The threat: a guardian, the commission and an elector each read the service's answers, a
guardian and the service read witnesses' answers, and any of them may be hostile. ``requests``
reads a body whole, however long: an endless answer fills the reader's memory (a guardian that
runs out of memory watches nothing), and one trickled a byte at a time holds it forever, since
the read timeout counts the silence between two bytes, not the whole answer. So every answer
is read here:

- streamed, and refused (``AnswerRefused``, one line) past a cap chosen per kind of answer
  from what an honest answer can be (the caps below, each with how it was chosen);
- within a deadline for the whole answer, headers included: a watchdog thread shuts the
  connection's socket when it passes, which ends a read blocked on it;
- the record archive (``export --url``) is streamed to a file, never held in memory.

The caps bound the bytes held, not what ``json.loads`` builds from them: up to about 29 times
the text for a hostile array of empty objects, 3.7 GiB at the manifest's cap. So ``.json()`` of
an answer parses strictly (schemas/strict_json.py, as the observer's verifier does: no duplicate
keys, no NaN or infinities) and only within a parse budget derived from the answer's cap
(``parse_budget``): the cost is estimated from the bytes first, and past the budget the answer
is refused (``AnswerRefused``) unparsed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from crypto.note import MAX_LINE_SIZE, MAX_NOTE_SIZE
from schemas.limits import (
    MAX_ARCHIVE_BYTES,
    MAX_CEREMONY_BYTES,
    MAX_CHECKPOINTS_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_PAGE_BYTES,
    MAX_RESULT_BYTES,
    MAX_SMALL_JSON_BYTES,
    KiB,
    MiB,
)
from schemas.strict_json import MAX_JSON_COST, TooCostly, strict_loads
from tally_service.common.problems import Problem

CHUNK = 64 * KiB

# The caps are the verifier's bounds for the same documents (schemas/limits.py says how each
# was chosen): an answer the verifier would refuse in a record is refused here too.
#: A page of log entries. The largest unit of the 2023 Senate election (TUR, 317 electors,
#: scripts/data/senate2023.json) has 1.7 MiB of entries in all at 10 candidates.
MAX_ENTRIES_PAGE_BYTES = MAX_PAGE_BYTES
#: A row per unit: the units, the results.
MAX_LISTING_BYTES = MAX_RESULT_BYTES
#: A tally document, the turnout, a proof, a receipt, a commission action's answer.
MAX_DOCUMENT_BYTES = MAX_SMALL_JSON_BYTES
#: One checkpoint note, cosignatures included (crypto/note.py's bound).
MAX_NOTE_BYTES = MAX_NOTE_SIZE
#: A witness's answer to add-checkpoint (C2SP tlog-witness, read by the service): a few
#: signature lines (its cosignature and our finality statement; a witness rotating its key may
#: send one more per key), each at most a note's longest line (16 KiB, crypto/note.py); a 409's
#: body is a size, a refusal a problem document of a few hundred bytes.
MAX_WITNESS_ANSWER_BYTES = 4 * MAX_LINE_SIZE
#: The record archive, kept on disk: the verifier unpacks at most MAX_ARCHIVE_BYTES of a
#: record, and the gzip'd archive is smaller than what it unpacks to.
MAX_RECORD_ARCHIVE_BYTES = MAX_ARCHIVE_BYTES
#: What the archive may unpack to, and how many files it may hold (a record has a few files per
#: unit and round: thousands in an indirect election); each file's header is kept in memory.
MAX_RECORD_UNPACKED_BYTES = MAX_ARCHIVE_BYTES
MAX_RECORD_FILES = 200_000

#: The deadline for a whole answer is the read timeout (the service may think that long before
#: answering) plus the time its cap takes at this rate (2 Mbit/s, a poor mobile link): an honest
#: answer, far smaller than its cap, arrives well within it; a trickled one is cut off.
SLOWEST_LINK_BYTES_PER_SECOND = 256 * KiB


#: What parsing an answer may cost, per byte of its cap: the manifest's budget is then the
#: verifier's (MAX_JSON_COST, 768 MiB, which an honest 500,000-elector manifest fits), a small
#: document's 96 MiB. Honest answers are far below their caps, so far below their budgets, even
#: those dense with short keys (about 20 bytes of objects a byte); a hostile one at its cap can
#: cost at most this, whatever it holds.
PARSE_COST_PER_CAP_BYTE = MAX_JSON_COST // MAX_MANIFEST_BYTES


def parse_budget(cap: int) -> int:
    """The most memory ``.json()`` may take to parse an answer of at most ``cap`` bytes."""
    return cap * PARSE_COST_PER_CAP_BYTE


def cap_for(path: str) -> int:
    """The cap for the service's answer at ``path`` (under /api/v1, query excluded)."""
    path = path.split("?", 1)[0].rstrip("/")
    last = path.rsplit("/", 1)[-1]
    if path == "/manifest":
        return MAX_MANIFEST_BYTES
    if path.startswith("/ceremony"):
        return MAX_CEREMONY_BYTES
    if last == "entries":
        return MAX_ENTRIES_PAGE_BYTES
    if last == "checkpoints":
        return MAX_CHECKPOINTS_BYTES
    if last == "checkpoint":
        return MAX_NOTE_BYTES
    if path == "/units" or path.startswith("/results"):
        return MAX_LISTING_BYTES
    if path == "/record.tar.gz":
        return MAX_RECORD_ARCHIVE_BYTES
    return MAX_DOCUMENT_BYTES


def deadline(cap: int, read_timeout: float) -> float:
    """Seconds for a whole answer of at most ``cap`` bytes (SLOWEST_LINK_BYTES_PER_SECOND)."""
    return read_timeout + cap / SLOWEST_LINK_BYTES_PER_SECOND


def size_text(size: int) -> str:
    return f"{size // MiB} MiB" if size >= MiB else f"{size} bytes"


class AnswerRefused(Problem):
    """An answer larger than its cap, not whole by its deadline, or costlier to parse than its
    budget: not an honest answer."""

    def __init__(self, detail: str) -> None:
        super().__init__(502, "answer-refused", detail)


class Answer(requests.Response):
    """An answer ``fetch`` read: its ``.json()`` parses strictly and within the parse budget of
    the answer's cap, so that no caller can parse it unbounded by mistake."""

    shown: str  # "the service's answer to GET URL", for messages
    budget: int

    def json(self, **kwargs: Any) -> Any:
        """The answer's value; JSONProblem (a ValueError, as requests' ``.json()`` raises) if
        it is not strict JSON, AnswerRefused if parsing it would cost more than its budget."""
        try:
            return strict_loads(self.content, self.budget)
        except TooCostly as exc:
            raise AnswerRefused(
                f"{self.shown} would take about {exc.cost // MiB} MiB of memory to parse, more "
                f"than the {exc.max_cost // MiB} MiB an honest one can: it is refused (report "
                "the service)"
            ) from None


# --- the deadline: which connection a request uses, so that a watchdog can shut its socket ---

_current = threading.local()  # .watch: the _Watch of the request this thread is making


class _TrackedPool:
    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.connection = connection
        return connection


class _HTTPPool(_TrackedPool, HTTPConnectionPool):
    pass


class _HTTPSPool(_TrackedPool, HTTPSConnectionPool):
    pass


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose pools tell the current request's watch the connection used."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def bounded_session(session: requests.Session | None = None) -> requests.Session:
    """A session (new, or the one given) whose requests ``fetch`` can cut off at a deadline."""
    session = session or requests.Session()
    if hasattr(session, "mount"):
        session.mount("http://", _DeadlineAdapter())
        session.mount("https://", _DeadlineAdapter())
    return session


class _Watch:
    """Shuts the connection's socket once ``seconds`` have passed (and every half second
    after, in case it was not connected yet), until ``done``."""

    def __init__(self, seconds: float) -> None:
        self.connection: Any = None
        self.expired = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(seconds,), daemon=True)
        self._thread.start()

    def _run(self, seconds: float) -> None:
        if self._done.wait(seconds):
            return
        self.expired.set()
        while not self._done.is_set():
            sock = getattr(self.connection, "sock", None)
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._done.wait(0.5)

    def done(self) -> None:
        self._done.set()


@contextlib.contextmanager
def _watched(seconds: float) -> Iterator[_Watch]:
    watch = _Watch(seconds)
    _current.watch = watch
    try:
        yield watch
    finally:
        _current.watch = None
        watch.done()


def fetch(
    session: requests.Session,
    method: str,
    url: str,
    what: str,
    cap: int,
    timeout: tuple[float, float],
    sink: BinaryIO | None = None,
    **kw: Any,
) -> Answer:
    """``method url`` read to at most ``cap`` bytes within ``deadline(cap, read timeout)``:
    the response with its body read (``.content`` works, ``.json()`` within the cap's parse
    budget), or, with ``sink``, the body written there. AnswerRefused past the cap or the
    deadline; requests' exceptions for a connection that fails otherwise. ``what`` names the
    answer in messages ("the service's")."""
    seconds = deadline(cap, timeout[1])
    shown = f"{what} answer to {method} {url.split('?', 1)[0]}"
    too_late = AnswerRefused(
        f"{shown} did not arrive whole in {seconds:.0f} s: an honest one does; it is refused"
    )
    too_large = AnswerRefused(
        f"{shown} is larger than {size_text(cap)}: no honest one is; it is refused (is the "
        "address right? if so, report the service)"
    )
    # no Content-Encoding: the cap counts decoded bytes, and urllib3 before 2.6 decodes a whole
    # raw chunk at once through every encoding named (a 3 KiB "gzip, gzip" answer is 256 MiB
    # after one step); the service never compresses its answers
    headers = {**(kw.pop("headers", None) or {}), "Accept-Encoding": "identity"}
    with _watched(seconds) as watch:
        try:
            send = getattr(session, method.lower())  # session.get or .post, as a test wraps
            response: requests.Response = send(
                url, timeout=timeout, stream=True, headers=headers, **kw
            )
        except requests.RequestException as exc:
            if watch.expired.is_set():
                raise too_late from exc
            raise
        to_sink = sink is not None and response.status_code == 200
        if sink is not None and not to_sink:  # an error: a problem document, read to memory
            cap = min(cap, MAX_DOCUMENT_BYTES)
            too_large = AnswerRefused(f"{shown} (HTTP {response.status_code}) is larger than "
                                      f"{size_text(cap)}: no honest one is; it is refused")
        try:
            encoding = response.headers.get("Content-Encoding", "").strip().lower()
            if encoding not in ("", "identity"):
                raise AnswerRefused(
                    f"{shown} came compressed ({encoding[:40]}) although none was asked for: "
                    "it is refused (a proxy in front of the service must not compress answers)"
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:  # said up front: not read
                raise too_large
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_content(CHUNK):
                total += len(chunk)
                if total > cap:
                    raise too_large
                if to_sink:
                    assert sink is not None
                    sink.write(chunk)
                else:
                    chunks.append(chunk)
            if watch.expired.is_set():
                raise too_late
        except requests.RequestException as exc:
            response.close()
            if watch.expired.is_set():
                raise too_late from exc
            raise
        except BaseException:
            response.close()
            raise
    response._content = b"" if to_sink else b"".join(chunks)
    response._content_consumed = True  # type: ignore[attr-defined]
    # the same object, whose .json() is bounded (Answer adds a method and two attributes)
    response.__class__ = Answer
    assert isinstance(response, Answer)
    response.shown, response.budget = shown, parse_budget(cap)
    return response


def fetch_to_file(
    session: requests.Session, url: str, what: str, cap: int, timeout: tuple[float, float],
    path: Path,
) -> Answer:
    """GET ``url``: a 200 answer's body written into ``path`` (at most ``cap`` bytes, within
    fetch's deadline), any other answer read to memory as fetch does."""
    with open(path, "wb") as out:
        return fetch(session, "GET", url, what, cap, timeout, sink=out)
