"""The guardian's side of the key ceremony: what ``tally-service guardian ceremony`` does.

Threat: the board (the commission's service) shows the guardian what it likes: a list with one
guardian's keys twice (it would get two shares, with k = 2 the whole key), another n or k, other
witnesses, the reveal phase before every commitment is in, a phase with a dealer's shares
withheld, a new attempt each time it dislikes the joint key the reveals give; or it edits the
guardian's pinned list on disk; or it blames, as silent, the guardian that stopped because of
any of this.

So the guardian trusts nothing the board says. Phase 0: the list must name exactly the
guardians whose fingerprints it was given out of band, each under its own name, no key twice;
the *ceremony fingerprint* (election, n, k, the ordered list, the witnesses) must be the one the
guardians agreed on out of band; then it pins the parameters hash L, sealed in G. If it stops
there, it posts a signed objection (what it saw, why), which the board shows to all and keeps
in the record. It re-checks every message on the board (identity signatures, bindings, reveals
against commitments, proofs) before acting on it, reveals only once every participant has
committed (its reveal signs the set it saw), takes part in one attempt per run (a new attempt
is its person's decision, not the board's), complains only with every dealer's shares in view,
and computes QUAL (refusing one V2 would: fewer than k, or k not more than half of it), the
joint key and the transcript hash itself before it confirms them.

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
    MAX_ATTEMPT,
    PHASES,
    SILENT,
    CeremonyError,
    Header,
    accused,
    build_transcript,
    ceremony_fingerprint,
    ceremony_fingerprint_chars,
    check_message,
    check_objection,
    commit_hash,
    commit_set_hash,
    decrypt_share,
    encrypt_share,
    fingerprint_digits,
    fingerprint_of,
    list_hash,
    members_problem,
    outcome_of,
    qual_problem,
    share_aad,
    sign_message,
    sign_objection,
)
from crypto.group import Point, Scalar, base_mul
from crypto.guardians import GuardianSecret, record_commitments, verify_share
from schemas.ceremony import BoardViewSchema
from tally_service.guardian.identity import GuardianDir
from tally_service.guardian.state import GuardianState


class CeremonyRefusal(Exception):
    """The guardian stops: the list, the board or the outcome is not what it should be.

    ``objection``: the signed objection to post (phase 0), if the guardian could make one."""

    def __init__(self, message: str, objection: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.objection = objection


FingerprintSource = Callable[[dict[str, Any]], str]
#: The agreed ceremony fingerprint, or a function that asks for it given what the board shows.
CeremonyFingerprintSource = str | Callable[["_Shown"], str]


def check_fingerprints(
    members: list[dict[str, Any]], me: int, given: dict[str, str] | FingerprintSource
) -> None:
    """Phase 0: the list names exactly the guardians whose fingerprints were given out of band
    ({name: fingerprint} read from a file, or a function that asks for one guardian's), and
    each name's keys match that name's fingerprint."""
    if isinstance(given, dict):
        listed_names = [m["name"] for m in members]
        missing = sorted(set(given) - set(listed_names))
        extra = sorted(set(listed_names) - set(given))
        if missing or extra or len(listed_names) != len(given):
            raise CeremonyRefusal(
                "phase 0: the list does not name exactly the guardians you agreed on "
                + (f"(missing: {', '.join(missing)}) " if missing else "")
                + (f"(not agreed: {', '.join(extra)}) " if extra else "")
                + "; do not go on, tell the commission"
            )
    for member in members:
        if member["index"] == me and not isinstance(given, dict):
            continue
        listed = fingerprint_of(member["identity_key"], member["share_key"])
        if isinstance(given, dict):
            ok = given[member["name"]] == fingerprint_digits(listed)
        else:
            ok = fingerprint_digits(given(member)) == fingerprint_digits(listed)
        if not ok:
            raise CeremonyRefusal(
                f"phase 0: the list gives guardian {member['index']} ({member['name']}) keys "
                f"with fingerprint {listed}, which is not the one {member['name']} gave you "
                "out of band: the list may have been tampered with; do not go on, tell the "
                "commission"
            )


def read_fingerprints(text: str) -> dict[str, str]:
    """{name: fingerprint digits} from lines 'name: fingerprint' ('#' starts a comment): the
    agreed guardian list, yourself included. A line without a name, or a name twice, is an
    error (ValueError), not a guess."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0]
        if not line.strip():
            continue
        name, sep, value = line.rpartition(":")
        name, digits = name.strip(), fingerprint_digits(value)
        if not sep or not name or len(digits) != 32:
            raise ValueError(
                f"fingerprints line {number}: give 'name: fingerprint' (the name as the "
                "manifest lists it, then the guardian's 32 hex digits)"
            )
        if name in found:
            raise ValueError(f"fingerprints line {number}: {name!r} is listed twice")
        found[name] = digits
    if not found:
        raise ValueError("the fingerprints file lists no guardian")
    return found


class CeremonyParty:
    def __init__(
        self,
        gdir: GuardianDir,
        fingerprints: dict[str, str] | FingerprintSource,
        agreed: CeremonyFingerprintSource,
    ) -> None:
        self.gdir = gdir
        self.fingerprints = fingerprints
        self.agreed = agreed
        self.done = False
        self.confirmed: dict[str, Any] | None = None
        self._verified: set[str] = set()
        self._checked: bytes | None = None
        #: the attempt this run takes part in: one run of the program, one attempt
        self._attempt_taken: int | None = None

    # -- where things live in G ---------------------------------------------------------------
    def _base(self, election_id: str) -> str:
        if "/" in election_id or election_id.startswith("."):
            raise CeremonyRefusal(f"refusing the election id {election_id!r}")
        return f"ceremony/{election_id}"

    def _attempt(self, header: Header) -> str:
        return f"{self._base(header.election_id)}/attempt-{header.attempt}"

    # -- phase 0 and the header -----------------------------------------------------------------
    def header(self, view: Mapping[str, Any]) -> tuple[Header, int]:
        # (objections aside: the guardian shows those that check and ignores the rest,
        # run_over_http; they never stop it)
        errors = (
            BoardViewSchema(partial=("objections",)).validate(
                {f: v for f, v in view.items() if f != "objections"}
            )
            if isinstance(view, Mapping)
            else "not an object"
        )
        if errors:
            raise CeremonyRefusal(
                "the board's answer is not a ceremony view (schemas/ceremony.py): "
                + printable(str(errors))[:300]
            )
        if view.get("status") == "failed":
            raise CeremonyRefusal(f"the board reports: {printable(str(view.get('failure')))}")
        attempt = view.get("attempt")
        if (
            not isinstance(attempt, int)
            or isinstance(attempt, bool)
            or not 1 <= attempt <= MAX_ATTEMPT
        ):
            raise CeremonyRefusal(f"the board shows attempt {attempt!r}: not 1 to {MAX_ATTEMPT}")
        if self._attempt_taken is not None and attempt != self._attempt_taken:
            # Once the reveals are in, the board knows the joint key before anyone deals a
            # share; a board that starts attempts at will (no failure shown, nobody excluded)
            # draws a new key until it likes one. A new attempt is a person's decision.
            raise CeremonyRefusal(
                f"the board moved from attempt {self._attempt_taken} to attempt {attempt} "
                f"while you took part in attempt {self._attempt_taken}, without showing that "
                "it failed: a board that starts attempts at will can choose among the joint "
                "keys they give; ask the commission and the other guardians why, and run "
                "`guardian ceremony` again only for a new attempt they all know of"
            )
        members = view["guardians"]
        me = next(
            (m["index"] for m in members if m["identity_key"] == self.gdir.public["identity_key"]),
            None,
        )
        if me is None:
            raise CeremonyRefusal(
                "your identity key is not in the guardian list: do not go on, tell the "
                "commission and the other guardians"
            )
        try:
            self._phase_0(view, me)
            header = Header(
                view["election_id"],
                view["k"],
                members,
                view["attempt"],
                view["participants"],
                view.get("witnesses"),
            )
        except (CeremonyRefusal, CeremonyError) as exc:
            raise self._objecting(view, me, str(exc)) from exc
        if me not in header.participants:
            raise CeremonyRefusal(f"you take no part in attempt {header.attempt}")
        self._attempt_taken = header.attempt
        return header, me

    def _phase_0(self, view: Mapping[str, Any], me: int) -> None:
        """Everything the guardian agreed on out of band, checked before anything is sent."""
        members = view["guardians"]
        twice = members_problem(members)
        if twice is not None:
            raise CeremonyRefusal(f"phase 0: {twice}; do not go on, tell the commission")
        if members[me - 1]["share_key"] != self.gdir.public["share_key"]:
            raise CeremonyRefusal("the list gives you a share key that is not yours")
        if view["n"] != len(members):
            raise CeremonyRefusal(f"the board says n = {view['n']} but lists {len(members)}")
        seen = list_hash(view["election_id"], view["k"], members, view.get("witnesses"))
        fingerprint = ceremony_fingerprint(seen)
        if view.get("guardian_list") != seen.hex():
            raise CeremonyRefusal("the board's list hash is not the hash of what it shows")
        pinned_path = f"{self._base(view['election_id'])}/list.sealed"
        pinned_text = self.gdir.read_sealed(pinned_path)
        if pinned_text is not None and json.loads(pinned_text)["guardian_list"] != seen.hex():
            raise CeremonyRefusal(
                "the ceremony (guardian list, n, k or witnesses) is not the one you confirmed in "
                f"phase 0 ({self.gdir.path / pinned_path}): stop and tell the commission"
            )
        if self._checked == seen:  # this process checked these very parameters already
            return
        check_fingerprints(members, me, self.fingerprints)
        header = _Shown(view)
        agreed = self.agreed if isinstance(self.agreed, str) else self.agreed(header)
        if ceremony_fingerprint_chars(agreed) != ceremony_fingerprint_chars(fingerprint):
            raise CeremonyRefusal(
                f"phase 0: the board's ceremony (n = {len(members)}, k = {view['k']}, "
                f"{len(members)} guardians, {_witness_count(view)} witnesses) has the ceremony "
                f"fingerprint {fingerprint}, not the {agreed.strip()} the guardians agreed on: "
                "the guardian list, n, k or the witnesses differ from what was agreed; do not "
                "go on, tell the commission and the other guardians"
            )
        self._checked = seen  # (in memory: a prompt asks once per run, not at every poll)
        if pinned_text is None:
            self.gdir.write_sealed(
                pinned_path,
                json.dumps(
                    {
                        "election_id": view["election_id"],
                        "guardian_list": seen.hex(),
                        "ceremony_fingerprint": fingerprint,
                    }
                ).encode(),
            )

    def _objecting(self, view: Mapping[str, Any], me: int, reason: str) -> CeremonyRefusal:
        """The refusal, with a signed objection saying what the guardian saw and why it stops
        (also kept in G, to give out of band if the board does not show it)."""
        try:
            seen = list_hash(
                view["election_id"], view["k"], view["guardians"], view.get("witnesses")
            )
            objection = sign_objection(
                self.gdir.identity,
                view["election_id"],
                seen,
                view["attempt"],
                me,
                reason,
                ceremony_fingerprint(seen),
            )
            self.gdir.write_json(
                f"{self._base(view['election_id'])}/objection-{view['attempt']}.json", objection
            )
        except (CeremonyRefusal, CeremonyError, KeyError, TypeError, ValueError):
            return CeremonyRefusal(reason)
        return CeremonyRefusal(reason, objection)

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
            missing = [i for i in header.participants if i not in board["commit"]]
            if missing:
                raise CeremonyRefusal(
                    f"the board opened phase reveal before every participant committed (none "
                    f"from guardian {missing[0]}): revealing now would let that guardian choose "
                    "its polynomial after seeing yours; stop and tell the commission"
                )
            body = {"record": record, "commitments": commit_set_hash(board["commit"])}
            return [self._sign(header, me, "reveal", body)]
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
            missing = [i for i in header.participants if i not in board["shares"]]
            if missing:
                raise CeremonyRefusal(
                    f"the board opened phase complaints without guardian {missing[0]}'s shares "
                    "message: it is withholding a dealer's shares; not complaining yet, tell "
                    "the commission"
                )
            received = self._receive(header, me, board)
            against = sorted(int(d) for d, s in received.items() if s is None)
            return [self._sign(header, me, "complaints", {"against": against})]
        if phase == "answers" and me in accused(board) and me not in board["answers"]:
            revealed = {
                str(j): secret.share_for(j).hex()
                for j, body in sorted(board["complaints"].items())
                if me in body["against"]
            }
            answer = self._sign(header, me, "answers", {"revealed": revealed})
            # kept in G: should the board drop it and call this guardian silent, it proves
            # otherwise (``_left_out``)
            self.gdir.write_json(f"{self._attempt(header)}/answer.json", answer)
            return [answer]
        if phase == "confirm" and me not in board["confirm"]:
            return [self._confirm(header, me, secret, board, view)]
        if phase == "done":
            self.confirmed = self.gdir.read_json(f"{self._attempt(header)}/confirmed.json")
            if self.confirmed is None:  # it ended without this guardian: say why, not crash
                outcome = outcome_of(header, board)
                if me not in outcome.qual:
                    raise self._left_out(header, me, outcome)
                raise CeremonyRefusal(
                    f"attempt {header.attempt} ended without your confirmation: do not use its "
                    "key; tell the commission"
                )
            self.done = True
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

    def _left_out(self, header: Header, me: int, outcome: Any) -> CeremonyRefusal:
        """Why this guardian is not in QUAL. If it is blamed for not answering a complaint it
        did answer (the board dropped the answer), a signed objection that carries the shares
        it revealed: anyone can check them against its record (``resolve_complaint``)."""
        why = next(d for d in outcome.disqualified if d["guardian"] == me)
        said = f"you were disqualified: {why['reason']} (complaint by {why['complainant']})"
        if why["reason"] != SILENT:
            return CeremonyRefusal(said)
        path = f"{self._attempt(header)}/answer.json"
        answer = self.gdir.read_json(path)
        if answer is None:
            return CeremonyRefusal(
                f"{said}; G holds no answer of yours: if your program ran through the answers "
                "phase, the board never showed you the complaint; tell the commission"
            )
        revealed = answer["payload"]["body"]["revealed"]
        reason = (
            f"I answered in attempt {header.attempt}, revealing "
            + ", ".join(f"share {s} for guardian {j}" for j, s in sorted(revealed.items()))
            + "; the board did not show my answer and disqualified me as silent"
        )
        objection = sign_objection(
            self.gdir.identity,
            header.election_id,
            header.list_hash,
            header.attempt,
            me,
            reason,
            header.fingerprint,
        )
        self.gdir.write_json(
            f"{self._base(header.election_id)}/objection-{header.attempt}.json", objection
        )
        return CeremonyRefusal(
            f"{said}, but you answered: the board dropped your answer and blames you as "
            f"silent. Your signed answer is in {self.gdir.path / path}: give it to the other "
            "guardians and observers (it proves you answered); do not let the commission seal "
            "this attempt",
            objection,
        )

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
        reason = qual_problem(outcome.qual, header.k)
        if reason is not None:  # V2 refuses it; no k guardians could ever use such a key
            raise CeremonyRefusal(
                f"the board asks you to confirm an attempt that cannot hold the key: {reason}; "
                "not confirming, tell the commission"
            )
        if me not in outcome.qual:
            raise self._left_out(header, me, outcome)
        received = self._receive(header, me, board)
        total = Scalar.zero()
        for dealer in outcome.qual:
            if dealer == me:
                share = secret.share_for(me)
            elif received.get(str(dealer)) is not None:
                share = Scalar.from_bytes(hex_decode(str(received[str(dealer)]), 32))
            elif str(me) in board["answers"].get(dealer, {}).get("revealed", {}):
                # the complaint was answered with a valid share, revealed in public
                share = Scalar.from_bytes(
                    hex_decode(board["answers"][dealer]["revealed"][str(me)], 32)
                )
            else:
                raise CeremonyRefusal(
                    f"G holds no share from guardian {dealer}, you did not complain about it, "
                    "and it revealed none: this attempt cannot give you a key share; ask the "
                    "commission for a new attempt"
                )
            total = total + share
        if base_mul(total) != Point.from_hex(outcome.public_shares[str(me)]):
            raise CeremonyRefusal("your key share does not match the public commitments")
        messages = {p: {m["payload"]["guardian"]: m for m in view["messages"][p]} for p in PHASES}
        transcript = build_transcript(header, messages, board)
        if transcript["witnesses"] != view.get("witnesses"):  # pragma: no cover - in L
            raise CeremonyRefusal("the transcript's witnesses are not the board's")
        base = self._attempt(header)
        confirmed = {
            "election_id": header.election_id,
            "attempt": header.attempt,
            "guardian": me,
            "guardian_list": header.list_hash.hex(),
            "ceremony_fingerprint": header.fingerprint,
            "qual": outcome.qual,
            "joint_key": transcript["joint_key"],
            "transcript_hash": transcript["transcript_hash"],
        }
        # sealed with the share: the pins decrypt checks a manifest against (the joint key, the
        # transcript hash, L) cannot be edited on disk without the passphrase (read_key_share)
        self.gdir.write_sealed(
            f"{base}/key-share.sealed",
            json.dumps(
                {
                    "election_id": header.election_id,
                    "guardian": me,
                    "secret_share": total.hex(),
                    "confirmed": confirmed,
                }
            ).encode(),
        )
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


def printable(text: str) -> str:
    """``text`` with every control or invisible character written as an escape: what the board
    (or a guardian's objection) says reaches the guardian's terminal, where an escape sequence
    could rewrite the prompt or hide a line."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def _objection_line(view: Mapping[str, Any], objection: object) -> str:
    """What the guardian is told of an objection the board shows: only one signed by the
    listed guardian it names, for this election, is shown as that guardian's."""
    try:
        guardian, payload = check_objection(objection, view["guardians"], view["election_id"])
        name = view["guardians"][guardian - 1]["name"]
        return printable(
            f"OBJECTION by guardian {guardian} ({name}) (attempt {payload['attempt']}): "
            f"{payload['body']['reason']}"
        )
    except Exception:  # anything the board shows: a line saying so, never a crash
        return (
            "the board shows an objection that does not check (not signed by the listed "
            "guardian it names, or not an objection for this election): ignored"
        )


class _Shown:
    """What the board shows, for a prompt asking the agreed ceremony fingerprint."""

    def __init__(self, view: Mapping[str, Any]) -> None:
        self.election_id = str(view["election_id"])
        self.k = int(view["k"])
        self.members = list(view["guardians"])
        self.n = len(self.members)
        self.witnesses = view.get("witnesses")


def _witness_count(view: Mapping[str, Any]) -> int:
    witnesses = view.get("witnesses")
    return len(witnesses.get("keys", [])) if isinstance(witnesses, dict) else 0


def read_key_share(gdir: GuardianDir, election_id: str) -> tuple[dict[str, Any], Scalar]:
    """The ceremony this guardian confirmed last for the election, and its key share: what it
    confirmed as sealed with the share (``current.json`` only names the attempt, and must
    agree; a key share sealed before the copy was kept in it falls back on the file)."""
    base = f"ceremony/{election_id}"
    confirmed = gdir.read_json(f"{base}/current.json")
    if confirmed is None:
        raise CeremonyRefusal(f"G holds no key share for election {election_id!r}")
    data = gdir.read_sealed(f"{base}/attempt-{confirmed['attempt']}/key-share.sealed")
    if data is None:
        raise CeremonyRefusal("G's key share file is missing")
    share = json.loads(data)
    sealed = share.get("confirmed")
    if sealed is not None and sealed != confirmed:
        raise CeremonyRefusal(
            f"{gdir.path / base / 'current.json'} is not what you confirmed (the copy sealed with "
            "your key share differs): it was edited; do not decrypt, restore it from the sealed "
            "copy's values and find out who changed it"
        )
    return sealed or confirmed, Scalar.from_bytes(hex_decode(share["secret_share"], 32))


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
    told: set[str] = set()
    while True:
        view = get_view()
        if isinstance(view, Mapping) and view.get("phase") != last_phase:
            last_phase = view.get("phase")
            say(printable(f"attempt {view.get('attempt')}: phase {last_phase}"))
        objections = view.get("objections") if isinstance(view, Mapping) else None
        for objection in objections if isinstance(objections, list) else []:
            seen = json.dumps(objection, sort_keys=True)
            if seen not in told:
                told.add(seen)
                say(_objection_line(view, objection))
        try:
            messages = party.step(view)
        except CeremonyRefusal as exc:
            if exc.objection is not None:
                try:
                    post(exc.objection)
                    exc.args = (f"{exc} (your signed objection is on the board)",)
                except Exception:
                    exc.args = (
                        f"{exc} (the board did not take your signed objection: it is in "
                        f"{party.gdir.path / 'ceremony'}; give it to the commission and observers)",
                    )
            raise
        for message in messages:
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
    "printable",
    "read_fingerprints",
    "read_key_share",
    "run_over_http",
]
