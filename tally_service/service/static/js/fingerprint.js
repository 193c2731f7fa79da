/* Mirror of crypto/fingerprint.py: the commission-key fingerprint and the election fingerprint,
 * the two short strings electors and observers compare out of band. Same bytes, same letters
 * (tests/vectors/fingerprint.json). */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  const C = KZ.canonical;
  const KEY_TAG = "kz-tally/v1/fingerprint/key";
  const MANIFEST_TAG = "kz-tally/v1/manifest";
  const LENGTH = 20;
  const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

  function group(text) {
    return text.match(/.{4}/g).join("-");
  }

  // RFC 4648 base32 of 20 bytes (a multiple of 5: no padding), lower case, grouped.
  function encode(digest) {
    if (digest.length < LENGTH) throw new Error(`a fingerprint needs ${LENGTH} bytes`);
    let bits = 0;
    let value = 0;
    let out = "";
    for (const byte of digest.slice(0, LENGTH)) {
      value = (value << 8) | byte;
      bits += 8;
      while (bits >= 5) {
        out += ALPHABET[(value >>> (bits - 5)) & 31];
        bits -= 5;
      }
      value &= (1 << bits) - 1;
    }
    return group(out);
  }

  function key(publicKey) {
    if (publicKey.length !== 32) throw new Error("a public key is 32 bytes");
    return encode(C.taggedHash(KEY_TAG, publicKey));
  }

  function electionOfHash(manifestHash) {
    if (manifestHash.length !== 32) throw new Error("a manifest hash is 32 bytes");
    return encode(manifestHash);
  }

  function election(payload) {
    return electionOfHash(C.hashJson(MANIFEST_TAG, payload));
  }

  // What a person typed, in the written form; null if it cannot be a fingerprint.
  function normalise(text) {
    const bare = String(text).replace(/[\s-]/g, "").toLowerCase();
    return /^[a-z2-7]{32}$/.test(bare) ? group(bare) : null;
  }

  KZ.fingerprint = { encode, key, election, electionOfHash, normalise };
})(typeof globalThis !== "undefined" ? globalThis : this);
