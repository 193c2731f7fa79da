"""RFC 9162 Merkle tree hashing, inclusion and consistency proofs, and an append-only tree.

Hashing is exactly RFC 9162 section 2.1 with SHA-256:

    MTH({})        = SHA-256()                                   (``empty_root``)
    leaf hash      = SHA-256(0x00 || entry)                      (``leaf_hash``)
    interior node  = SHA-256(0x01 || left || right)              (``node_hash``)
    MTH(D[n]), n>1 = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n

Everything below works on *leaf hashes*, never on raw entries: callers hash an entry once with
``leaf_hash`` and keep the 32-byte result.

Proofs are lists of 32-byte hashes ordered from the leaf (or the old tree) upwards, as in RFC 9162
sections 2.1.3.1 (PATH) and 2.1.4.1 (PROOF / SUBPROOF); the verifiers follow sections 2.1.3.2 and
2.1.4.2 step by step.

Two kinds of functions with two kinds of failure:

- The proof *builders* (``inclusion_proof``, ``consistency_proof`` and the ``MerkleTree``
  methods) raise ``ProofError`` when an index or size is out of range, ``TypeError`` when an
  index or size is not an ``int`` and ``ValueError`` when a leaf hash is not 32 bytes.
- The *verifiers* (``verify_inclusion``, ``verify_consistency``) never raise: whatever they are
  given (wrong types, negative or huge numbers, hashes of the wrong length, proofs of the wrong
  length) they answer ``True`` or ``False``.

Edge cases of consistency, following RFC 9162 (which defines PROOF(m, D[n]) for 0 < m < n):

- ``size1 == size2``: there is nothing to prove. The proof is empty, and it verifies iff it is
  empty and the two roots are equal (for size 0, both must be ``empty_root()``).
- ``size1 == 0``: the empty tree is a prefix of every tree. The proof is empty, and it verifies
  iff it is empty and ``root1 == empty_root()`` (``root2`` must still be a 32-byte hash).

A root does not commit to its tree size, and neither does a proof: RFC 9162 proofs for
different sizes can have exactly the same shape (for example, leaf 0's inclusion proof in a tree
of 5 leaves has the same shape as in a tree of 6, 7 or 8), so a proof that verifies against a
root for one size can also verify against the same root for another size. Trust a size only
from a signed checkpoint, together with its root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "HASH_SIZE",
    "MerkleTree",
    "ProofError",
    "consistency_proof",
    "empty_root",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256

# A callable giving MTH(D[lo:hi]) for the subtrees that a proof needs.
_SubtreeHash = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof was asked for with an index or a size out of range."""


# --------------------------------------------------------------------------------------------
# Hashing


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one log entry."""
    return _sha256(_LEAF_PREFIX + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _sha256(_NODE_PREFIX + bytes(left) + bytes(right)).digest()


def empty_root() -> bytes:
    """The root of the empty tree, SHA-256 of the empty string."""
    return _EMPTY_ROOT


# --------------------------------------------------------------------------------------------
# Argument checks


def _is_int(value: object) -> bool:
    # bool is an int subclass, but True as a tree size is a bug, not a size.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes | bytearray) and len(value) == HASH_SIZE


def _require_int(name: str, value: object) -> int:
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    assert isinstance(value, int)
    return value


def _require_hash(name: str, value: object) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise ValueError(f"{name} must be {HASH_SIZE} bytes, not {len(value)}")
    return bytes(value)


def _prefix_hashes(leaf_hashes: Sequence[bytes], count: int) -> list[bytes]:
    """The first ``count`` leaf hashes as a list of bytes, each checked to be 32 bytes."""
    out = [leaf_hashes[i] for i in range(count)]
    for i, h in enumerate(out):
        if type(h) is not bytes or len(h) != HASH_SIZE:
            out[i] = _require_hash(f"leaf hash {i}", h)
    return out


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


# --------------------------------------------------------------------------------------------
# Function interface over a sequence of leaf hashes (straightforward; MerkleTree is the fast one)


def _mth(hashes: list[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) computed level by level.

    Pairing neighbours left to right and carrying an odd last node up unchanged gives the same
    tree as RFC 9162's split at the largest power of two.
    """
    if hi <= lo:
        return _EMPTY_ROOT
    level = hashes[lo:hi]
    while len(level) > 1:
        paired = [
            _sha256(_NODE_PREFIX + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) & 1:
            paired.append(level[-1])
        level = paired
    return level[0]


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over the given leaf hashes; ``empty_root()`` for none."""
    hashes = _prefix_hashes(leaf_hashes, len(leaf_hashes))
    return _mth(hashes, 0, len(hashes))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """PATH(index, D[tree_size]) of RFC 9162 section 2.1.3.1, from the leaf upwards.

    Uses the first ``tree_size`` of ``leaf_hashes``. Raises ProofError unless
    0 <= index < tree_size <= len(leaf_hashes).
    """
    _require_int("index", index)
    _require_int("tree_size", tree_size)
    if not 0 <= index < tree_size:
        raise ProofError(f"index {index} is not in a tree of size {tree_size}")
    if tree_size > len(leaf_hashes):
        raise ProofError(f"tree size {tree_size} exceeds the {len(leaf_hashes)} leaves given")
    hashes = _prefix_hashes(leaf_hashes, tree_size)
    path: list[bytes] = []
    lo, hi = 0, tree_size
    while hi - lo > 1:  # top-down; reversed at the end
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append(_mth(hashes, mid, hi))
            hi = mid
        else:
            path.append(_mth(hashes, lo, mid))
            lo = mid
    path.reverse()
    return path


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """PROOF(size1, D[size2]) of RFC 9162 section 2.1.4.1.

    Uses the first ``size2`` of ``leaf_hashes``. Raises ProofError unless
    0 <= size1 <= size2 <= len(leaf_hashes). The proof is empty when size1 == 0 or
    size1 == size2 (see the module docstring).
    """
    _require_int("size1", size1)
    _require_int("size2", size2)
    if not 0 <= size1 <= size2:
        raise ProofError(f"sizes {size1} and {size2} are not 0 <= size1 <= size2")
    if size2 > len(leaf_hashes):
        raise ProofError(f"tree size {size2} exceeds the {len(leaf_hashes)} leaves given")
    if size1 == 0 or size1 == size2:
        return []
    hashes = _prefix_hashes(leaf_hashes, size2)
    return _subproof(size1, size2, lambda lo, hi: _mth(hashes, lo, hi))


def _subproof(size1: int, size2: int, subtree: _SubtreeHash) -> list[bytes]:
    """SUBPROOF(size1, D[size2], true) for 0 < size1 < size2, unrolled into a loop.

    ``subtree(lo, hi)`` gives MTH(D[lo:hi]) for the subtrees the recursion visits.
    """
    proof: list[bytes] = []  # top-down; reversed at the end
    m = size1  # size1 relative to the current subtree D[lo:hi]
    lo, hi = 0, size2
    whole = True  # RFC 9162's b: is D[lo:hi] still a prefix that the old root covers?
    while m != hi - lo:
        mid = lo + _split(hi - lo)
        if lo + m <= mid:
            proof.append(subtree(mid, hi))
            hi = mid
        else:
            proof.append(subtree(lo, mid))
            m -= mid - lo
            lo = mid
            whole = False
    if not whole:
        proof.append(subtree(lo, hi))
    proof.reverse()
    return proof


# --------------------------------------------------------------------------------------------
# Verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2). Never raises.


def _hash_list(proof: object) -> list[bytes] | None:
    """The proof as a list of 32-byte bytes, or None if it is anything else."""
    if isinstance(proof, bytes | bytearray | memoryview | str) or not isinstance(proof, Iterable):
        return None  # a single value, not a list of hashes
    try:
        items = list(proof)
    except Exception:
        return None
    out: list[bytes] = []
    for item in items:
        if type(item) is not bytes:
            if not isinstance(item, bytes | bytearray):
                return None
            item = bytes(item)
        if len(item) != HASH_SIZE:
            return None
        out.append(item)
    return out


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` puts ``leaf_hash`` at ``index`` in the tree (``tree_size``, ``root``).

    RFC 9162 section 2.1.3.2. Never raises; malformed input gives False.
    """
    if not (_is_int(index) and _is_int(tree_size)):
        return False
    if not (_is_hash(leaf_hash) and _is_hash(root)):
        return False
    path = _hash_list(proof)
    if path is None:
        return False
    # 1. leaf_index must be in the tree.
    if not 0 <= index < tree_size:
        return False
    # 2. fn is the leaf's index and sn the last index, both shifted up level by level.
    fn = index
    sn = tree_size - 1
    # 3. r starts as the leaf hash.
    r = bytes(leaf_hash)
    # 4. Fold the path in, from the leaf upwards.
    for p in path:
        if sn == 0:  # 4a. more hashes than levels
            return False
        if fn & 1 or fn == sn:  # 4b. p is a left sibling
            r = _sha256(_NODE_PREFIX + p + r).digest()
            if not fn & 1:
                # fn is on the right edge with no sibling at these levels: climb past them.
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:  # p is a right sibling
            r = _sha256(_NODE_PREFIX + r + p).digest()
        fn >>= 1  # 4c.
        sn >>= 1
    # 5. The path must reach the top exactly, at the given root.
    return sn == 0 and r == root


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """Whether ``proof`` shows the tree (size1, root1) is a prefix of the tree (size2, root2).

    RFC 9162 section 2.1.4.2, with the size1 == 0 and size1 == size2 cases of the module
    docstring. Never raises; malformed input gives False.
    """
    if not (_is_int(size1) and _is_int(size2)):
        return False
    if not (_is_hash(root1) and _is_hash(root2)):
        return False
    path = _hash_list(proof)
    if path is None:
        return False
    if not 0 <= size1 <= size2:
        return False
    if size1 == 0 and root1 != _EMPTY_ROOT:
        return False
    if size1 == size2:
        return not path and root1 == root2
    if size1 == 0:
        return not path
    # 1. There is something to prove, so the proof cannot be empty.
    if not path:
        return False
    # 2. If the old tree is a complete subtree of the new one, its root is the first node.
    if _is_power_of_two(size1):
        path.insert(0, bytes(root1))
    # 3.
    fn = size1 - 1
    sn = size2 - 1
    # 4. Skip the levels where the old tree's last leaf is a right child.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr rebuilds the old root, sr the new one.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:  # 6a. more hashes than levels
            return False
        if fn & 1 or fn == sn:  # 6b. c is a left sibling, inside the old tree
            fr = _sha256(_NODE_PREFIX + c + fr).digest()
            sr = _sha256(_NODE_PREFIX + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:  # c is a right sibling, only in the new tree
            sr = _sha256(_NODE_PREFIX + sr + c).digest()
        fn >>= 1  # 6c.
        sn >>= 1
    # 7.
    return sn == 0 and fr == root1 and sr == root2


# --------------------------------------------------------------------------------------------
# Append-only tree


class MerkleTree:
    """An append-only RFC 9162 Merkle tree that answers for its current size and any earlier one.

    It keeps, for every level h, the hashes of all *complete* subtrees of 2**h leaves aligned on
    a multiple of 2**h, concatenated in one bytearray: level 0 holds the leaf hashes, level 1 the
    hashes of leaves (0,1), (2,3), ... and so on. Such a subtree never changes once complete, so
    the levels only grow, by about 64 bytes per leaf in all. Every root and proof, for any size
    up to the current one, is assembled from O(log n) of these hashes.

    Not thread-safe: guard it with a lock if one thread appends while others read.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self.extend(leaf_hashes)

    # -- growing

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash; returns its index. O(1) amortised, O(log n) at worst."""
        if not isinstance(leaf_hash, bytes | bytearray):
            raise TypeError(f"leaf hash must be bytes, not {type(leaf_hash).__name__}")
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, not {len(leaf_hash)}")
        levels = self._levels
        index = self._size
        levels[0] += leaf_hash
        self._size = count = index + 1
        height = 0
        # Each time the count at a level becomes even, its last two nodes complete a parent.
        while not count & 1:
            pair = levels[height][-2 * HASH_SIZE :]
            height += 1
            if height == len(levels):
                levels.append(bytearray())
            levels[height] += _sha256(_NODE_PREFIX + pair).digest()
            count >>= 1
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append each of the leaf hashes in order (those before a malformed one stay)."""
        append = self.append
        for h in leaf_hashes:
            append(h)

    # -- reading

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index``; ProofError if there is no such leaf."""
        _require_int("index", index)
        if not 0 <= index < self._size:
            raise ProofError(f"index {index} is not in a tree of size {self._size}")
        return self._node(0, index)

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (default: all). O(log n)."""
        n = self._resolve_size(size)
        return self._subtree(0, n)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) (default size: all leaves). O(log n) hashes.

        Raises ProofError unless 0 <= index < size <= self.size.
        """
        n = self._resolve_size(size)
        _require_int("index", index)
        if not 0 <= index < n:
            raise ProofError(f"index {index} is not in a tree of size {n}")
        path: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1:  # top-down; reversed at the end
            mid = lo + _split(hi - lo)
            if index < mid:
                path.append(self._subtree(mid, hi))
                hi = mid
            else:
                path.append(self._subtree(lo, mid))
                lo = mid
        path.reverse()
        return path

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """PROOF(size1, D[size2]) (default size2: all leaves). O(log n) hashes.

        Raises ProofError unless 0 <= size1 <= size2 <= self.size; empty when size1 == 0 or
        size1 == size2.
        """
        n = self._resolve_size(size2)
        _require_int("size1", size1)
        if not 0 <= size1 <= n:
            raise ProofError(f"sizes {size1} and {n} are not 0 <= size1 <= size2")
        if size1 == 0 or size1 == n:
            return []
        return _subproof(size1, n, self._subtree)

    # -- internals

    def _resolve_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        _require_int("size", size)
        if not 0 <= size <= self._size:
            raise ProofError(f"size {size} is not in 0..{self._size}")
        return size

    def _node(self, height: int, position: int) -> bytes:
        """The hash of the complete subtree of 2**height leaves starting at leaf
        position * 2**height."""
        start = position * HASH_SIZE
        return bytes(self._levels[height][start : start + HASH_SIZE])

    def _subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a subtree that RFC 9162's recursion visits.

        Such a range starts on a multiple of a power of two at least as large as its length, so
        it is a run of complete subtrees of strictly decreasing sizes, one per bit of hi - lo;
        they are combined from the right (smallest) one up, as the recursion does.
        """
        length = hi - lo
        if length == 0:
            return _EMPTY_ROOT
        acc: bytes | None = None
        end = hi
        height = 0
        while length:
            if length & 1:
                start = end - (1 << height)
                node = self._node(height, start >> height)
                acc = node if acc is None else _sha256(_NODE_PREFIX + node + acc).digest()
                end = start
            length >>= 1
            height += 1
        assert acc is not None
        return acc
