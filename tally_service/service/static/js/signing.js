/* Ed25519 keys and signatures bound to a context. Mirrors crypto/signing.py.
 * Context signatures sign  "kz-tally/v1/" + context + 0x00 + message; note signatures sign the
 * note text itself. Verification is libsodium's crypto_sign_verify_detached (RFC 8032, S < L
 * required, small-order R and A refused), after the public key check crypto/signing.py makes
 * (libsodium's crypto_core_ed25519_is_valid_point): never a zip215-style lenient check. */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  const { utf8, concat, taggedHash, hex, hexDecode } = KZ.canonical;
  const na = () => root.sodium;
  const PREFIX = "kz-tally/v1/";

  function signedBytes(context, message) {
    return concat(utf8(PREFIX + context), new Uint8Array([0]), message);
  }

  function isValidPublicKey(raw) {
    return raw instanceof Uint8Array && raw.length === 32 &&
      na().crypto_core_ed25519_is_valid_point(raw);
  }

  function verifyRaw(publicKey, data, signature) {
    try {
      if (!isValidPublicKey(publicKey) || signature.length !== 64) return false;
      return na().crypto_sign_verify_detached(signature, data, publicKey);
    } catch (e) {
      return false;
    }
  }

  function verify(publicKey, context, message, signature) {
    return verifyRaw(publicKey, signedBytes(context, message), signature);
  }

  // A signing key from a 32-byte seed: {publicKey, sign(context, message), signRaw(data)}.
  function keyFromSeed(seed) {
    const pair = na().crypto_sign_seed_keypair(seed);
    return {
      publicKey: pair.publicKey,
      signRaw: (data) => na().crypto_sign_detached(data, pair.privateKey),
      sign: (context, message) =>
        na().crypto_sign_detached(signedBytes(context, message), pair.privateKey),
    };
  }

  function keyId(publicKey) {
    return hex(taggedHash("kz-tally/v1/key-id", publicKey).slice(0, 8));
  }

  // A signed document {payload, key_id, signature}: the payload if a key of `keys` (hex list)
  // signed it in `context`, else throws with the reason.
  function openDocument(document, keysHex, context) {
    if (!document || typeof document !== "object" ||
        Object.keys(document).sort().join() !== "key_id,payload,signature") {
      throw new Error("a signed document has exactly: payload, key_id, signature");
    }
    const key = keysHex.map((h) => hexDecode(h, 32)).find((k) => keyId(k) === document.key_id);
    if (!key) throw new Error(`signed by unknown key ${JSON.stringify(document.key_id)}`);
    const sig = hexDecode(document.signature, 64);
    if (!verify(key, context, KZ.canonical.canonicalBytes(document.payload), sig)) {
      throw new Error(`the ${context} signature by key ${document.key_id} does not verify`);
    }
    return document.payload;
  }

  KZ.signing = { PREFIX, signedBytes, isValidPublicKey, verifyRaw, verify, keyFromSeed, keyId,
    openDocument };
})(typeof globalThis !== "undefined" ? globalThis : this);
