"""A witness restarted from an older copy of its state (issue 24, attack 9): what it can detect.

The threat: everything a witness promises rests on its state, the latest checkpoint it cosigned
per log. Restored from a backup or a disk snapshot, the state forgets what the witness cosigned
since, and the witness then cosigns a fork of those checkpoints with the same key: with the f
colluders the policy tolerates, both histories of a log reach the quorum. **Restoring a
witness's state from a backup or snapshot is therefore a compromise of its key**: a restored
witness must get a new key (``tally-service witness keygen``) and a new, empty state directory,
and the old key must not cosign again (docs/architecture.md, "Witnesses").

What ``witness serve`` checks at start, and refuses with a message saying the above:

- **A key and a state that do not belong together.** The state directory holds
  ``witness-id.json`` (``{"vkey", "state_id"}``, a random id written once) and the key file has a
  *marker* beside it, ``<key file>.marker`` (``{"vkey", "state_id", "generation"}``). A state of
  another key, a marker of another key, a marker naming another state directory, a state
  directory that lost its id (emptied or replaced) while the key's marker says it cosigned, or a
  bound state whose key lost its marker: each is refused.
- **A state older than the marker.** The state's *generation* is the sum of its logs' sequence
  numbers, which grows by one with every update; the marker records it after each update, once
  the state is on disk. A copy of the state taken earlier has a smaller generation. The marker is
  written atomically and durably (tally_service/common/durable.py: a temporary file fsync'd,
  renamed over it, the directory fsync'd): a power cut leaves the old marker or the new one,
  never an empty or torn one, so it may lag the state by the one update it was cut in
  (accepted), never run ahead of it, and no older marker reappears to let a restored state
  pass. A marker found empty or torn all the same (a disk that lied about its writes, or an
  edit) says nothing of what the key cosigned: it is refused as a restore would be.

And while it serves:

- **Its own cosignature on a checkpoint larger than its state.** A submitted note that carries a
  valid line of this witness's key (a cosignature, or a finality statement its state does not
  know) on a checkpoint larger than the one it remembers is proof that its state went back. It
  refuses that request and every later one (503 ``witness-rolled-back``), and writes
  ``ROLLED-BACK`` into its state directory so that a restart refuses as well.

What no local check sees: a restore of the key, its marker and the state together (a snapshot of
the whole machine), or a copy restored after the last marker update was lost with its disk.
Those stay an operator's promise, which is why the restore itself must rotate the key.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tally_service.common.durable import write_durably

BINDING_FILE = "witness-id.json"
LATCH_FILE = "ROLLED-BACK"
ROTATE = (
    "restoring a witness's state from a backup or snapshot is a compromise of its key: make a "
    "new key (tally-service witness keygen) and a new, empty state directory, and give the new "
    "vkey to the commission"
)


class StateRollback(Exception):
    """The witness's key and state do not belong together, or its state went back in time."""


def marker_path(key_file: Path) -> Path:
    """The marker kept beside a witness's key file."""
    return key_file.with_name(key_file.name + ".marker")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StateRollback(f"{path} is unreadable ({exc}); {ROTATE}") from exc
    try:
        raw = json.loads(text)
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        what = "empty" if not text.strip() else "torn or not a witness id or marker"
        raise StateRollback(
            f"{path} is {what}: it no longer says what this key cosigned (a crash, a disk "
            f"that lost writes, or an edit), so treat it as a restore: {ROTATE}"
        )
    return raw


def _write(path: Path, value: dict[str, Any]) -> None:
    """Atomically and durably (module docstring): a marker lost or torn by a power cut would
    stop the witness, and one that lagged would let an older state pass."""
    write_durably(path, json.dumps(value, sort_keys=True) + "\n")


def check_latch(state_dir: Path) -> None:
    """Refuse to start a witness that once found its state rolled back."""
    latch = state_dir / LATCH_FILE
    if latch.exists():
        why = latch.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        raise StateRollback(f"{latch}: {why[0] if why else 'state rolled back'}; {ROTATE}")


def latch(state_dir: Path, why: str) -> None:
    """Remember, durably, that the state is known to be older than what the witness signed."""
    write_durably(state_dir / LATCH_FILE, why + "\n")


@dataclass
class StateGuard:
    """The binding of a witness's key (its marker) to its state directory (its id)."""

    marker: Path
    vkey: str
    state_id: str
    generation: int

    @classmethod
    def open(cls, state_dir: Path, marker: Path, vkey: str, generation: int) -> StateGuard:
        """Check that the key (``vkey``, whose marker is ``marker``) and the state directory
        (of ``generation``) belong together and the state is not older than the marker; then
        record the binding. Raises StateRollback (module docstring)."""
        check_latch(state_dir)
        binding = _read(state_dir / BINDING_FILE)
        mark = _read(marker)
        if binding is not None and binding.get("vkey") != vkey:
            raise StateRollback(
                f"the state directory {state_dir} belongs to another witness key; a witness's "
                f"key and state belong together. If this key's own state was lost, {ROTATE}"
            )
        if mark is not None and mark.get("vkey") != vkey:
            raise StateRollback(f"the marker {marker} is another key's; {ROTATE}")
        if mark is not None and binding is None:
            raise StateRollback(
                f"this key has cosigned from a state directory (marker {marker}), and "
                f"{state_dir} is not it: the witness would forget what it cosigned; {ROTATE}"
            )
        if binding is not None and mark is None:
            raise StateRollback(
                f"the state directory {state_dir} is bound to this key but the marker {marker} "
                f"beside the key is missing: move the marker with the key. If it was lost with "
                f"a restore, {ROTATE}"
            )
        if binding is not None and mark is not None:
            if binding.get("state_id") != mark.get("state_id"):
                raise StateRollback(
                    f"the marker {marker} names another state directory than {state_dir}; "
                    f"{ROTATE}"
                )
            seen = mark.get("generation")
            if type(seen) is not int or generation < seen:
                raise StateRollback(
                    f"the state in {state_dir} (generation {generation}) is older than what "
                    f"this key cosigned (generation {seen}, marker {marker}): it was restored "
                    f"from an older copy; {ROTATE}"
                )
        if binding is None:  # a new state (or one kept before markers existed)
            binding = {"vkey": vkey, "state_id": secrets.token_hex(16)}
            _write(state_dir / BINDING_FILE, binding)
        guard = cls(marker, vkey, str(binding["state_id"]), generation)
        guard.advance(generation)
        return guard

    def advance(self, generation: int) -> None:
        """Record the state's generation after an update is on disk (module docstring)."""
        self.generation = generation
        record = {"vkey": self.vkey, "state_id": self.state_id, "generation": generation}
        _write(self.marker, record)
