"""An RFC 9162 Merkle root computed leaf by leaf in O(log n) memory (a "compact range").

The tree of the first n leaves is the fold of at most log2(n) complete, aligned subtrees, one per
set bit of n. Appending a leaf pushes it and merges equal-height neighbours, as binary addition
carries. Besides the root of every prefix, the range can capture, as it passes, the subtree
hashes MTH(D[lo:hi]) that an RFC 9162 consistency proof between two known sizes needs, so the
verifier can build such proofs from its own recomputation without keeping the leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

_EMPTY = hashlib.sha256(b"").digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The subtrees [lo, hi) whose hashes make PROOF(size1, D[size2]) of RFC 9162 2.1.4.1,
    in proof order (from the old tree's side upwards). Empty unless 0 < size1 < size2."""
    if not 0 < size1 < size2:
        return []
    ranges: list[tuple[int, int]] = []
    m, lo, hi = size1, 0, size2
    whole = True  # is D[lo:hi] still a prefix that the old root covers?
    while m != hi - lo:
        mid = lo + _split(hi - lo)
        if lo + m <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            m -= mid - lo
            lo = mid
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


class CompactRange:
    """Root of a growing log; optionally captures chosen subtree hashes on the way."""

    __slots__ = ("_captured", "_stack", "_wanted", "size")

    def __init__(self, wanted: Iterable[tuple[int, int]] = ()) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (first leaf index, hash), heights decreasing
        self._wanted: dict[int, set[int]] = {}  # hi -> {lo}
        for lo, hi in wanted:
            if 0 <= lo < hi:
                self._wanted.setdefault(hi, set()).add(lo)
        self._captured: dict[tuple[int, int], bytes] = {}

    def append(self, leaf_hash: bytes) -> None:
        stack = self._stack
        index = self.size
        stack.append((index, leaf_hash))
        self.size = count = index + 1
        los = self._wanted.get(count)
        if los:
            self._capture(los)
        while not count & 1:  # two equal subtrees on top: merge them
            _, right = stack.pop()
            first, left = stack.pop()
            stack.append((first, _node(left, right)))
            count >>= 1
            if los:
                self._capture(los)
        if los:
            del self._wanted[self.size]

    def _capture(self, los: set[int]) -> None:
        hi = self.size
        for lo in los:
            if (lo, hi) in self._captured:
                continue
            for position, (start, _) in enumerate(self._stack):
                if start == lo:
                    self._captured[(lo, hi)] = self._fold(position)
                    break

    def _fold(self, position: int) -> bytes:
        stack = self._stack
        acc = stack[-1][1]
        for i in range(len(stack) - 2, position - 1, -1):
            acc = _node(stack[i][1], acc)
        return acc

    def root(self) -> bytes:
        """MTH of all leaves appended so far (SHA-256 of nothing for none)."""
        if not self._stack:
            return _EMPTY
        return self._fold(0)

    def captured(self, lo: int, hi: int) -> bytes | None:
        return self._captured.get((lo, hi))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes] | None:
        """PROOF(size1, D[size2]) from captured hashes (None if one was not captured: declare
        the sizes to the constructor with ``consistency_ranges`` before streaming)."""
        proof: list[bytes] = []
        for lo, hi in consistency_ranges(size1, size2):
            h = self._captured.get((lo, hi))
            if h is None:
                return None
            proof.append(h)
        return proof
