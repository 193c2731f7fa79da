"""``GET /checkpoint?origin=<origin>``: the latest checkpoint this witness cosigned for a log,
with its cosignature, and on a final its finality statement too (crypto/cosignature.py; our
addition to C2SP tlog-witness; issue 24, attack 2).

The threat: guardians and monitors otherwise see a log only through the service, which holds
the log keys. A service can answer 404 for a round, leave it out of ``/units``, or show an
older checkpoint, so that a guardian remembers nothing of the round and can later be shown a
fork as its "final". A witness has no reason to hide what it cosigned: it serves it, so that a
guardian can fetch each log's checkpoints from the witnesses directly and compare them with
what the service shows (tally_service/guardian/watch.py).

The answer is the signed checkpoint note the witness stored (the log's signature, and the
commission's on a final), with one cosignature line of this witness appended (replacing any
line of its own the service had left on the note it sent; on a note stuffed to the note's
bounds, lines of other keys give way, never the log's or its own): anyone checks it
with the log key and the witness's key from the sealed manifest. The line is made on the first
read after the state changed and kept until it changes again, so reads cost no signing.
Cosigning here gives nobody anything new: anyone may submit the latest checkpoint again to
``add-checkpoint`` (with ``old`` equal to its size) and get a fresh cosignature on it; checkpoints
older than the latest are never cosigned again, here or there.

- 200 ``text/plain``: the note with the cosignature line;
- 400 ``witness-malformed``: no ``origin`` parameter;
- 404 ``witness-unknown-log``: this witness does not watch that log;
- 404 ``witness-no-checkpoint``: it watches it but has cosigned nothing for it yet;
- 503 ``witness-rolled-back``: it saw that its state was restored from an older copy
  (tally_service/common/rollback.py) and answers nothing more.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from crypto.cosignature import is_final
from crypto.note import (
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    NoteSignature,
    NoteVerifier,
    parse_note,
)
from tally_service.witness.core import Answer, Witness, _refuse


def _with_own_lines(
    text: str,
    signatures: Sequence[NoteSignature],
    mine: list[NoteSignature],
    log: NoteVerifier,
) -> str:
    """The note ``text`` with the log's lines, then the other lines the note's bounds leave room
    for (in their order), then this witness's ``mine``.

    A note the service sent again may carry this witness's earlier lines: one line per key, so
    those are replaced, as note.add_signatures does. A note stuffed to its bounds (the most
    lines, or the most bytes) would not take one line more: the lines of keys this witness does
    not know give way, never the log's signature or its own."""
    own = {(m.name, m.key_hash) for m in mine}
    is_log = [(s.name, s.key_hash) == (log.name, log.key_hash) for s in signatures]
    kept = [s.line() for s, ok in zip(signatures, is_log, strict=True) if ok]
    tail = "".join(m.line() for m in mine)
    budget = MAX_NOTE_SIZE - len((text + "\n" + "".join(kept) + tail).encode("utf-8"))
    slots = MAX_SIGNATURES - len(kept) - len(mine)
    for sig, ok in zip(signatures, is_log, strict=True):
        line = sig.line()
        cost = len(line.encode("utf-8"))
        if ok or (sig.name, sig.key_hash) in own or slots < 1 or cost > budget:
            continue
        kept.append(line)
        budget -= cost
        slots -= 1
    note = text + "\n" + "".join(kept) + tail
    parse_note(note)  # within the bounds by construction
    return note


class LatestCheckpoints:
    """The read side of one witness: its latest cosigned checkpoint per log."""

    def __init__(self, witness: Witness) -> None:
        self.witness = witness
        self._lock = threading.Lock()
        self._served: dict[str, tuple[int, str]] = {}  # origin -> (state seq, answer)

    def answer(self, origin: str | None) -> Answer:
        if not origin:
            return _refuse(400, "malformed", "give the log's origin: GET /checkpoint?origin=...")
        if self.witness.rolled_back is not None:  # it can no longer vouch for its state
            return _refuse(503, "rolled-back", self.witness.rolled_back)
        if origin not in self.witness.logs:
            return _refuse(404, "unknown-log", f"this witness does not watch {origin[:200]!r}")
        stored = self.witness.latest(origin)
        if stored is None:
            return _refuse(404, "no-checkpoint", f"this witness has cosigned nothing of {origin}")
        with self._lock:
            served = self._served.get(origin)
            if served is None or served[0] != stored.seq:
                from crypto.checkpoint import Checkpoint

                parsed = parse_note(stored.note)
                checkpoint = Checkpoint.parse(parsed.text)
                now = int(self.witness.clock())
                mine = [self.witness.cosigner.cosign(checkpoint, now)]
                if is_final(checkpoint):  # stored only once it passed the final's checks
                    mine.append(self.witness.cosigner.cosign_final(checkpoint, now))
                note = _with_own_lines(parsed.text, parsed.signatures, mine,
                                       self.witness.logs[origin])
                served = (stored.seq, note)
                self._served[origin] = served
        return Answer(200, "text/plain; charset=utf-8", served[1])
