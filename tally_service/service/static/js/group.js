/* The ristretto255 group (RFC 9496) and its scalars, through libsodium. Mirrors crypto/group.py.
 * Points and scalars are Uint8Array(32) canonical encodings. Every point from outside goes
 * through pointFromHex, which refuses bit 255 (RFC 9496 section 4.3.1) as group.py does, and
 * anything libsodium does not accept as a canonical ristretto255 encoding. No arithmetic here
 * is ours: every operation is a libsodium call. */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  const { EncodingError, utf8, concat, u64, equal, hexDecode } = KZ.canonical;
  const na = () => root.sodium;
  const IDENTITY = new Uint8Array(32);
  const ZERO = new Uint8Array(32);

  function isZero(bytes) {
    return equal(bytes, ZERO);
  }

  function isValidPoint(raw) {
    return raw instanceof Uint8Array && raw.length === 32 && !(raw[31] & 0x80) &&
      na().crypto_core_ristretto255_is_valid_point(raw);
  }

  function pointFromHex(text) {
    const raw = hexDecode(text, 32);
    if (!isValidPoint(raw)) throw new EncodingError("invalid ristretto255 point encoding");
    return raw;
  }

  function publicPointFromHex(text) {
    const p = pointFromHex(text);
    if (isZero(p)) throw new EncodingError("the identity is not allowed here");
    return p;
  }

  function reduceWide(bytes64) {
    return na().crypto_core_ristretto255_scalar_reduce(bytes64);
  }

  function scalarFromHex(text) {
    const raw = hexDecode(text, 32);
    if (!equal(reduceWide(concat(raw, ZERO)), raw)) {
      throw new EncodingError("non-canonical scalar (not below the group order)");
    }
    return raw;
  }

  function scalarFromInt(n) {
    const wide = new Uint8Array(64);
    let v = BigInt(n);
    for (let i = 0; i < 8; i++) {
      wide[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return reduceWide(wide);
  }

  const add = (p, q) => na().crypto_core_ristretto255_add(p, q);
  const sub = (p, q) => na().crypto_core_ristretto255_sub(p, q);
  const sAdd = (a, b) => na().crypto_core_ristretto255_scalar_add(a, b);
  const sSub = (a, b) => na().crypto_core_ristretto255_scalar_sub(a, b);
  const sMul = (a, b) => na().crypto_core_ristretto255_scalar_mul(a, b);
  const sRandom = () => na().crypto_core_ristretto255_scalar_random();

  // libsodium refuses to return the identity; in a prime-order group that happens only for a
  // zero scalar or the identity point, whose product is the identity.
  function mul(scalar, point) {
    if (isZero(scalar) || isZero(point)) return IDENTITY.slice();
    return na().crypto_scalarmult_ristretto255(scalar, point);
  }

  function baseMul(scalar) {
    if (isZero(scalar)) return IDENTITY.slice();
    return na().crypto_scalarmult_ristretto255_base(scalar);
  }

  const GENERATOR = () => baseMul(scalarFromInt(1));

  function framedSha512(tag, parts) {
    const framed = [utf8(tag), ...parts].map((p) => concat(u64(p.length), p));
    return na().crypto_hash_sha512(concat(...framed));
  }

  function hashToScalar(tag, ...parts) {
    return reduceWide(framedSha512(tag, parts));
  }

  KZ.group = {
    IDENTITY, isZero, isValidPoint, pointFromHex, publicPointFromHex, scalarFromHex, scalarFromInt,
    add, sub, mul, baseMul, sAdd, sSub, sMul, sRandom, GENERATOR, hashToScalar, equal,
  };
})(typeof globalThis !== "undefined" ? globalThis : this);
