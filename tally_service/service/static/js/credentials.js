/* Credential codes and the keys derived from them. Mirrors crypto/credentials.py: 20 Crockford
 * base32 payload characters (100 bits) and 4 check characters; the Ed25519 seed is
 * HKDF-SHA256(ikm = payload, salt = tagged_hash(credential-salt, election id, elector id),
 * info = "kz-tally/v1/credential-key", L = 32), RFC 5869 over libsodium's HMAC-SHA256. */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  const { utf8, concat, taggedHash } = KZ.canonical;
  const na = () => root.sodium;
  const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const READ_AS = { I: "1", L: "1", O: "0" };

  class CredentialError extends Error {}

  function checkChars(payload) {
    const h = taggedHash("kz-tally/v1/credential-check", utf8(payload));
    const bits = ((h[0] << 16) | (h[1] << 8) | h[2]) >>> 4;
    let out = "";
    for (let i = 0; i < 4; i++) out += ALPHABET[(bits >>> (5 * (3 - i))) & 31];
    return out;
  }

  function normaliseCode(text) {
    const chars = [];
    for (const c of String(text).toUpperCase()) {
      if (" -\t\r\n".includes(c)) continue;
      const d = READ_AS[c] || c;
      if (!ALPHABET.includes(d)) {
        throw Object.assign(new CredentialError(`the code holds a character that is not in it: ${JSON.stringify(c)}`),
          { key: "code_char", args: { c } });
      }
      chars.push(d);
    }
    if (chars.length !== 24) {
      throw Object.assign(new CredentialError(`the code has 24 characters, this one ${chars.length}`),
        { key: "code_length", args: { n: chars.length } });
    }
    const payload = chars.slice(0, 20).join("");
    if (chars.slice(20).join("") !== checkChars(payload)) {
      throw Object.assign(new CredentialError("the code's check characters do not match: a typing mistake?"),
        { key: "code_check", args: {} });
    }
    return payload;
  }

  function hmac(key32, message) {
    return na().crypto_auth_hmacsha256(message, key32);
  }

  function deriveSeed(code, electionId, electorId) {
    const payload = normaliseCode(code);
    const salt = taggedHash("kz-tally/v1/credential-salt", utf8(electionId), utf8(electorId));
    const prk = hmac(salt, utf8(payload)); // HKDF-Extract (the salt is 32 bytes, one block)
    return hmac(prk, concat(utf8("kz-tally/v1/credential-key"), new Uint8Array([1]))); // T(1)
  }

  function deriveKey(code, electionId, electorId) {
    return KZ.signing.keyFromSeed(deriveSeed(code, electionId, electorId));
  }

  KZ.credentials = { ALPHABET, CredentialError, normaliseCode, deriveSeed, deriveKey };
})(typeof globalThis !== "undefined" ? globalThis : this);
