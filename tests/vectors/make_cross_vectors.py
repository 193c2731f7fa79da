"""Writes tests/vectors/cross.json: vectors that the Python and the JavaScript implementations
(tally_service/service/static/js) must both answer as recorded. Run from the checkout:

    .venv/bin/python tests/vectors/make_cross_vectors.py

Keys come from fixed public seeds: they are test vectors, never real keys. Each case records
what the Python code answers; tests/test_js_crypto.py checks both languages against it.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from crypto.ballot import check_ballot, encrypt_ballot, sign_ballot
from crypto.credentials import _check_chars as check_chars
from crypto.credentials import derive_key, format_code
from crypto.group import ORDER, Point, Scalar, base_mul
from crypto.signing import SigningKey, VerifyKey

OUT = Path(__file__).with_name("cross.json")


def ed25519_cases() -> list[dict[str, Any]]:
    key = SigningKey.from_seed(bytes(range(32)))
    message = b"kz-tally cross-implementation vector"
    sig = key.sign_raw(message)
    s = int.from_bytes(sig[32:], "little")
    cases = [("valid", key.public.raw, message, sig)]
    cases.append(("message changed", key.public.raw, message + b"!", sig))
    cases.append(("bit of R flipped", key.public.raw, message, bytes([sig[0] ^ 1]) + sig[1:]))
    cases.append(
        ("bit of S flipped", key.public.raw, message, sig[:40] + bytes([sig[40] ^ 4]) + sig[41:])
    )
    cases.append(
        (
            "S + L (non-canonical S)",
            key.public.raw,
            message,
            sig[:32] + (s + ORDER).to_bytes(32, "little"),
        )
    )
    cases.append(
        ("S with bit 255 set", key.public.raw, message, sig[:63] + bytes([sig[63] | 0x80]))
    )
    identity = bytes([1]) + bytes(31)
    cases.append(("small-order key, identity R, S = 0", identity, message, identity + bytes(32)))
    cases.append(("truncated signature", key.public.raw, message, sig[:63]))
    out = []
    for why, pk, msg, signature in cases:
        try:
            ok = VerifyKey(pk).verify_raw(msg, signature)
        except ValueError:
            ok = False
        out.append(
            {
                "why": why,
                "public_key": pk.hex(),
                "message": msg.hex(),
                "signature": signature.hex(),
                "valid": ok,
            }
        )
    return out


def point_cases() -> list[dict[str, Any]]:
    p = base_mul(Scalar.from_int(7)).to_bytes()
    raw = [
        ("valid point", p),
        ("identity", bytes(32)),
        ("bit 255 set on a valid point", p[:31] + bytes([p[31] | 0x80])),
        ("p, non-canonical", (2**255 - 19).to_bytes(32, "little")),
        ("negative field element", (2**255 - 20).to_bytes(32, "little")),
        ("not on the curve", bytes([2]) + bytes(31)),
    ]
    out = []
    for why, data in raw:
        try:
            Point.from_bytes(data)
            ok = True
        except ValueError:
            ok = False
        out.append({"why": why, "hex": data.hex(), "valid": ok})
    return out


def scalar_cases() -> list[dict[str, Any]]:
    out = []
    for why, n in [("zero", 0), ("L - 1", ORDER - 1), ("L", ORDER), ("2**255", 2**255 - 1)]:
        data = n.to_bytes(32, "little")
        try:
            Scalar.from_bytes(data)
            ok = True
        except ValueError:
            ok = False
        out.append({"why": why, "hex": data.hex(), "valid": ok})
    return out


def credential_cases() -> list[dict[str, Any]]:
    out = []
    for payload, election, elector in [
        ("0123456789ABCDEFGHJK", "kz-senate-2023", "AKM-E0001"),
        ("ZZZZZZZZZZZZZZZZZZZZ", "kz-senate-2023", "AKM-E0001"),
        ("0123456789ABCDEFGHJK", "other-election", "AKM-E0001"),
    ]:
        code = format_code(payload + check_chars(payload))
        out.append(
            {
                "code": code,
                "election_id": election,
                "elector_id": elector,
                "public_key": derive_key(code, election, elector).public.hex(),
            }
        )
    typo = out[0]["code"].replace("0123", "0124", 1)
    out.append(
        {
            "code": typo,
            "election_id": "kz-senate-2023",
            "elector_id": "AKM-E0001",
            "public_key": None,
        }
    )
    out.append(
        {
            "code": out[0]["code"].lower().replace("1", "l").replace("-", " "),
            "election_id": "kz-senate-2023",
            "elector_id": "AKM-E0001",
            "public_key": out[0]["public_key"],
        }
    )
    return out


def ballot_cases() -> dict[str, Any]:
    election = bytes(range(100, 132))
    key = base_mul(Scalar.from_int(123456789))
    elector_key = SigningKey.from_seed(bytes(32))
    unit, round_no, elector, ids = "AKM", 1, "AKM-E0001", ["AKM-C1", "AKM-C2", "AKM-C3"]
    content = encrypt_ballot(election, unit, round_no, elector, ids, "AKM-C2", key)
    unsigned = {
        "election": election.hex(),
        "unit": unit,
        "round": round_no,
        "elector": elector,
        **content,
    }
    valid = sign_ballot(unsigned, elector_key)
    other = encrypt_ballot(election, unit, round_no, elector, ids, None, key)
    g = base_mul(Scalar.one()).hex()

    def changed(why: str, change: Any) -> dict[str, Any]:
        b = copy.deepcopy(valid)
        change(b)
        return {"why": why, "ballot": b}

    def set_bit255(b: dict[str, Any]) -> None:
        a = bytes.fromhex(b["selections"][0]["ciphertext"]["a"])
        b["selections"][0]["ciphertext"]["a"] = (a[:31] + bytes([a[31] | 0x80])).hex()

    def add_g(b: dict[str, Any]) -> None:
        ct = b["selections"][1]["ciphertext"]
        ct["b"] = (Point.from_hex(ct["b"]) + Point.from_hex(g)).hex()

    cases = [
        {"why": "valid", "ballot": valid},
        changed("selection ciphertext b shifted by G (a vote of 2)", add_g),
        changed("bit 255 set in a point", set_bit255),
        changed(
            "proofs of two selections swapped",
            lambda b: b["selections"].__setitem__(
                0, {**b["selections"][0], "proof": b["selections"][1]["proof"]}
            ),
        ),
        changed(
            "sum proof from another ballot",
            lambda b: b.__setitem__("sum_proof", other["sum_proof"]),
        ),
        changed(
            "candidate renamed", lambda b: b["selections"][2].__setitem__("candidate", "AKM-C9")
        ),
        changed("another elector", lambda b: b.__setitem__("elector", "AKM-E0002")),
        changed("another round", lambda b: b.__setitem__("round", 2)),
        changed("extra field", lambda b: b.__setitem__("note", "x")),
        changed("selections dropped", lambda b: b.__setitem__("selections", b["selections"][:2])),
        changed(
            "scalar not below L",
            lambda b: b["sum_proof"].__setitem__("c0", ORDER.to_bytes(32, "little").hex()),
        ),
        changed(
            "ciphertext a is the identity",
            lambda b: b["selections"][0]["ciphertext"].__setitem__("a", bytes(32).hex()),
        ),
    ]
    for case in cases:
        case["reason"] = check_ballot(election, unit, round_no, elector, ids, case["ballot"], key)
    return {
        "election": election.hex(),
        "unit": unit,
        "round": round_no,
        "elector": elector,
        "candidates": ids,
        "election_key": key.hex(),
        "elector_public_key": elector_key.public.hex(),
        "cases": cases,
    }


def main() -> None:
    ballots = ballot_cases()
    doc = {
        "source": "tests/vectors/make_cross_vectors.py: answers of the Python implementation",
        "ed25519": ed25519_cases(),
        "points": point_cases(),
        "scalars": scalar_cases(),
        "credentials": credential_cases(),
        "ballots": ballots,
    }
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
