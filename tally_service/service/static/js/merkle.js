/* RFC 9162 section 2.1 Merkle hashing and proof verification. Mirrors crypto/merkle.py.
 * Sizes and indexes are JavaScript numbers (exact below 2**53, far above any election's log). */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  const { concat, sha256, equal } = KZ.canonical;
  const EMPTY_ROOT = () => sha256(new Uint8Array(0));

  const leafHash = (data) => sha256(concat(new Uint8Array([0]), data));
  const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));
  const isSize = (n) => Number.isSafeInteger(n) && n >= 0;
  const isHash = (h) => h instanceof Uint8Array && h.length === 32;

  function verifyInclusion(leaf, index, size, proof, rootHash) {
    if (!isSize(index) || !isSize(size) || !isHash(leaf) || !isHash(rootHash)) return false;
    if (!Array.isArray(proof) || !proof.every(isHash)) return false;
    if (index >= size) return false;
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = nodeHash(p, r);
        if (fn % 2 === 0) {
          while (fn !== 0 && fn % 2 === 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        r = nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(r, rootHash);
  }

  function verifyConsistency(size1, size2, proof, root1, root2) {
    if (!isSize(size1) || !isSize(size2) || !isHash(root1) || !isHash(root2)) return false;
    if (!Array.isArray(proof) || !proof.every(isHash)) return false;
    if (size1 > size2) return false;
    if (size1 === 0 && !equal(root1, EMPTY_ROOT())) return false;
    if (size1 === size2) return proof.length === 0 && equal(root1, root2);
    if (size1 === 0) return proof.length === 0;
    if (proof.length === 0) return false;
    const path = proof.slice();
    if (Number.isInteger(Math.log2(size1))) path.unshift(root1); // a complete subtree
    let fn = size1 - 1;
    let sn = size2 - 1;
    while (fn % 2 === 1) {
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    let fr = path[0];
    let sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = nodeHash(c, fr);
        sr = nodeHash(c, sr);
        if (fn % 2 === 0) {
          while (fn !== 0 && fn % 2 === 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        sr = nodeHash(sr, c);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equal(fr, root1) && equal(sr, root2);
  }

  // MTH(D[0:n]) of RFC 9162 section 2.1.1 over leaf hashes (crypto/merkle.py MerkleTree.root):
  // the public ballot box recomputes a checkpoint's root from the entries it lists.
  function rootOf(leaves) {
    if (!leaves.length) return EMPTY_ROOT();
    const mth = (lo, hi) => {
      if (hi - lo === 1) return leaves[lo];
      let k = 1;
      while (k * 2 < hi - lo) k *= 2;
      return nodeHash(mth(lo, lo + k), mth(lo + k, hi));
    };
    return mth(0, leaves.length);
  }

  KZ.merkle = { EMPTY_ROOT, leafHash, nodeHash, rootOf, verifyInclusion, verifyConsistency };
})(typeof globalThis !== "undefined" ? globalThis : this);
