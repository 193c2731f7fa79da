/* Exponential ElGamal and the disjunctive Chaum-Pedersen 0-or-1 proof, strong Fiat-Shamir.
 * Mirrors crypto/elgamal.py and the ZeroOrOneProof of crypto/proofs.py byte for byte: the
 * challenge hashes the tag, the context, the key, the ciphertext and the four commitments. */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  const G = KZ.group;
  const { hex } = KZ.canonical;
  const TAG_ZERO_OR_ONE = "kz-tally/v1/proof/zero-or-one";

  function encrypt(value, key, nonce) {
    return { a: G.baseMul(nonce), b: G.add(G.baseMul(G.scalarFromInt(value)), G.mul(nonce, key)) };
  }

  function addCiphertexts(cts) {
    return cts.reduce((t, c) => ({ a: G.add(t.a, c.a), b: G.add(t.b, c.b) }),
      { a: G.IDENTITY.slice(), b: G.IDENTITY.slice() });
  }

  function challenge(context, key, ct, commitments) {
    return G.hashToScalar(TAG_ZERO_OR_ONE, context, key, ct.a, ct.b, ...commitments);
  }

  function proveZeroOrOne(ct, value, nonce, key, context) {
    if (value !== 0 && value !== 1) throw new Error("a 0-or-1 proof needs a value of 0 or 1");
    const shifted = [ct.b, G.sub(ct.b, G.GENERATOR())];
    const fake = 1 - value;
    const cFake = G.sRandom();
    const uFake = G.sRandom();
    const aFake = G.sub(G.baseMul(uFake), G.mul(cFake, ct.a));
    const bFake = G.sub(G.mul(uFake, key), G.mul(cFake, shifted[fake]));
    const w = G.sRandom();
    const aReal = G.baseMul(w);
    const bReal = G.mul(w, key);
    const commitments = value === 0 ? [aReal, bReal, aFake, bFake] : [aFake, bFake, aReal, bReal];
    const c = challenge(context, key, ct, commitments);
    const cReal = G.sSub(c, cFake);
    const uReal = G.sAdd(w, G.sMul(cReal, nonce));
    const p = value === 0
      ? { c0: cReal, c1: cFake, u0: uReal, u1: uFake }
      : { c0: cFake, c1: cReal, u0: uFake, u1: uReal };
    return { c0: hex(p.c0), c1: hex(p.c1), u0: hex(p.u0), u1: hex(p.u1) };
  }

  // proof: {c0, c1, u0, u1} as scalars (Uint8Array). Returns a boolean, never throws.
  function verifyZeroOrOne(ct, key, proof, context) {
    try {
      const a0 = G.sub(G.baseMul(proof.u0), G.mul(proof.c0, ct.a));
      const b0 = G.sub(G.mul(proof.u0, key), G.mul(proof.c0, ct.b));
      const a1 = G.sub(G.baseMul(proof.u1), G.mul(proof.c1, ct.a));
      const b1 = G.sub(G.mul(proof.u1, key), G.mul(proof.c1, G.sub(ct.b, G.GENERATOR())));
      const c = challenge(context, key, ct, [a0, b0, a1, b1]);
      return G.equal(G.sAdd(proof.c0, proof.c1), c);
    } catch (e) {
      return false;
    }
  }

  function proofFromJson(d) {
    const fields = ["c0", "c1", "u0", "u1"];
    if (!d || typeof d !== "object" || Array.isArray(d) ||
        Object.keys(d).sort().join() !== fields.join()) {
      throw new KZ.canonical.EncodingError("a proof has exactly the fields c0, c1, u0, u1");
    }
    const out = {};
    for (const f of fields) out[f] = G.scalarFromHex(d[f]);
    return out;
  }

  KZ.proofs = { TAG_ZERO_OR_ONE, encrypt, addCiphertexts, proveZeroOrOne, verifyZeroOrOne,
    proofFromJson };
})(typeof globalThis !== "undefined" ? globalThis : this);
