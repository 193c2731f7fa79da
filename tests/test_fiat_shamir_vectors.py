"""Known-answer vectors for every Fiat-Shamir challenge (docs/protocol.md sections 4-7).

``tests/vectors/fiat_shamir.json`` was written once, by ``build_vectors`` below, which follows
the byte layout of protocol.md with ``hashlib`` and Python integers (the framing of section 1,
the contexts of sections 5.1, 6.1 and 7.2, the reduction modulo L) and borrows only the group
arithmetic from ``crypto.group``. The tests then hold the project's code to that file: every
context function, every challenge, every prover (its randomness fixed) and every verifier.
Dropping or reordering any element a challenge hashes changes its value, so the stored proofs
stop verifying. The file is meant to be shared with a second (JavaScript) implementation.

Regenerate (only if the protocol changes, with new tags):
``.venv/bin/python -m tests.test_fiat_shamir_vectors``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto import ballot, ceremony, decryption, guardians, proofs
from crypto.elgamal import Ciphertext
from crypto.group import Point, Scalar, base_mul

VECTOR_FILE = Path(__file__).parent / "vectors" / "fiat_shamir.json"
CEREMONY_VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "ceremony.json").read_text("utf-8")
)
# (absent only while ``__main__`` below writes it for the first time)
VECTORS: dict[str, Any] = (
    json.loads(VECTOR_FILE.read_text("utf-8")) if VECTOR_FILE.exists() else {"zero_or_one": []}
)

# protocol.md, notation: the group order, written out rather than imported
L = 2**252 + 27742317777372353535851937790883648493
G = Point.generator()


# -- the spec, transcribed (protocol.md section 1) -------------------------------------------------


def _framed(hash_name: str, tag: str, parts: tuple[bytes, ...]) -> bytes:
    data = bytearray()
    for part in (tag.encode("ascii"), *parts):
        data += len(part).to_bytes(8, "big") + part
    return hashlib.new(hash_name, bytes(data)).digest()


def spec_tagged_hash(tag: str, *parts: bytes) -> bytes:
    return _framed("sha256", tag, parts)


def spec_hash_to_scalar(tag: str, *parts: bytes) -> Scalar:
    n = int.from_bytes(_framed("sha512", tag, parts), "little") % L
    return Scalar.from_bytes(n.to_bytes(32, "little"))


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def fixed_scalar(label: str) -> Scalar:
    """A fixed, structureless test scalar (not a secret of any real election)."""
    return spec_hash_to_scalar("kz-tally/test-vectors", label.encode("utf-8"))


def _ct_json(a: Point, b: Point) -> dict[str, str]:
    return {"a": a.hex(), "b": b.hex()}


def _zero_or_one_vector(
    name: str, context: bytes, key: Point, value: int, nonce: Scalar
) -> dict[str, Any]:
    """protocol.md 4.1, the prover with fixed c_f, u_f and w."""
    a, b = base_mul(nonce), base_mul(Scalar.from_int(value)) + nonce * key
    fake = 1 - value
    c_fake, u_fake, w = (fixed_scalar(f"{name}/{x}") for x in ("c_f", "u_f", "w"))
    shifted_fake = b - G if fake == 1 else b
    commit_fake = (base_mul(u_fake) - c_fake * a, u_fake * key - c_fake * shifted_fake)
    commit_real = (base_mul(w), w * key)
    a0, b0, a1, b1 = (*commit_real, *commit_fake) if value == 0 else (*commit_fake, *commit_real)
    tag = "kz-tally/v1/proof/zero-or-one"
    parts = (key, a, b, a0, b0, a1, b1)
    c = spec_hash_to_scalar(tag, context, *(p.to_bytes() for p in parts))
    c_real = c - c_fake
    u_real = w + c_real * nonce
    if value == 0:
        proof = {"c0": c_real, "c1": c_fake, "u0": u_real, "u1": u_fake}
    else:
        proof = {"c0": c_fake, "c1": c_real, "u0": u_fake, "u1": u_real}
    return {
        "name": name,
        "tag": tag,
        "context": context.hex(),
        "key": key.hex(),
        "ciphertext": _ct_json(a, b),
        "witness": {"value": value, "nonce": nonce.hex()},
        "prover_randomness": [c_fake.hex(), u_fake.hex(), w.hex()],
        "commitments": {"A0": a0.hex(), "B0": b0.hex(), "A1": a1.hex(), "B1": b1.hex()},
        "challenge": c.hex(),
        "proof": {k: v.hex() for k, v in proof.items()},
    }


def build_vectors() -> dict[str, Any]:
    key = base_mul(fixed_scalar("election secret"))

    # a ballot for the second of two candidates (protocol.md 5.1, 5.2)
    manifest_hash = hashlib.sha256(b"kz-tally test vectors: manifest").digest()
    unit, round_no, elector, candidates = "AKM", 2, "AKM-0042", ["ALPHA", "BETA"]
    ctx = spec_tagged_hash(
        "kz-tally/v1/ballot-context",
        manifest_hash,
        unit.encode(),
        u64(round_no),
        elector.encode(),
    )
    selection_contexts = [
        spec_tagged_hash("kz-tally/v1/ballot-selection", ctx, u64(i), c.encode())
        for i, c in enumerate(candidates)
    ]
    jcs_candidates = json.dumps(candidates, separators=(",", ":")).encode()
    sum_ctx = spec_tagged_hash("kz-tally/v1/ballot-sum", ctx, jcs_candidates)
    nonces = [fixed_scalar("ballot/nonce/0"), fixed_scalar("ballot/nonce/1")]
    zero_or_one = [
        _zero_or_one_vector("selection-0", selection_contexts[0], key, 0, nonces[0]),
        _zero_or_one_vector("selection-1", selection_contexts[1], key, 1, nonces[1]),
        _zero_or_one_vector("ballot-sum", sum_ctx, key, 1, nonces[0] + nonces[1]),
    ]

    # a guardian's decryption share (protocol.md 7.2), from a fixed decryption context
    dec_ctx = hashlib.sha256(b"kz-tally test vectors: decryption context").digest()
    guardian, position = 2, 1
    tally_a, tally_b = base_mul(fixed_scalar("tally/a")), base_mul(fixed_scalar("tally/b"))
    share_ctx = spec_tagged_hash(
        "kz-tally/v1/decryption-share",
        dec_ctx,
        u64(guardian),
        u64(position),
        tally_a.to_bytes(),
        tally_b.to_bytes(),
    )
    s, w = fixed_scalar("guardian/share"), fixed_scalar("decryption/w")
    public, m = base_mul(s), s * tally_a
    commit_g, commit_h = base_mul(w), w * tally_a
    tag = "kz-tally/v1/proof/equal-dlog"
    c = spec_hash_to_scalar(
        tag, share_ctx, *(p.to_bytes() for p in (public, tally_a, m, commit_g, commit_h))
    )
    equal_dlog = {
        "name": "decryption-share",
        "tag": tag,
        "decryption_context": dec_ctx.hex(),
        "guardian": guardian,
        "position": position,
        "ciphertext": _ct_json(tally_a, tally_b),
        "context": share_ctx.hex(),
        "public": public.hex(),
        "h": tally_a.hex(),
        "m": m.hex(),
        "witness": s.hex(),
        "prover_randomness": [w.hex()],
        "commitments": {"commit_g": commit_g.hex(), "commit_h": commit_h.hex()},
        "challenge": c.hex(),
        "proof": {"c": c.hex(), "u": (w + c * s).hex()},
    }

    # a ceremony coefficient's proof of knowledge (protocol.md 6.1), in attempt 2 of the
    # ceremony whose parameters hash L is tests/vectors/ceremony.json's
    election_id, n, k, index, t, attempt = "senate-2023-test-vectors", 3, 2, 1, 0, 2
    guardian_list = bytes.fromhex(CEREMONY_VECTORS["guardian_list"])
    cer_ctx = spec_tagged_hash(
        "kz-tally/v1/ceremony-proofs",
        election_id.encode(),
        guardian_list,
        u64(attempt),
        u64(n),
        u64(k),
    )
    coef_ctx = spec_tagged_hash("kz-tally/v1/ceremony-coefficient", cer_ctx, u64(index), u64(t))
    x, w = fixed_scalar("ceremony/coefficient"), fixed_scalar("ceremony/w")
    commitment_point = base_mul(x)
    tag = "kz-tally/v1/proof/schnorr"
    c = spec_hash_to_scalar(tag, coef_ctx, commitment_point.to_bytes(), base_mul(w).to_bytes())
    schnorr = {
        "name": "ceremony-coefficient",
        "tag": tag,
        "election_id": election_id,
        "guardian_list": guardian_list.hex(),
        "attempt": attempt,
        "n": n,
        "k": k,
        "guardian": index,
        "t": t,
        "ceremony_context": cer_ctx.hex(),
        "context": coef_ctx.hex(),
        "public": commitment_point.hex(),
        "witness": x.hex(),
        "prover_randomness": [w.hex()],
        "commitments": {"commitment": base_mul(w).hex()},
        "challenge": c.hex(),
        "proof": {"c": c.hex(), "u": (w + c * x).hex()},
    }

    return {
        "about": (
            "kz-tally Fiat-Shamir known-answer vectors (docs/protocol.md sections 4-7). Hex is "
            "lowercase; points are ristretto255 encodings, scalars 32-byte little-endian. "
            "'witness' and 'prover_randomness' (in the order the prover draws them) are test "
            "values only, given so that a prover can be checked too."
        ),
        "ballot": {
            "manifest_hash": manifest_hash.hex(),
            "unit": unit,
            "round": round_no,
            "elector": elector,
            "candidates": candidates,
            "choice": "BETA",
            "ballot_context": ctx.hex(),
            "selection_contexts": [c.hex() for c in selection_contexts],
            "sum_context": sum_ctx.hex(),
        },
        "zero_or_one": zero_or_one,
        "equal_dlog": [equal_dlog],
        "schnorr": [schnorr],
    }


# -- helpers to read the file ----------------------------------------------------------------------


def pt(text: str) -> Point:
    return Point.from_hex(text)


def sc(text: str) -> Scalar:
    return Scalar.from_hex(text)


def ct_of(v: dict[str, Any]) -> Ciphertext:
    return Ciphertext(pt(v["ciphertext"]["a"]), pt(v["ciphertext"]["b"]))


def ctx_of(v: dict[str, Any]) -> bytes:
    return bytes.fromhex(v["context"])


@pytest.fixture
def fixed_randomness(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the provers draw the vector's randomness, in order."""

    def use(values: list[str]) -> None:
        it: Iterator[Scalar] = iter(sc(x) for x in values)
        monkeypatch.setattr(Scalar, "random", classmethod(lambda cls: next(it)))

    return use


# -- the tests -------------------------------------------------------------------------------------


def test_vector_file_is_what_the_spec_gives() -> None:
    assert build_vectors() == VECTORS


def test_ballot_contexts() -> None:
    b = VECTORS["ballot"]
    manifest_hash = bytes.fromhex(b["manifest_hash"])
    ctx = ballot.ballot_context(manifest_hash, b["unit"], b["round"], b["elector"])
    assert ctx.hex() == b["ballot_context"]
    for i, candidate in enumerate(b["candidates"]):
        assert ballot.selection_context(ctx, i, candidate).hex() == b["selection_contexts"][i]
    assert ballot.sum_context(ctx, b["candidates"]).hex() == b["sum_context"]
    contexts = [v["context"] for v in VECTORS["zero_or_one"]]
    assert contexts == [*b["selection_contexts"], b["sum_context"]]


def test_share_and_ceremony_contexts() -> None:
    (d,) = VECTORS["equal_dlog"]
    ctx = decryption.share_context(
        bytes.fromhex(d["decryption_context"]), d["guardian"], d["position"], ct_of(d)
    )
    assert ctx.hex() == d["context"]
    (s,) = VECTORS["schnorr"]
    cer = ceremony.proof_context(
        s["election_id"], bytes.fromhex(s["guardian_list"]), s["attempt"], s["n"], s["k"]
    )
    assert cer.hex() == s["ceremony_context"]
    assert guardians.coefficient_context(cer, s["guardian"], s["t"]).hex() == s["context"]


@pytest.mark.parametrize("v", VECTORS["zero_or_one"], ids=lambda v: v["name"])
def test_zero_or_one_vector(v: dict[str, Any], fixed_randomness: Any) -> None:
    key, ct, ctx = pt(v["key"]), ct_of(v), ctx_of(v)
    a0, b0, a1, b1 = (pt(v["commitments"][n]) for n in ("A0", "B0", "A1", "B1"))
    challenge = proofs._zero_or_one_challenge(ctx, key, ct, (a0, b0, a1, b1))
    assert challenge.hex() == v["challenge"]
    proof = proofs.ZeroOrOneProof.from_json(v["proof"])
    assert proofs.verify_zero_or_one(ct, key, proof, ctx) is True
    fixed_randomness(v["prover_randomness"])
    witness = v["witness"]
    made = proofs.prove_zero_or_one(ct, witness["value"], sc(witness["nonce"]), key, ctx)
    assert made.to_json() == v["proof"]


def test_equal_dlog_vector(fixed_randomness: Any) -> None:
    (v,) = VECTORS["equal_dlog"]
    public, h, m, ctx = pt(v["public"]), pt(v["h"]), pt(v["m"]), ctx_of(v)
    commit_g, commit_h = pt(v["commitments"]["commit_g"]), pt(v["commitments"]["commit_h"])
    challenge = proofs._equal_dlog_challenge(ctx, public, h, m, commit_g, commit_h)
    assert challenge.hex() == v["challenge"]
    proof = proofs.EqualDlogProof.from_json(v["proof"])
    assert proofs.verify_equal_dlog(public, h, m, proof, ctx) is True
    fixed_randomness(v["prover_randomness"])
    assert proofs.prove_equal_dlog(sc(v["witness"]), public, h, m, ctx).to_json() == v["proof"]


def test_schnorr_vector(fixed_randomness: Any) -> None:
    (v,) = VECTORS["schnorr"]
    public, ctx = pt(v["public"]), ctx_of(v)
    challenge = proofs._schnorr_challenge(ctx, public, pt(v["commitments"]["commitment"]))
    assert challenge.hex() == v["challenge"]
    proof = proofs.SchnorrProof.from_json(v["proof"])
    assert proofs.verify_knowledge(public, proof, ctx) is True
    fixed_randomness(v["prover_randomness"])
    assert proofs.prove_knowledge(sc(v["witness"]), ctx).to_json() == v["proof"]
    fixed_randomness(v["prover_randomness"])
    assert proofs.prove_knowledge(sc(v["witness"]), ctx, public=public).to_json() == v["proof"]


def test_tags_are_the_documented_ones() -> None:
    assert VECTORS["zero_or_one"][0]["tag"] == proofs.TAG_ZERO_OR_ONE
    assert VECTORS["equal_dlog"][0]["tag"] == proofs.TAG_EQUAL_DLOG
    assert VECTORS["schnorr"][0]["tag"] == proofs.TAG_SCHNORR


if __name__ == "__main__":
    VECTOR_FILE.write_text(json.dumps(build_vectors(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {VECTOR_FILE}")
