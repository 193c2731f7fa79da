/* Canonical bytes: RFC 8785 (JCS) JSON, domain-separated SHA-256, strict hex and base64.
 * Mirrors crypto/canonical.py. Every hash is libsodium's (the vendored libsodium-wrappers-sumo),
 * loaded as the global `sodium` before this file. Classic script: adds KZ.canonical to the
 * global object, so the pages work from a file opened from disk as well as from the service. */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  const encoder = new TextEncoder();

  class EncodingError extends Error {}

  function utf8(text) {
    return encoder.encode(text);
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  function u64(n) {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt(n));
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  function sha256(data) {
    return root.sodium.crypto_hash_sha256(data);
  }

  // SHA-256 over an ASCII tag and parts, each prefixed by its 8-byte big-endian length.
  function taggedHash(tag, ...parts) {
    const framed = [utf8(tag), ...parts].map((p) => concat(u64(p.length), p));
    return sha256(concat(...framed));
  }

  // RFC 8785: ECMAScript's own serialisation of strings and numbers, keys sorted by UTF-16
  // code units (the default sort of JavaScript strings).
  function canonicalJson(value) {
    if (value === null || typeof value === "boolean") return String(value);
    if (typeof value === "number") {
      if (!Number.isFinite(value) || (Number.isInteger(value) && !Number.isSafeInteger(value))) {
        throw new EncodingError("not canonicalisable as JSON: number out of range");
      }
      return JSON.stringify(value);
    }
    if (typeof value === "string") return JSON.stringify(value);
    if (Array.isArray(value)) return "[" + value.map(canonicalJson).join(",") + "]";
    if (typeof value === "object") {
      const keys = Object.keys(value).sort();
      return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJson(value[k])).join(",") + "}";
    }
    throw new EncodingError("not canonicalisable as JSON: " + typeof value);
  }

  function canonicalBytes(value) {
    return utf8(canonicalJson(value));
  }

  function hashJson(tag, value) {
    return taggedHash(tag, canonicalBytes(value));
  }

  const HEX = /^(?:[0-9a-f]{2})*$/;

  function hexDecode(text, length) {
    if (typeof text !== "string" || !HEX.test(text)) throw new EncodingError("expected lowercase hex");
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
    if (length !== undefined && out.length !== length) {
      throw new EncodingError(`expected ${length} bytes, got ${out.length}`);
    }
    return out;
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function b64Encode(bytes) {
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s);
  }

  // Strict standard base64 with padding, canonical (re-encoding gives the same text).
  function b64Decode(text, length) {
    if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4) {
      throw new EncodingError("invalid base64");
    }
    let raw;
    try {
      raw = atob(text);
    } catch (e) {
      throw new EncodingError("invalid base64");
    }
    const out = Uint8Array.from(raw, (c) => c.charCodeAt(0));
    if (b64Encode(out) !== text) throw new EncodingError("non-canonical base64");
    if (length !== undefined && out.length !== length) {
      throw new EncodingError(`expected ${length} bytes, got ${out.length}`);
    }
    return out;
  }

  KZ.canonical = {
    EncodingError, utf8, concat, u64, equal, sha256, taggedHash, canonicalJson, canonicalBytes,
    hashJson, hexDecode, hex, b64Encode, b64Decode,
  };
})(typeof globalThis !== "undefined" ? globalThis : this);
