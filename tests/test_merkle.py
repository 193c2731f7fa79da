"""RFC 9162 Merkle tree: hashing, inclusion and consistency proofs, the append-only tree.

``tests/vectors/rfc9162.json`` is a byte-identical copy of the project's shared test vectors
(``shared/testvectors/rfc9162.json``): RFC 9162 section 2.1 hashing over the Certificate
Transparency reference test leaves, with every root for sizes 0..8 and every inclusion and
consistency proof in those trees.

Beyond the vectors, the proofs are checked against a *model*: a literal transcription of the
recursive definitions of RFC 9162 sections 2.1.1, 2.1.3.1 and 2.1.4.1 over Python slices, and a
model verifier that places each proof hash at the subtree the definitions say it stands for and
recomputes the root(s). The module's verifiers follow the bit-twiddling algorithms of sections
2.1.3.2 and 2.1.4.2 instead, so the two are independent.

A note on tampered sizes: a proof does not commit to the tree size. Leaf 0's inclusion proof in
a tree of 5 leaves has the same shape as in a tree of 6, 7 or 8 (three right siblings), so it
also verifies for those sizes against the same root. Such a changed size is accepted exactly when
the model verifier accepts it too (the claim is indistinguishable from an honest one); every
other change of size, and every change of index, hash, root or proof length, is rejected. This is
why clients take sizes only from signed checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.merkle import (
    HASH_SIZE,
    MerkleTree,
    ProofError,
    consistency_proof,
    empty_root,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

REPO = Path(__file__).resolve().parent.parent
VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc9162.json").read_text("utf-8"))
EMPTY = hashlib.sha256(b"").digest()

# Distinct leaf hashes, and one tree over all of them that is asked about earlier sizes.
LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(4096)]
TREE = MerkleTree(LEAVES)
SMALL = LEAVES[:100]

EXHAUSTIVE_SIZES = range(1, 65)

Range = tuple[int, int]


# --------------------------------------------------------------------------------------------
# The model: RFC 9162's recursive definitions, transcribed literally


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1 << (n.bit_length() - 1)
    return k // 2 if k == n else k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes (section 2.1.1)."""
    n = len(d)
    if n == 0:
        return EMPTY
    if n == 1:
        return d[0]
    k = _k(n)
    return node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path_ranges(m: int, lo: int, hi: int) -> list[Range]:
    """PATH(m, D[lo:hi]) (section 2.1.3.1) as the leaf ranges of its hashes, leaf upwards."""
    n = hi - lo
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path_ranges(m, lo, lo + k), (lo + k, hi)]
    return [*ref_path_ranges(m - k, lo + k, hi), (lo, lo + k)]


def ref_subproof_ranges(m: int, lo: int, hi: int, b: bool) -> list[Range]:
    """SUBPROOF(m, D[lo:hi], b) (section 2.1.4.1) as the leaf ranges of its hashes."""
    n = hi - lo
    if m == n:
        return [] if b else [(lo, hi)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof_ranges(m, lo, lo + k, b), (lo + k, hi)]
    return [*ref_subproof_ranges(m - k, lo + k, hi, False), (lo, lo + k)]


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    return [ref_mth(d[a:b]) for a, b in ref_path_ranges(m, 0, len(d))]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return [ref_mth(d[a:b]) for a, b in ref_subproof_ranges(m, 0, len(d), True)]


def _fold(lo: int, hi: int, known: dict[Range, bytes]) -> bytes | None:
    """MTH(D[lo:hi]) from the known subtree hashes only; None if they do not determine it."""
    if (lo, hi) in known:
        return known[(lo, hi)]
    if hi - lo <= 1:
        return None
    mid = lo + _k(hi - lo)
    left, right = _fold(lo, mid, known), _fold(mid, hi, known)
    if left is None or right is None:
        return None
    return node_hash(left, right)


def model_verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], r: bytes
) -> bool:
    """Accept iff the proof hashes, placed where PATH(index, D[size]) puts them, give root r."""
    if not 0 <= index < size:
        return False
    ranges = ref_path_ranges(index, 0, size)
    if len(proof) != len(ranges):
        return False
    known = dict(zip(ranges, proof, strict=True))
    known[(index, index + 1)] = leaf
    return _fold(0, size, known) == r


def model_verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], r1: bytes, r2: bytes
) -> bool:
    """Accept iff the proof hashes, placed where PROOF(size1, D[size2]) puts them, give r1, r2."""
    if not 0 <= size1 <= size2:
        return False
    if size1 == 0:
        return not proof and r1 == EMPTY and (size2 > 0 or r2 == EMPTY)
    if size1 == size2:
        return not proof and r1 == r2
    ranges = ref_subproof_ranges(size1, 0, size2, True)
    if len(proof) != len(ranges):
        return False
    known = dict(zip(ranges, proof, strict=True))
    if size1 & (size1 - 1) == 0:
        known[(0, size1)] = r1  # the old tree is a complete subtree: its root is not repeated
    return _fold(0, size1, known) == r1 and _fold(0, size2, known) == r2


# --------------------------------------------------------------------------------------------
# Helpers


def flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[(bit // 8) % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


def proof_variants(proof: list[bytes], seed: int) -> list[list[bytes]]:
    """The proof with one hash added (front, middle, end) or removed (each one)."""
    extra = leaf_hash(b"extra %d" % seed)
    variants = [
        [extra, *proof],
        [*proof, extra],
        [*proof[: len(proof) // 2], extra, *proof[len(proof) // 2 :]],
    ]
    if proof:
        variants.append([*proof, proof[-1]])
    variants += [proof[:j] + proof[j + 1 :] for j in range(len(proof))]
    return variants


def changed_numbers(value: int, limit: int) -> list[int]:
    """value with each single bit flipped, from bit 0 to two bits above ``limit``'s length, and
    far out of range (bit 64, negative)."""
    bits = [*range(limit.bit_length() + 2), 64]
    return [value ^ (1 << b) for b in bits] + [-1 - value, -value - 2**64]


def hashes_to_flip(proof: list[bytes], seed: int, every_bit: bool) -> list[tuple[int, int]]:
    """(element, bit) pairs to flip: element -1 is the root."""
    bits = range(HASH_SIZE * 8) if every_bit else [(seed * 37) % 256, (seed * 101 + 5) % 256]
    return [(j, b) for j in range(-1, len(proof)) for b in bits]


# --------------------------------------------------------------------------------------------
# The shared test vectors


def _hx(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


VEC_LEAVES = _hx(VECTORS["leaf_hashes"])
VEC_ROOTS = {int(n): bytes.fromhex(r) for n, r in VECTORS["roots"].items()}


def test_vectors_file_is_complete() -> None:
    assert sorted(VEC_ROOTS) == list(range(9))
    assert len(VECTORS["leaves_hex"]) == len(VEC_LEAVES) == 8
    # every (index, size) for sizes 1..8 and every (size1, size2) with 1 <= size1 <= size2 <= 8
    assert sorted((v["index"], v["tree_size"]) for v in VECTORS["inclusion"]) == sorted(
        (i, n) for n in range(1, 9) for i in range(n)
    )
    assert sorted((v["size1"], v["size2"]) for v in VECTORS["consistency"]) == sorted(
        (m, n) for n in range(1, 9) for m in range(1, n + 1)
    )


def test_vector_leaf_hashes() -> None:
    for data_hex, expected in zip(VECTORS["leaves_hex"], VEC_LEAVES, strict=True):
        data = bytes.fromhex(data_hex)
        assert leaf_hash(data) == expected
        assert leaf_hash(data) == hashlib.sha256(b"\x00" + data).digest()


def test_vector_roots() -> None:
    assert VEC_ROOTS[0] == empty_root() == EMPTY
    grown = MerkleTree()
    assert grown.root() == VEC_ROOTS[0]
    for h in VEC_LEAVES:
        grown.append(h)
        assert grown.root() == VEC_ROOTS[grown.size]
    full = MerkleTree(VEC_LEAVES)
    for n, expected in VEC_ROOTS.items():
        assert root(VEC_LEAVES[:n]) == expected
        assert ref_mth(VEC_LEAVES[:n]) == expected
        assert full.root(n) == expected
        assert grown.root(n) == expected


@pytest.mark.parametrize(
    "vector", VECTORS["inclusion"], ids=lambda v: f"{v['index']}-of-{v['tree_size']}"
)
def test_vector_inclusion(vector: dict[str, object]) -> None:
    index, size = vector["index"], vector["tree_size"]
    assert isinstance(index, int) and isinstance(size, int)
    path = _hx(vector["path"])  # type: ignore[arg-type]
    assert inclusion_proof(VEC_LEAVES, index, size) == path
    assert MerkleTree(VEC_LEAVES).inclusion_proof(index, size) == path
    assert MerkleTree(VEC_LEAVES[:size]).inclusion_proof(index) == path
    assert verify_inclusion(VEC_LEAVES[index], index, size, path, VEC_ROOTS[size])
    assert not verify_inclusion(VEC_LEAVES[index], index, size, path, VEC_ROOTS[size - 1])


@pytest.mark.parametrize(
    "vector", VECTORS["consistency"], ids=lambda v: f"{v['size1']}-to-{v['size2']}"
)
def test_vector_consistency(vector: dict[str, object]) -> None:
    size1, size2 = vector["size1"], vector["size2"]
    assert isinstance(size1, int) and isinstance(size2, int)
    proof = _hx(vector["proof"])  # type: ignore[arg-type]
    assert consistency_proof(VEC_LEAVES, size1, size2) == proof
    assert MerkleTree(VEC_LEAVES).consistency_proof(size1, size2) == proof
    assert MerkleTree(VEC_LEAVES[:size2]).consistency_proof(size1) == proof
    assert verify_consistency(size1, size2, proof, VEC_ROOTS[size1], VEC_ROOTS[size2])
    if size1 != size2:
        assert not verify_consistency(size1, size2, proof, VEC_ROOTS[size2], VEC_ROOTS[size2])


# --------------------------------------------------------------------------------------------
# Every size 1..64: every index, every pair of sizes


def check_inclusion(index: int, size: int, every_bit: bool) -> int:
    """Build, cross-check, verify and tamper with one inclusion proof. Returns how many changed
    sizes were (rightly, per the model) accepted."""
    leaves = LEAVES[:size]
    r = TREE.root(size)
    proof = inclusion_proof(LEAVES, index, size)
    assert proof == TREE.inclusion_proof(index, size)
    assert all(len(p) == HASH_SIZE for p in proof)
    leaf = LEAVES[index]
    assert verify_inclusion(leaf, index, size, proof, r)
    assert model_verify_inclusion(leaf, index, size, proof, r)

    seed = index * 131 + size
    for j, bit in hashes_to_flip(proof, seed, every_bit):
        if j < 0:
            assert not verify_inclusion(leaf, index, size, proof, flip(r, bit))
        else:
            bad = list(proof)
            bad[j] = flip(bad[j], bit)
            assert not verify_inclusion(leaf, index, size, bad, r)
    assert not verify_inclusion(flip(leaf, seed), index, size, proof, r)
    for variant in proof_variants(proof, seed):
        assert not verify_inclusion(leaf, index, size, variant, r)
    for other in changed_numbers(index, size):
        assert not verify_inclusion(leaf, other, size, proof, r)
    accepted = 0
    for other in changed_numbers(size, size):
        got = verify_inclusion(leaf, index, other, proof, r)
        assert got == model_verify_inclusion(leaf, index, other, proof, r), other
        accepted += got
    assert proof == ref_path(index, leaves)
    return accepted


def check_consistency(size1: int, size2: int, every_bit: bool) -> int:
    r1, r2 = TREE.root(size1), TREE.root(size2)
    proof = consistency_proof(LEAVES, size1, size2)
    assert proof == TREE.consistency_proof(size1, size2)
    assert verify_consistency(size1, size2, proof, r1, r2)
    assert model_verify_consistency(size1, size2, proof, r1, r2)
    if size1 == 0 or size1 == size2:
        assert proof == []

    seed = size1 * 131 + size2
    for j, bit in hashes_to_flip(proof, seed, every_bit):
        bad = list(proof)
        if j < 0:
            assert not verify_consistency(size1, size2, proof, flip(r1, bit), r2)
            # The empty tree is consistent with every tree: root2 is not checked for size1 == 0.
            assert verify_consistency(size1, size2, proof, r1, flip(r2, bit)) == (
                size1 == 0 and size2 > 0
            )
        else:
            bad[j] = flip(bad[j], bit)
            assert not verify_consistency(size1, size2, bad, r1, r2)
    for variant in proof_variants(proof, seed):
        assert not verify_consistency(size1, size2, variant, r1, r2)
    accepted = 0
    for other in changed_numbers(size1, size2):
        got = verify_consistency(other, size2, proof, r1, r2)
        assert got == model_verify_consistency(other, size2, proof, r1, r2), other
        accepted += got
    for other in changed_numbers(size2, size2):
        got = verify_consistency(size1, other, proof, r1, r2)
        assert got == model_verify_consistency(size1, other, proof, r1, r2), other
        accepted += got
    if 0 < size1 < size2:
        assert proof == ref_proof(size1, LEAVES[:size2])
    return accepted


@pytest.mark.parametrize("size", EXHAUSTIVE_SIZES)
def test_every_inclusion_proof(size: int) -> None:
    assert TREE.root(size) == root(LEAVES[:size]) == ref_mth(LEAVES[:size])
    for index in range(size):
        check_inclusion(index, size, every_bit=size <= 8)


@pytest.mark.parametrize("size2", EXHAUSTIVE_SIZES)
def test_every_consistency_proof(size2: int) -> None:
    for size1 in range(size2 + 1):
        check_consistency(size1, size2, every_bit=size2 <= 8)


def test_changed_sizes_are_mostly_rejected() -> None:
    """The shape ambiguity is real but narrow: count it over sizes 1..32."""
    tried = accepted = 0
    for size in range(1, 33):
        for index in range(size):
            accepted += check_inclusion(index, size, every_bit=False)
            tried += len(changed_numbers(size, size))
    assert 0 < accepted < tried // 4


def test_a_proof_does_not_commit_to_the_size() -> None:
    """Leaf 0 has a proof of the same shape (three right siblings) in every tree of 5 to 8
    leaves, as RFC 9162 is built; the checkpoint's signature is what binds the size."""
    proof = TREE.inclusion_proof(0, 5)
    r = TREE.root(5)
    for size in (5, 6, 7, 8):
        assert verify_inclusion(LEAVES[0], 0, size, proof, r)
    for size in (1, 2, 3, 4, 9, 13, 16, 17):
        assert not verify_inclusion(LEAVES[0], 0, size, proof, r)
    # Honestly, the size-7 tree has a different root and a different last proof hash.
    assert TREE.root(7) != r and TREE.inclusion_proof(0, 7)[-1] != proof[-1]


# --------------------------------------------------------------------------------------------
# Random sizes up to a few thousand


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_sizes(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=65, max_value=3000), label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    size1 = data.draw(st.integers(min_value=0, max_value=size), label="size1")
    assert TREE.root(size) == root(LEAVES[:size])
    check_inclusion(index, size, every_bit=False)
    check_consistency(size1, size, every_bit=False)

    # A random single-bit change anywhere in the inclusion claim.
    proof = TREE.inclusion_proof(index, size)
    r = TREE.root(size)
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    j = data.draw(st.integers(min_value=-1, max_value=len(proof) - 1), label="element")
    if j < 0:
        assert not verify_inclusion(LEAVES[index], index, size, proof, flip(r, bit))
    else:
        bad = list(proof)
        bad[j] = flip(bad[j], bit)
        assert not verify_inclusion(LEAVES[index], index, size, bad, r)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=0, max_size=300))
def test_tree_matches_functions_for_arbitrary_leaves(hashes: list[bytes]) -> None:
    tree = MerkleTree(hashes)
    assert tree.size == len(tree) == len(hashes)
    for n in {0, 1, len(hashes) // 3, len(hashes) // 2, len(hashes) - 1, len(hashes)}:
        if not 0 <= n <= len(hashes):
            continue
        assert tree.root(n) == root(hashes[:n])
        for i in {0, n // 2, n - 1}:
            if 0 <= i < n:
                assert tree.inclusion_proof(i, n) == inclusion_proof(hashes, i, n)
                assert verify_inclusion(hashes[i], i, n, tree.inclusion_proof(i, n), tree.root(n))
        for m in {0, 1, n // 2, n}:
            if 0 <= m <= n:
                p = tree.consistency_proof(m, n)
                assert p == consistency_proof(hashes, m, n)
                assert verify_consistency(m, n, p, tree.root(m), tree.root(n))


# --------------------------------------------------------------------------------------------
# The append-only tree


def test_tree_history_never_changes() -> None:
    tree = MerkleTree()
    roots = [tree.root()]
    for i, h in enumerate(LEAVES[:140]):
        assert tree.append(h) == i
        assert tree.size == i + 1
        roots.append(tree.root())
        assert roots[-1] == tree.root(tree.size)
        for s in range(0, len(roots), 7):
            assert tree.root(s) == roots[s]
    for s, r in enumerate(roots):
        assert r == root(LEAVES[:s]) == TREE.root(s)
        assert tree.root(s) == r
    for i in range(140):
        assert tree.leaf_hash(i) == LEAVES[i]


def test_tree_construction_and_extend() -> None:
    a = MerkleTree(iter(LEAVES[:50]))
    b = MerkleTree()
    b.extend(LEAVES[:20])
    b.extend(x for x in LEAVES[20:50])
    c = MerkleTree([bytearray(h) for h in LEAVES[:50]])  # type: ignore[misc]
    assert a.root() == b.root() == c.root() == root(LEAVES[:50])
    assert isinstance(c.leaf_hash(3), bytes)
    assert MerkleTree().size == 0
    assert MerkleTree().root() == EMPTY
    assert MerkleTree().root(0) == EMPTY


def test_tree_rejects_bad_leaves() -> None:
    tree = MerkleTree(LEAVES[:3])
    for bad in (b"", b"\x00" * 31, b"\x00" * 33):
        with pytest.raises(ValueError):
            tree.append(bad)
    for wrong in ("a" * 32, None, 5, [0] * 32):
        with pytest.raises(TypeError):
            tree.append(wrong)  # type: ignore[arg-type]
    assert tree.size == 3 and tree.root() == root(LEAVES[:3])
    with pytest.raises(ValueError):
        root([LEAVES[0], b"short"])
    with pytest.raises(ValueError):
        inclusion_proof([LEAVES[0], b"short"], 0, 2)


def test_tree_out_of_range() -> None:
    tree = MerkleTree(LEAVES[:10])
    for bad in (-1, 10, 11, 2**70):
        with pytest.raises(ProofError):
            tree.leaf_hash(bad)
    for bad in (-1, 11, 2**70):
        with pytest.raises(ProofError):
            tree.root(bad)
    for index, size in ((-1, 10), (10, 10), (0, 0), (5, 5), (0, 11), (0, -1), (3, None)):
        if size is None:
            with pytest.raises(ProofError):
                MerkleTree(LEAVES[:3]).inclusion_proof(index)
            continue
        with pytest.raises(ProofError):
            tree.inclusion_proof(index, size)
    for size1, size2 in ((-1, 5), (6, 5), (0, 11), (11, 11), (11, None), (-1, None)):
        with pytest.raises(ProofError):
            tree.consistency_proof(size1, size2)
    for bad_type in (True, 1.0, "1", None):
        with pytest.raises(TypeError):
            tree.inclusion_proof(bad_type)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            inclusion_proof(SMALL, bad_type, 10)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            consistency_proof(SMALL, 1, bad_type)  # type: ignore[arg-type]
    assert issubclass(ProofError, ValueError)


# --------------------------------------------------------------------------------------------
# Edge cases of the definitions


def test_hash_functions() -> None:
    a, b = LEAVES[0], LEAVES[1]
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert root([]) == EMPTY
    assert root([a]) == a
    assert root([a, b]) == node_hash(a, b)
    assert root(LEAVES[:3]) == node_hash(node_hash(LEAVES[0], LEAVES[1]), LEAVES[2])


def test_single_leaf_inclusion() -> None:
    assert inclusion_proof(LEAVES, 0, 1) == [] == TREE.inclusion_proof(0, 1)
    assert verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])
    assert not verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[1])
    assert not verify_inclusion(LEAVES[0], 0, 0, [], EMPTY)  # nothing is in the empty tree


def test_consistency_edge_cases() -> None:
    r5 = TREE.root(5)
    # size1 == size2: nothing to prove.
    assert consistency_proof(LEAVES, 5, 5) == [] == TREE.consistency_proof(5, 5)
    assert verify_consistency(5, 5, [], r5, r5)
    assert not verify_consistency(5, 5, [], r5, TREE.root(4))
    assert not verify_consistency(5, 5, [LEAVES[0]], r5, r5)
    assert verify_consistency(0, 0, [], EMPTY, EMPTY)
    assert not verify_consistency(0, 0, [], r5, r5)  # a size-0 tree has only one root
    # size1 == 0: the empty tree is a prefix of everything.
    assert consistency_proof(LEAVES, 0, 5) == [] == TREE.consistency_proof(0, 5)
    assert verify_consistency(0, 5, [], EMPTY, r5)
    assert not verify_consistency(0, 5, [], r5, r5)
    assert not verify_consistency(0, 5, [LEAVES[0]], EMPTY, r5)
    # 0 < size1 < size2 needs a proof.
    assert not verify_consistency(4, 5, [], TREE.root(4), r5)
    # size1 > size2
    assert not verify_consistency(6, 5, [], r5, r5)
    # function builders check ranges against the leaves given
    for size1, size2 in ((-1, 5), (6, 5), (0, 101), (101, 101)):
        with pytest.raises(ProofError):
            consistency_proof(SMALL, size1, size2)
    for index, size in ((-1, 5), (5, 5), (0, 0), (0, 101), (100, 101)):
        with pytest.raises(ProofError):
            inclusion_proof(SMALL, index, size)


def test_verifiers_accept_bytes_like_and_tuples() -> None:
    proof = TREE.inclusion_proof(3, 10)
    assert verify_inclusion(
        bytearray(LEAVES[3]),  # type: ignore[arg-type]
        3,
        10,
        tuple(bytearray(p) for p in proof),  # type: ignore[misc]
        bytearray(TREE.root(10)),  # type: ignore[arg-type]
    )
    cproof = TREE.consistency_proof(3, 10)
    assert verify_consistency(3, 10, tuple(cproof), TREE.root(3), TREE.root(10))


def test_verifiers_reject_malformed_types() -> None:
    proof = TREE.inclusion_proof(3, 10)
    r = TREE.root(10)
    leaf = LEAVES[3]
    assert verify_inclusion(leaf, 3, 10, proof, r)
    for bad_int in (True, 3.0, "3", None):
        assert not verify_inclusion(leaf, bad_int, 10, proof, r)  # type: ignore[arg-type]
        assert not verify_inclusion(leaf, 3, bad_int, proof, r)  # type: ignore[arg-type]
    for bad_hash in (leaf.hex(), leaf[:31], leaf + b"\x00", None, memoryview(leaf)):
        assert not verify_inclusion(bad_hash, 3, 10, proof, r)  # type: ignore[arg-type]
        assert not verify_inclusion(leaf, 3, 10, proof, bad_hash)  # type: ignore[arg-type]
        assert not verify_inclusion(leaf, 3, 10, [bad_hash, *proof[1:]], r)  # type: ignore[list-item]
    for bad_proof in (None, b"".join(proof), "".join(p.hex() for p in proof), 7, {1: 2}):
        assert not verify_inclusion(leaf, 3, 10, bad_proof, r)  # type: ignore[arg-type]
        assert not verify_consistency(3, 10, bad_proof, TREE.root(3), r)  # type: ignore[arg-type]


def test_verify_consistency_rejects_malformed_types() -> None:
    """Each call below would pass (or raise) if the type checks were weakened: True is 1 and
    3.0 == 3 in Python, and the size1 == size2 and size1 == 0 cases never hash the roots."""
    r1, r3, r10 = TREE.root(1), TREE.root(3), TREE.root(10)
    p1, p3 = TREE.consistency_proof(1, 10), TREE.consistency_proof(3, 10)
    assert verify_consistency(1, 10, p1, r1, r10) is True
    assert verify_consistency(3, 10, p3, r3, r10) is True
    for bad_int in (True, 1.0, "1", None):
        assert verify_consistency(bad_int, 10, p1, r1, r10) is False  # type: ignore[arg-type]
        assert verify_consistency(1, 10, p1, r1, r10) is True
    for bad_int in (3.0, "3", None, 3 + 0j):
        assert verify_consistency(bad_int, 10, p3, r3, r10) is False  # type: ignore[arg-type]
    for bad_int in (10.0, "10", None):
        assert verify_consistency(3, bad_int, p3, r3, r10) is False  # type: ignore[arg-type]
        assert verify_consistency(bad_int, bad_int, [], r10, r10) is False  # type: ignore[arg-type]
    assert verify_consistency(True, True, [], r1, r1) is False  # type: ignore[arg-type]
    assert verify_consistency(0, False, [], EMPTY, EMPTY) is False  # type: ignore[arg-type]
    assert verify_consistency(False, 10, [], EMPTY, r10) is False  # type: ignore[arg-type]
    for bad_hash in (r10.hex(), r10[:31], r10 + b"\x00", None, memoryview(r10), b""):
        # size1 == size2 compares the roots only; size1 == 0 never looks at root2
        assert verify_consistency(5, 5, [], bad_hash, bad_hash) is False  # type: ignore[arg-type]
        assert verify_consistency(0, 10, [], EMPTY, bad_hash) is False  # type: ignore[arg-type]
        assert verify_consistency(3, 10, p3, bad_hash, r10) is False  # type: ignore[arg-type]
        assert verify_consistency(3, 10, p3, r3, bad_hash) is False  # type: ignore[arg-type]
        bad_path = [bad_hash, *p3[1:]]
        assert verify_consistency(3, 10, bad_path, r3, r10) is False  # type: ignore[arg-type]
    assert verify_consistency(0, 0, [], bytearray(EMPTY), bytearray(EMPTY)) is True  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Fuzzing: verifiers never raise, and agree with the model


# Numbers the model can handle (its recursion is as deep as a proof is long) ...
_ints = st.one_of(
    st.integers(min_value=-3, max_value=80),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.integers(min_value=-(2**130), max_value=2**130),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), 2**200]),
)
# ... and any number at all, for the verifiers alone.
_any_int = st.one_of(_ints, st.integers(), st.sampled_from([2**5000, -(2**5000), 2**5000 + 1]))
_hash = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.sampled_from([*LEAVES[:8], *(TREE.root(n) for n in range(9))]),
)
_junk = st.one_of(
    st.binary(max_size=40),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.builds(bytearray, st.binary(max_size=40)),
)
_anything = st.one_of(_any_int, _hash, _junk)
_proofs = st.one_of(
    st.lists(_hash, max_size=12),
    st.lists(st.one_of(_hash, _junk), max_size=12),
    st.lists(_hash, min_size=40, max_size=150),
    _anything,
)


def _well_formed(*ints: object, hashes: tuple[object, ...], proof: object) -> bool:
    """The input types the verifiers take: ints (not bools), 32-byte hashes, a list of them."""
    return (
        all(type(n) is int for n in ints)
        and all(isinstance(h, bytes | bytearray) and len(h) == 32 for h in hashes)
        and isinstance(proof, list)
        and all(isinstance(h, bytes | bytearray) and len(h) == 32 for h in proof)
    )


@settings(max_examples=250, deadline=None)
@given(_anything, _anything, _anything, _proofs, _anything)
def test_verify_inclusion_never_raises(
    leaf: object, index: object, size: object, proof: object, r: object
) -> None:
    got = verify_inclusion(leaf, index, size, proof, r)  # type: ignore[arg-type]
    assert got is True or got is False
    if not (_well_formed(index, size, hashes=(leaf, r), proof=proof) and 0 <= index < size):  # type: ignore[operator]
        assert got is False


@settings(max_examples=250, deadline=None)
@given(_anything, _anything, _proofs, _anything, _anything)
def test_verify_consistency_never_raises(
    size1: object, size2: object, proof: object, r1: object, r2: object
) -> None:
    got = verify_consistency(size1, size2, proof, r1, r2)  # type: ignore[arg-type]
    assert got is True or got is False
    if not (_well_formed(size1, size2, hashes=(r1, r2), proof=proof) and 0 <= size1 <= size2):  # type: ignore[operator]
        assert got is False


@settings(max_examples=250, deadline=None)
@given(
    index=_ints,
    size=_ints,
    source=st.tuples(st.integers(0, 199), st.integers(1, 200)),
    proof_edit=st.lists(st.integers(0, 20), max_size=3),
)
def test_verify_inclusion_agrees_with_model(
    index: int, size: int, source: tuple[int, int], proof_edit: list[int]
) -> None:
    """Honest material from one claim, checked against arbitrary other claims."""
    i, n = source[0] % source[1], source[1]
    proof = TREE.inclusion_proof(i, n)
    for k in proof_edit:  # drop some hashes, or keep all
        if proof and k < 3:
            proof.pop(k % len(proof))
    r = TREE.root(n)
    leaf = LEAVES[i]
    for claim_index, claim_size in ((index, size), (i, size), (index, n)):
        got = verify_inclusion(leaf, claim_index, claim_size, proof, r)
        assert got == model_verify_inclusion(leaf, claim_index, claim_size, proof, r)
        if claim_index != i and claim_size == n:
            assert not got


@settings(max_examples=250, deadline=None)
@given(
    size1=_ints,
    size2=_ints,
    source=st.tuples(st.integers(0, 200), st.integers(0, 200)),
    drop=st.lists(st.integers(0, 20), max_size=3),
)
def test_verify_consistency_agrees_with_model(
    size1: int, size2: int, source: tuple[int, int], drop: list[int]
) -> None:
    m, n = sorted(source)
    proof = TREE.consistency_proof(m, n)
    for k in drop:
        if proof and k < 3:
            proof.pop(k % len(proof))
    r1, r2 = TREE.root(m), TREE.root(n)
    for a, b in ((size1, size2), (m, size2), (size1, n)):
        got = verify_consistency(a, b, proof, r1, r2)
        assert got == model_verify_consistency(a, b, proof, r1, r2)


@settings(max_examples=200, deadline=None)
@given(index=_ints, size=_ints)
def test_builders_raise_proof_error_out_of_range(index: int, size: int) -> None:
    tree = MerkleTree(SMALL)
    if 0 <= index < size <= len(SMALL):
        assert inclusion_proof(SMALL, index, size) == tree.inclusion_proof(index, size)
    else:
        with pytest.raises(ProofError):
            inclusion_proof(SMALL, index, size)
        with pytest.raises(ProofError):
            tree.inclusion_proof(index, size)
    size1, size2 = index, size
    if 0 <= size1 <= size2 <= len(SMALL):
        assert consistency_proof(SMALL, size1, size2) == tree.consistency_proof(size1, size2)
    else:
        with pytest.raises(ProofError):
            consistency_proof(SMALL, size1, size2)
        with pytest.raises(ProofError):
            tree.consistency_proof(size1, size2)
    if not 0 <= size <= len(SMALL):
        with pytest.raises(ProofError):
            tree.root(size)


# --------------------------------------------------------------------------------------------
# The benchmark script still runs


def test_bench_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_log.py"), "--leaves", "2000", "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 8
    assert all(len(line.split()) >= 2 for line in lines)
