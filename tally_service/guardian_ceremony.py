"""The guardian's side of the key ceremony: what ``tally-service guardian ceremony`` does.

The guardian trusts nothing the board says: it checks the guardian list against fingerprints it
was given out of band (phase 0) and pins it; it re-checks every message on the board (identity
signatures, bindings, reveals against commitments, proofs) before acting on it; and it computes
QUAL, the joint key and the transcript hash itself before it confirms them.

``CeremonyParty.step`` looks at the board's current view and returns the messages this
guardian should post now. Everything it needs later (its polynomial and public record, the
shares it received, its key share) is sealed into G *before* the message that depends on it is
returned, so a guardian killed at any point resumes from G with the same polynomial: it never
reveals a record other than the one it committed to.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from crypto.canonical import hex_decode
from crypto.ceremony import (
    PHASES,
    CeremonyError,
    Header,
    accused,
    build_transcript,
    check_message,
    commit_hash,
    decrypt_share,
    encrypt_share,
    fingerprint_digits,
    fingerprint_of,
    list_hash,
    outcome_of,
    share_aad,
    sign_message,
)
from crypto.group import Point, Scalar, base_mul
from crypto.guardians import GuardianSecret, record_commitments, verify_share
from tally_service.guardian_identity import GuardianDir
from tally_service.guardian_state import GuardianState


class CeremonyRefusal(Exception):
    """The guardian stops: the list, the board or the outcome is not what it should be."""


FingerprintSource = Callable[[dict[str, Any]], str]


def check_fingerprints(
    members: list[dict[str, Any]], me: int, given: set[str] | FingerprintSource
) -> None:
    """Phase 0: every other guardian's keys in the list match a fingerprint given out of band
    (a set read from a file, or a function that asks for one guardian's)."""
    for member in members:
        if member["index"] == me:
            continue
        listed = fingerprint_of(member["identity_key"], member["share_key"])
        if isinstance(given, set):
            ok = fingerprint_digits(listed) in given
        else:
            ok = fingerprint_digits(given(member)) == fingerprint_digits(listed)
        if not ok:
            raise CeremonyRefusal(
                f"phase 0: the list gives guardian {member['index']} ({member['name']}) keys "
                f"with fingerprint {listed}, which is not the one they gave you out of band: "
                "the list may have been tampered with; do not go on, tell the commission"
            )


def read_fingerprints(text: str) -> set[str]:
    """One fingerprint per line; anything before a colon is a name; '#' starts a comment."""
    found = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        value = fingerprint_digits(line.rsplit(":", 1)[-1]) if line.strip() else ""
        if value:
            found.add(value)
    return found


class CeremonyParty:
    def __init__(self, gdir: GuardianDir, fingerprints: set[str] | FingerprintSource) -> None:
        self.gdir = gdir
        self.fingerprints = fingerprints
        self.done = False
        self.confirmed: dict[str, Any] | None = None
        self._verified: set[str] = set()

    # -- where things live in G ---------------------------------------------------------------
    def _base(self, election_id: str) -> str:
        if "/" in election_id or election_id.startswith("."):
            raise CeremonyRefusal(f"refusing the election id {election_id!r}")
        return f"ceremony/{election_id}"

    def _attempt(self, header: Header) -> str:
        return f"{self._base(header.election_id)}/attempt-{header.attempt}"

    # -- phase 0 and the header -----------------------------------------------------------------
    def header(self, view: Mapping[str, Any]) -> tuple[Header, int]:
        if view.get("status") == "failed":
            raise CeremonyRefusal(f"the board reports: {view.get('failure')}")
        members = view["guardians"]
        me = next(
            (m["index"] for m in members if m["identity_key"] == self.gdir.public["identity_key"]),
            None,
        )
        if me is None:
            raise CeremonyRefusal("your identity key is not in the guardian list")
        if members[me - 1]["share_key"] != self.gdir.public["share_key"]:
            raise CeremonyRefusal("the list gives you a share key that is not yours")
        header = Header(
            view["election_id"], view["k"], members, view["attempt"], view["participants"]
        )
        pinned_path = f"{self._base(header.election_id)}/list.json"
        pinned = self.gdir.read_json(pinned_path)
        if pinned is None:
            check_fingerprints(members, me, self.fingerprints)
            self.gdir.write_json(
                pinned_path,
                {
                    "election_id": header.election_id,
                    "k": header.k,
                    "guardians": members,
                    "guardian_list": header.list_hash.hex(),
                },
            )
        elif pinned["guardian_list"] != header.list_hash.hex():
            raise CeremonyRefusal(
                "the guardian list is not the one you confirmed in phase 0 "
                f"({self.gdir.path / pinned_path}): stop and tell the commission"
            )
        if header.list_hash != list_hash(header.election_id, header.k, members):
            raise CeremonyRefusal("the list hash does not match")  # pragma: no cover
        if me not in header.participants:
            raise CeremonyRefusal(f"you take no part in attempt {header.attempt}")
        return header, me

    def _bodies(self, header: Header, view: Mapping[str, Any]) -> dict[str, dict[int, Any]]:
        """Every message on the board, each checked as the board should have."""
        board: dict[str, dict[int, Any]] = {}
        for phase in PHASES:
            board[phase] = {}
            for message in view["messages"][phase]:
                try:
                    guardian, body = check_message(header, phase, message, board)
                except CeremonyError as exc:
                    raise CeremonyRefusal(
                        f"the board holds a message it should refuse: {exc}"
                    ) from exc
                board[phase][guardian] = body
        return board

    # -- the polynomial ---------------------------------------------------------------------
    def _secret(
        self, header: Header, me: int, create: bool
    ) -> tuple[GuardianSecret, dict[str, Any]] | None:
        base = self._attempt(header)
        data = self.gdir.read_sealed(f"{base}/polynomial.sealed")
        record = self.gdir.read_json(f"{base}/record.json")
        if data is not None and record is not None:
            return GuardianSecret.import_secret(me, data), record
        if not create:
            return None
        secret = GuardianSecret.generate(me, header.k)
        record = secret.public_record(header.context)
        # the polynomial and its record are durable before their commitment leaves G
        self.gdir.write_sealed(f"{base}/polynomial.sealed", secret.export_secret())
        self.gdir.write_json(f"{base}/record.json", record)
        return secret, record

    def _sign(self, header: Header, me: int, phase: str, body: dict[str, Any]) -> dict[str, Any]:
        return sign_message(
            self.gdir.identity,
            header.election_id,
            header.list_hash,
            header.attempt,
            phase,
            me,
            body,
        )

    # -- one step --------------------------------------------------------------------------
    def step(self, view: Mapping[str, Any]) -> list[dict[str, Any]]:
        header, me = self.header(view)
        board = self._bodies(header, view)
        phase = view["phase"]
        held = self._secret(header, me, create=phase == "commit" and me not in board["commit"])
        if held is None:
            raise CeremonyRefusal(
                f"the board is past phase commit of attempt {header.attempt} but G holds no "
                "polynomial for it: wait for a new attempt"
            )
        secret, record = held
        if phase == "commit" and me not in board["commit"]:
            return [self._sign(header, me, "commit", {"hash": commit_hash(record)})]
        if me in board["commit"] and board["commit"][me]["hash"] != commit_hash(record):
            raise CeremonyRefusal("the board holds a commitment of yours that G does not")
        if phase == "reveal" and me not in board["reveal"]:
            return [self._sign(header, me, "reveal", {"record": record})]
        if phase == "shares" and me not in board["shares"]:
            if set(board["reveal"]) != set(header.participants):
                raise CeremonyRefusal("phase shares began before every guardian revealed")
            boxes = {
                str(j): encrypt_share(
                    secret.share_for(j),
                    header.members[j - 1]["share_key"],
                    share_aad(header.election_id, header.list_hash, header.attempt, me, j),
                )
                for j in header.participants
                if j != me
            }
            return [self._sign(header, me, "shares", {"shares": boxes})]
        if phase == "complaints" and me not in board["complaints"]:
            received = self._receive(header, me, board)
            against = sorted(int(d) for d, s in received.items() if s is None)
            return [self._sign(header, me, "complaints", {"against": against})]
        if phase == "answers" and me in accused(board) and me not in board["answers"]:
            revealed = {
                str(j): secret.share_for(j).hex()
                for j, body in sorted(board["complaints"].items())
                if me in body["against"]
            }
            return [self._sign(header, me, "answers", {"revealed": revealed})]
        if phase == "confirm" and me not in board["confirm"]:
            return [self._confirm(header, me, secret, board, view)]
        if phase == "done":
            self.done = True
            self.confirmed = self.gdir.read_json(f"{self._attempt(header)}/confirmed.json")
            if self.confirmed is not None:  # the pins every later decryption is checked against
                GuardianState(self.gdir.path / "state").pin_ceremony(
                    header.election_id,
                    self.confirmed["joint_key"],
                    self.confirmed["transcript_hash"],
                )
        return []

    def _receive(
        self, header: Header, me: int, board: dict[str, dict[int, Any]]
    ) -> dict[str, str | None]:
        """Open and check the share each dealer sent; sealed into G before complaining."""
        path = f"{self._attempt(header)}/received.sealed"
        stored = self.gdir.read_sealed(path)
        if stored is not None:
            kept: dict[str, str | None] = json.loads(stored)
            return kept
        received: dict[str, str | None] = {}
        for dealer, body in sorted(board["shares"].items()):
            if dealer == me:
                continue
            aad = share_aad(header.election_id, header.list_hash, header.attempt, dealer, me)
            share = decrypt_share(body["shares"].get(str(me)), self.gdir.share_private, aad)
            commitments = record_commitments(board["reveal"][dealer]["record"])
            if share is not None and not verify_share(share, me, commitments):
                share = None
            received[str(dealer)] = None if share is None else share.hex()
        self.gdir.write_sealed(path, json.dumps(received).encode())
        return received

    def _confirm(
        self,
        header: Header,
        me: int,
        secret: GuardianSecret,
        board: dict[str, dict[int, Any]],
        view: Mapping[str, Any],
    ) -> dict[str, Any]:
        for phase in ("commit", "reveal", "shares", "complaints"):
            if set(board[phase]) != set(header.participants):
                raise CeremonyRefusal(f"the board asks for confirmations before every {phase}")
        outcome = outcome_of(header, board)
        if me not in outcome.qual:
            why = next(d for d in outcome.disqualified if d["guardian"] == me)
            raise CeremonyRefusal(
                f"you were disqualified: {why['reason']} (complaint by {why['complainant']})"
            )
        received = self._receive(header, me, board)
        total = Scalar.zero()
        for dealer in outcome.qual:
            if dealer == me:
                share = secret.share_for(me)
            elif received.get(str(dealer)) is not None:
                share = Scalar.from_bytes(hex_decode(str(received[str(dealer)]), 32))
            else:  # the complaint was answered with a valid share, revealed in public
                share = Scalar.from_bytes(
                    hex_decode(board["answers"][dealer]["revealed"][str(me)], 32)
                )
            total = total + share
        if base_mul(total) != Point.from_hex(outcome.public_shares[str(me)]):
            raise CeremonyRefusal("your key share does not match the public commitments")
        messages = {p: {m["payload"]["guardian"]: m for m in view["messages"][p]} for p in PHASES}
        transcript = build_transcript(header, messages, board)
        base = self._attempt(header)
        self.gdir.write_sealed(
            f"{base}/key-share.sealed",
            json.dumps(
                {"election_id": header.election_id, "guardian": me, "secret_share": total.hex()}
            ).encode(),
        )
        confirmed = {
            "election_id": header.election_id,
            "attempt": header.attempt,
            "guardian": me,
            "guardian_list": header.list_hash.hex(),
            "qual": outcome.qual,
            "joint_key": transcript["joint_key"],
            "transcript_hash": transcript["transcript_hash"],
        }
        self.gdir.write_json(f"{base}/confirmed.json", confirmed)
        self.gdir.write_json(f"{self._base(header.election_id)}/current.json", confirmed)
        return self._sign(
            header,
            me,
            "confirm",
            {
                "joint_key": transcript["joint_key"],
                "transcript_hash": transcript["transcript_hash"],
            },
        )


def read_key_share(gdir: GuardianDir, election_id: str) -> tuple[dict[str, Any], Scalar]:
    """The ceremony this guardian confirmed last for the election, and its key share."""
    base = f"ceremony/{election_id}"
    confirmed = gdir.read_json(f"{base}/current.json")
    if confirmed is None:
        raise CeremonyRefusal(f"G holds no key share for election {election_id!r}")
    data = gdir.read_sealed(f"{base}/attempt-{confirmed['attempt']}/key-share.sealed")
    if data is None:
        raise CeremonyRefusal("G's key share file is missing")
    share = json.loads(data)
    return confirmed, Scalar.from_bytes(hex_decode(share["secret_share"], 32))


def run_over_http(
    party: CeremonyParty,
    get_view: Callable[[], dict[str, Any]],
    post: Callable[[dict[str, Any]], Any],
    say: Callable[[str], None],
    poll_seconds: float = 0.5,
    give_up_seconds: float = 24 * 3600,
) -> dict[str, Any]:
    """Poll the board, post what ``step`` returns, until the ceremony is done."""
    began = time.monotonic()
    last_phase = None
    while True:
        view = get_view()
        if view["phase"] != last_phase:
            say(f"attempt {view['attempt']}: phase {view['phase']}")
            last_phase = view["phase"]
        for message in party.step(view):
            post(message)
            say(f"posted my {message['payload']['phase']} message")
        if party.done:
            assert party.confirmed is not None
            return party.confirmed
        if time.monotonic() - began > give_up_seconds:
            raise CeremonyRefusal("the ceremony did not end in time")
        time.sleep(poll_seconds)


__all__ = [
    "CeremonyParty",
    "CeremonyRefusal",
    "check_fingerprints",
    "read_fingerprints",
    "read_key_share",
    "run_over_http",
]
