#!/usr/bin/env python3
"""Apply hand-written mutants to the core checks and see whether the fast tests kill them.

    .venv/bin/python scripts/check_mutants.py [--only PREFIX] [--keep-going]

Each mutant weakens one check the way an attacker or a careless edit would (a Fiat-Shamir
challenge that leaves out a statement element, a type check dropped, a reason sentence that
contradicts the decision, a size limit off by one). For each, the checkout's tracked files are
copied to a temporary directory, the one edit is made there (the checkout itself is never
touched), and the module's own tests run against the copy. A mutant is *killed* when they fail.
Prints one line per mutant and exits 1 if any survived. Issue 13, section 4.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent

PROOF_TESTS = (
    "tests/test_proofs.py",
    "tests/test_fiat_shamir_vectors.py",
    "tests/test_ballot.py",
    "tests/test_decryption.py",
    "tests/test_guardians.py",
)
MERKLE_TESTS = ("tests/test_merkle.py",)
RULES_TESTS = ("tests/test_rules.py",)
NOTE_TESTS = ("tests/test_note.py",)
CER = "crypto/ceremony.py"
CEREMONY_TESTS = ("tests/test_ceremony_checks.py", "tests/test_ceremony_vectors.py")
CEREMONY_PARTY_TESTS = (*CEREMONY_TESTS, "tests/test_ceremony_attacks.py")
GUARDIAN_STATE_TESTS = ("tests/test_guardian_state.py", "tests/test_guardian_blinded.py")
GS = "tally_service/guardian/state.py"
# the fast tests of the witnesses' cosignatures and policy (issue 24); test_witnessing.py's
# processes are left out by "-m not slow"
WITNESS_TESTS = (
    "tests/test_cosignature.py",
    "tests/test_witness_policy.py",
    "tests/test_witnessing.py",
)
CS = "crypto/cosignature.py"
WP = "crypto/witness_policy.py"


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


ZO = "crypto/proofs.py"
KEY_ID_BLOCK = """\
        try:  # fromhex alone would take upper case and spaces, and raise a bare ValueError
            if len(hash_hex) != 2 * _KEY_HASH_SIZE or any(
                c not in "0123456789abcdef" for c in hash_hex
            ):
                raise ValueError("not 8 lowercase hex digits")
            hash_bytes = bytes.fromhex(hash_hex)
        except ValueError:
            raise NoteError("the key ID of a verifier key is 8 lowercase hex digits") from None
"""
KEY_ID_BEFORE_FIX = """\
        if len(hash_hex) != 2 * _KEY_HASH_SIZE or any(
            c not in "0123456789abcdef" for c in hash_hex
        ):
            raise NoteError("the key ID of a verifier key is 8 lowercase hex digits")
        hash_bytes = bytes.fromhex(hash_hex)
"""
MUTANTS = [
    # -- Fiat-Shamir challenges: leave one element out ------------------------------------------
    Mutant("zero-or-one: no context", ZO, "        TAG_ZERO_OR_ONE,\n        context,\n",
           "        TAG_ZERO_OR_ONE,\n", PROOF_TESTS),
    Mutant("zero-or-one: no key", ZO, "        context,\n        key.to_bytes(),\n",
           "        context,\n", PROOF_TESTS),
    Mutant("zero-or-one: no ct.a", ZO, "        ct.a.to_bytes(),\n        ct.b", "        ct.b",
           PROOF_TESTS),
    Mutant("zero-or-one: no ct.b", ZO, "        ct.b.to_bytes(),\n        *(p", "        *(p",
           PROOF_TESTS),
    Mutant("zero-or-one: no B1", ZO, "*(p.to_bytes() for p in commitments),",
           "*(p.to_bytes() for p in commitments[:3]),", PROOF_TESTS),
    Mutant("zero-or-one: a and b swapped", ZO,
           "        ct.a.to_bytes(),\n        ct.b.to_bytes(),\n",
           "        ct.b.to_bytes(),\n        ct.a.to_bytes(),\n", PROOF_TESTS),
    Mutant("equal-dlog: no context", ZO, "        TAG_EQUAL_DLOG,\n        context,\n",
           "        TAG_EQUAL_DLOG,\n", PROOF_TESTS),
    Mutant("equal-dlog: no public", ZO, "        public.to_bytes(),\n        h.to_bytes(),\n",
           "        h.to_bytes(),\n", PROOF_TESTS),
    Mutant("equal-dlog: no h", ZO, "        h.to_bytes(),\n        m.to_bytes(),\n",
           "        m.to_bytes(),\n", PROOF_TESTS),
    Mutant("equal-dlog: no m", ZO, "        m.to_bytes(),\n        commit_g.to_bytes(),\n",
           "        commit_g.to_bytes(),\n", PROOF_TESTS),
    Mutant("equal-dlog: no commit_g", ZO,
           "        commit_g.to_bytes(),\n        commit_h.to_bytes(),\n",
           "        commit_h.to_bytes(),\n", PROOF_TESTS),
    Mutant("equal-dlog: no commit_h", ZO, "        commit_h.to_bytes(),\n    )\n", "    )\n",
           PROOF_TESTS),
    Mutant("schnorr: no context", ZO, "TAG_SCHNORR, context, public.to_bytes(),",
           "TAG_SCHNORR, public.to_bytes(),", PROOF_TESTS),
    Mutant("schnorr: no public", ZO, "TAG_SCHNORR, context, public.to_bytes(),",
           "TAG_SCHNORR, context,", PROOF_TESTS),
    Mutant("schnorr: no commitment", ZO, "public.to_bytes(), commitment.to_bytes())",
           "public.to_bytes())", PROOF_TESTS),
    # -- Merkle verifiers: type checks -----------------------------------------------------------
    Mutant("consistency: sizes not type-checked", "crypto/merkle.py",
           "    if not (_is_int(size1) and _is_int(size2)):\n        return False\n", "",
           MERKLE_TESTS),
    Mutant("consistency: roots not length-checked", "crypto/merkle.py",
           "    if not (_is_hash(root1) and _is_hash(root2)):\n        return False\n", "",
           MERKLE_TESTS),
    Mutant("merkle: bool counts as an int", "crypto/merkle.py",
           "return isinstance(value, int) and not isinstance(value, bool)",
           "return isinstance(value, int)", MERKLE_TESTS),
    # (Dropping the length check of proof hashes is an equivalent mutant: a hash of the wrong
    # length is still hashed into the path and can only give a wrong root.)
    # -- the reason sentence -----------------------------------------------------------------------
    Mutant("reason: runoff lot names the loser", "crypto/rules.py",
           "the public lot elected {drawn[0]}.", "the public lot elected {drawn[-1]}.",
           RULES_TESTS),
    Mutant("reason: runoff lot names the first ranked", "crypto/rules.py",
           "the public lot elected {drawn[0]}.", "the public lot elected {first}.", RULES_TESTS),
    Mutant("reason: blank note always", "crypto/rules.py",
           'if counts.blank == took_part else ""', 'if counts.blank >= 0 else ""', RULES_TESTS),
    Mutant("reason: blank note never", "crypto/rules.py",
           'if counts.blank == took_part else ""', 'if counts.blank < 0 else ""', RULES_TESTS),
    Mutant("reason: runoff pair's second count", "crypto/rules.py",
           "and {pair[1]} ({votes[pair[1]]})", "and {pair[1]} ({votes[pair[0]]})", RULES_TESTS),
    Mutant("reason: round-2 loser's count", "crypto/rules.py",
           "against {votes[second]} for", "against {votes[first]} for", RULES_TESTS),
    Mutant("reason: round-1 winner's name", "crypto/rules.py",
           'f"{leader} received {_votes_phrase', 'f"{ranked[-1]} received {_votes_phrase',
           RULES_TESTS),
    Mutant("reason: lot order sorted", "crypto/rules.py", "order {', '.join(drawn_lot)}",
           "order {', '.join(sorted(drawn_lot))}", RULES_TESTS),
    Mutant("reason: tied names in lot order", "crypto/rules.py",
           "{_names(sorted(drawn_lot))} tied", "{_names(drawn_lot)} tied", RULES_TESTS),
    Mutant("reason: singular for zero", "crypto/rules.py", '"vote" if count == 1',
           '"vote" if count <= 1', RULES_TESTS),
    Mutant("reason: void counts", "crypto/rules.py", 'f"Only {took_part} of {counts.registered}',
           'f"Only {took_part} of {took_part}', RULES_TESTS),
    # -- note.py limits ----------------------------------------------------------------------------
    Mutant("note: lines split on any whitespace", "crypto/note.py",
           'for line in data.split(b"\\n"):', "for line in data.split():", NOTE_TESTS),
    Mutant("note: line limit off by one", "crypto/note.py", "if len(line) > MAX_LINE_SIZE:",
           "if len(line) >= MAX_LINE_SIZE:", NOTE_TESTS),
    Mutant("note: bytes size limit off by one", "crypto/note.py",
           "        data = bytes(note)\n        if len(data) > MAX_NOTE_SIZE:",
           "        data = bytes(note)\n        if len(data) > MAX_NOTE_SIZE + 1:", NOTE_TESTS),
    Mutant("note: str size limit off by one", "crypto/note.py",
           '        data = _utf8(text, "note")\n        if len(data) > MAX_NOTE_SIZE:',
           '        data = _utf8(text, "note")\n        if len(data) > MAX_NOTE_SIZE + 1:',
           NOTE_TESTS),
    Mutant("note: exactly 1 MiB refused", "crypto/note.py",
           "        data = bytes(note)\n        if len(data) > MAX_NOTE_SIZE:",
           "        data = bytes(note)\n        if len(data) >= MAX_NOTE_SIZE:", NOTE_TESTS),
    Mutant("note: key ID upper case let through", "crypto/note.py",
           'c not in "0123456789abcdef" for c in hash_hex',
           'c not in "0123456789abcdefABCDEF" for c in hash_hex', NOTE_TESTS),
    Mutant("note: key ID as before the fix, digits weakened", "crypto/note.py",
           KEY_ID_BLOCK, KEY_ID_BEFORE_FIX.replace("abcdef", "abcdefXg"), NOTE_TESTS),
    # -- the key ceremony (issue 24): V2, the board's and the guardian's checks ---------------
    Mutant("ceremony: duplicate participants accepted", CER,
           "        or participants != sorted(set(participants))\n        or not all(",
           "        or participants != sorted(set(participants))\n        and not all(",
           CEREMONY_TESTS),
    Mutant("ceremony: QUAL smaller than k accepted by V2", CER,
           "            reason = qual_problem(outcome.qual, k)\n"
           "            if reason is not None:\n"
           "                return reason\n", "", CEREMONY_TESTS),
    Mutant("ceremony: QUAL bound off by one", CER, "    if len(qual) < k:",
           "    if len(qual) < k - 1:", CEREMONY_TESTS),
    Mutant("ceremony: bindings checked only when the type differs", CER,
           "if payload[field] != value or type(payload[field]) is not type(value):",
           "if payload[field] != value and type(payload[field]) is not type(value):",
           CEREMONY_TESTS),
    Mutant("ceremony: fingerprint of the share key only", CER,
           "tagged_hash(TAG_FINGERPRINT, hex_decode(identity_key, 32), hex_decode(share_key, 32))",
           "tagged_hash(TAG_FINGERPRINT, hex_decode(share_key, 32))", CEREMONY_TESTS),
    Mutant("ceremony: fingerprint of the identity key only", CER,
           "tagged_hash(TAG_FINGERPRINT, hex_decode(identity_key, 32), hex_decode(share_key, 32))",
           "tagged_hash(TAG_FINGERPRINT, hex_decode(identity_key, 32))", CEREMONY_TESTS),
    Mutant("ceremony: fingerprint of 28 bits", CER, "    text = digest[:16].hex()\n",
           "    text = digest[:4].hex()[:7] + '0' * 25\n", CEREMONY_TESTS),
    Mutant("ceremony: ceremony fingerprint of 128 bits", CER,
           "CEREMONY_FINGERPRINT_BYTES = 20", "CEREMONY_FINGERPRINT_BYTES = 16", CEREMONY_TESTS),
    Mutant("ceremony: witnesses left out of L", CER,
           '"witnesses": None if witnesses is None else dict(witnesses),\n        },',
           '"witnesses": None,\n        },', CEREMONY_TESTS),
    Mutant("ceremony: n left out of L", CER, '            "n": len(members),\n', "",
           CEREMONY_TESTS),
    Mutant("ceremony: a reveal's public record not checked", CER,
           "        reason = check_public_record(record, header.k, header.context)\n",
           "        reason = None\n", CEREMONY_TESTS),
    Mutant("ceremony: a reveal's commitment set not checked", CER,
           '        if body["commitments"] != commit_set_hash(commits):',
           "        if False:", CEREMONY_TESTS),
    Mutant("ceremony: break after an already-upheld complaint", CER,
           "            if dealer in upheld:\n                continue",
           "            if dealer in upheld:\n                break", CEREMONY_TESTS),
    Mutant("ceremony: break after a dismissed complaint", CER,
           "            else:\n                continue\n            upheld[dealer]",
           "            else:\n                break\n            upheld[dealer]", CEREMONY_TESTS),
    Mutant("ceremony: transcript hash of a constant", CER,
           "return hash_json(TAG_TRANSCRIPT, {f: transcript[f] for f in HASHED_FIELDS}).hex()",
           "return hash_json(TAG_TRANSCRIPT, {}).hex()", CEREMONY_TESTS),
    Mutant("ceremony: a key listed twice accepted", CER, "            if value in seen:",
           "            if value in seen and False:", CEREMONY_PARTY_TESTS),
    Mutant("ceremony: objections not checked by V2", CER,
           "        check_objection(objection, header.members, election_id)\n",
           "        pass\n", CEREMONY_PARTY_TESTS),
    # -- the guardian state (issue 24: the survivors of mutmut, and the open-round rule) ---------
    Mutant("guardian-state: any consistency proof accepted", GS,
           "ok = proof is not None and verify_consistency(",
           "ok = proof is not None or verify_consistency(", GUARDIAN_STATE_TESTS),
    Mutant("guardian-state: watched final forgotten unless smaller than seen", GS,
           '        if final:\n            data["final_seen"] = entry\n',
           '        if final and seen is not None and cp.size < int(seen["size"]):\n'
           '            data["final_seen"] = entry\n', GUARDIAN_STATE_TESTS),
    Mutant("guardian-state: watched final forgotten at the seen size", GS,
           "            if final:\n                self._remember(data, cp, note, final)\n",
           "            if False:\n                self._remember(data, cp, note, final)\n",
           GUARDIAN_STATE_TESTS),
    Mutant("guardian-state: checkpoints after a decrypted final accepted", GS,
           "for closed in (done, self._final_seen(data)):",
           "for closed in (self._final_seen(data),):", GUARDIAN_STATE_TESTS),
    Mutant("guardian-state: file lock never taken", GS,
           "                fcntl.flock(fd, fcntl.LOCK_EX)\n", "                pass\n",
           GUARDIAN_STATE_TESTS),
    Mutant("guardian-state: evidence keeps None for the first note", GS,
           'write_atomic(folder / "first.note", first)',
           'write_atomic(folder / "first.note", str(None))', GUARDIAN_STATE_TESTS),
    Mutant("guardian-state: evidence keeps None for the second note", GS,
           'write_atomic(folder / "second.note", second)',
           'write_atomic(folder / "second.note", str(None))', GUARDIAN_STATE_TESTS),
    Mutant("guardian-state: a later conflict overwrites earlier evidence", GS,
           "                folder.mkdir(mode=0o700)\n",
           "                folder.mkdir(mode=0o700, exist_ok=True)\n", GUARDIAN_STATE_TESTS),
    Mutant("guardian-state: a round never seen open is decrypted", GS,
           "        if self.open_seen(final.origin) is None:\n",
           "        if False:\n", GUARDIAN_STATE_TESTS),
    Mutant("guardian-state: a round whose watch went blind is decrypted", GS,
           "        if blinded is not None:\n", "        if False:\n", GUARDIAN_STATE_TESTS),
    Mutant("guardian-state: a blind watch is forgiven without seeing the log", GS,
           '                data["blinded"] = {"why": why, "evidence": folder.name}\n',
           "                pass\n", GUARDIAN_STATE_TESTS),
    # (Dropping "before any final" from the open_seen condition is an equivalent mutant: after a
    # final only a larger checkpoint could be remembered, and that is a conflict. The test
    # test_a_checkpoint_first_seen_after_the_final_is_not_seen_open holds the behaviour.)
    # -- cosignatures (issue 24): each weakens a check a quorum rests on -------------------------
    Mutant("cosignature: wrong-length signature verifies", CS,
           "if len(signature) != _SIGNATURE_SIZE[self.kind]:\n            return False",
           "if len(signature) != _SIGNATURE_SIZE[self.kind]:\n            return True",
           WITNESS_TESTS),
    Mutant("cosignature: timestamp not type-checked", CS,
           "if type(value) is not int or not 0 <= value", "if not 0 <= value", WITNESS_TESTS),
    Mutant("cosignature: timestamp upper bound dropped", CS,
           "not 0 <= value <= MAX_TIMESTAMP:", "not 0 <= value:", WITNESS_TESTS),
    Mutant("cosignature: line timestamp above 2**63-1 accepted", CS,
           "    if timestamp > MAX_TIMESTAMP:\n        raise", "    if False:\n        raise",
           WITNESS_TESTS),
    Mutant("cosignature: short line not refused", CS,
           "if len(signature.signature) < 8:", "if len(signature.signature) < 0:",
           WITNESS_TESTS),
    Mutant("cosignature: unknown line ends the reading", CS,
           "        if cosigner is None:\n            continue",
           "        if cosigner is None:\n            break", WITNESS_TESTS),
    Mutant("cosignature: second line of one cosigner accepted", CS,
           "        if ident in seen:\n            raise",
           "        if False:\n            raise", WITNESS_TESTS),
    Mutant("cosignature: failing line skipped, not refused", CS,
           '            raise CosignatureError(f"cosignature by {label} does not verify")',
           "            continue", WITNESS_TESTS),
    Mutant("cosignature: non-keys not refused", CS,
           "        if not isinstance(key, CosignerKey):\n            raise",
           "        if False:\n            raise", WITNESS_TESTS),
    Mutant("cosignature: subtree/v1 without the name", CS,
           '_opaque8(name.encode("utf-8"), "the cosigner name"),',
           '_opaque8(b"-", "the cosigner name"),', WITNESS_TESTS),
    Mutant("cosignature: subtree/v1 without the root", CS,
           "                checkpoint.root,\n            )",
           "                bytes(32),\n            )", WITNESS_TESTS),
    Mutant("cosignature: cosignature/v1 without extension lines", CS,
           'return header + checkpoint.body().encode("utf-8")',
           'return header + Checkpoint(checkpoint.origin, checkpoint.size, checkpoint.root)'
           '.body().encode("utf-8")', WITNESS_TESTS),
    Mutant("cosignature: Ed25519 key validity not checked", CS,
           "if self.kind == TYPE_ED25519 and not is_valid_public_key(self.public):",
           "if False:", WITNESS_TESTS),
    Mutant("cosignature: key length not checked", CS,
           "len(self.public) != _PUBLIC_SIZE[self.kind]:", "len(self.public) < 0:",
           WITNESS_TESTS),
    Mutant("cosignature: vkey key ID mismatch accepted", CS,
           "        if key.key_id.hex() != id_hex:\n            raise",
           "        if False:\n            raise", WITNESS_TESTS),
    Mutant("cosignature: vkey key ID upper case accepted", CS,
           'c not in "0123456789abcdef" for c in id_hex', 'c not in "0123456789abcdefABCDEF" for '
           "c in id_hex", WITNESS_TESTS),
    Mutant("cosignature: private key ID mismatch accepted", CS,
           "        if signer.public.key_id.hex() != id_hex:\n            raise",
           "        if False:\n            raise", WITNESS_TESTS),
    Mutant("cosignature: line with two newlines accepted", CS,
           'if not line.endswith("\\n") or line.count("\\n") != 1:',
           'if not line.endswith("\\n") and line.count("\\n") != 1:', WITNESS_TESTS),
    Mutant("finality: statement for a non-final", CS,
           "    if not is_final(checkpoint):\n        raise CosignatureError(\"only a final",
           "    if False:\n        raise CosignatureError(\"only a final", WITNESS_TESTS),
    Mutant("finality: a finality origin as a log's origin", CS,
           "    if checkpoint.origin.endswith(FINALITY_ORIGIN_SUFFIX):\n        raise",
           "    if False:\n        raise", WITNESS_TESTS),
    Mutant("finality: origin line unchanged", CS,
           "        checkpoint.origin + FINALITY_ORIGIN_SUFFIX,\n",
           "        checkpoint.origin,\n", WITNESS_TESTS),
    Mutant("finality: the witness's own name", CS,
           "made = dataclasses.replace(self, name=self.name + FINALITY_NAME_SUFFIX)",
           "made = dataclasses.replace(self)", WITNESS_TESTS),
    Mutant("finality: statements counted as ordinary cosignatures", CS,
           "    finality = {key.finality(): key for key in cosigners}",
           "    finality = {key: key for key in cosigners}", WITNESS_TESTS),
    # -- the witness policy (issue 24) -----------------------------------------------------------
    Mutant("policy: a final counts ordinary cosignatures", WP,
           "        if not is_final(checkpoint):\n            return checkpoint, ordinary",
           "        if True:\n            return checkpoint, ordinary", WITNESS_TESTS),
    Mutant("policy: unverified count of a final takes ordinary lines", WP,
           "listed = finality if is_final(checkpoint) else ordinary",
           "listed = ordinary", WITNESS_TESTS),
    Mutant("policy: bound off by one", WP, "if 2 * q - n < f + 1:", "if 2 * q - n < f:",
           WITNESS_TESTS),
    Mutant("policy: negative colluders accepted", WP,
           "        if f < 0:\n            raise", "        if False:\n            raise",
           WITNESS_TESTS),
    Mutant("policy: quorum above n accepted", WP, "if not 1 <= q <= n:", "if not 1 <= q:",
           WITNESS_TESTS),
    Mutant("policy: numbers not type-checked", WP,
           "        if type(q) is not int or type(f) is not int:\n            raise",
           "        if False:\n            raise", WITNESS_TESTS),
    Mutant("policy: duplicate names accepted", WP,
           "        if len(set(names)) != len(names):\n            raise",
           "        if False:\n            raise", WITNESS_TESTS),
    Mutant("policy: duplicate keys accepted", WP,
           "        if len(set(publics)) != len(publics):\n            raise",
           "        if False:\n            raise", WITNESS_TESTS),
    Mutant("policy: entry name not matched with its vkey", WP,
           '            if entry.get("name") != key.name:\n                raise',
           "            if False:\n                raise", WITNESS_TESTS),
    Mutant("policy: entry type not matched with its vkey", WP,
           '            if entry.get("type") != key.type_name:\n                raise',
           "            if False:\n                raise", WITNESS_TESTS),
    Mutant("policy: quorum needs one more", WP,
           "return len(self.cosignatures(note)[1]) >= self.quorum",
           "return len(self.cosignatures(note)[1]) > self.quorum", WITNESS_TESTS),
    Mutant("policy: quorum one short", WP,
           "return len(self.cosignatures(note)[1]) >= self.quorum",
           "return len(self.cosignatures(note)[1]) >= self.quorum - 1", WITNESS_TESTS),
    Mutant("policy: a failing line means quorum", WP,
           "        except CosignatureError:\n            return False",
           "        except CosignatureError:\n            return True", WITNESS_TESTS),
]


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=TOP, check=True, capture_output=True
    ).stdout.decode()
    return [name for name in out.split("\0") if name]


def copy_checkout(dest: Path) -> None:
    for name in tracked_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        source = TOP / name
        if source.is_file():
            shutil.copy2(source, target)


def run_tests(tree: Path, tests: tuple[str, ...]) -> bool:
    """True if the tests pass in ``tree`` (the fast ones: slow tests are left out)."""
    if not tests:  # no test file of the mutant exists (--tests-from an older revision)
        return True
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow",
         *tests],
        cwd=tree,
        capture_output=True,
        text=True,
    )
    return result.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", default="", help="run only mutants whose name starts so")
    parser.add_argument(
        "--tests-from",
        metavar="REV",
        help="run the tests as they were at git revision REV (to compare with older tests)",
    )
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if m.name.startswith(args.only)]
    survived: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kz-mutants-") as tmp:
        tree = Path(tmp)
        copy_checkout(tree)
        if args.tests_from:
            shutil.rmtree(tree / "tests")
            archive = subprocess.run(
                ["git", "archive", args.tests_from, "tests"], cwd=TOP, check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        probe = subprocess.run(
            [sys.executable, "-c", "import crypto; print(crypto.__file__)"],
            cwd=tree, capture_output=True, text=True, check=True,
        ).stdout.strip()
        if not probe.startswith(str(tree)):
            print(f"the copy imports crypto from {probe}, not from the copy", file=sys.stderr)
            return 2
        present = {str(p.relative_to(tree)) for p in (tree / "tests").glob("*.py")}
        chosen = [replace(m, tests=tuple(t for t in m.tests if t in present)) for m in chosen]
        suites = sorted({m.tests for m in chosen})
        for tests in suites:
            if not run_tests(tree, tests):
                print(f"the unmutated tests fail: {' '.join(tests)}", file=sys.stderr)
                return 2
        for mutant in chosen:
            path = tree / mutant.path
            original = path.read_text(encoding="utf-8")
            if original.count(mutant.old) != 1:
                print(f"{mutant.name}: the text to mutate is not there once", file=sys.stderr)
                return 2
            path.write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
            started = time.monotonic()
            try:
                killed = not run_tests(tree, mutant.tests)
            finally:
                path.write_text(original, encoding="utf-8")
            verdict = "killed" if killed else "SURVIVED"
            print(f"{verdict:8}  {time.monotonic() - started:5.1f} s  {mutant.name}", flush=True)
            if not killed:
                survived.append(mutant.name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
