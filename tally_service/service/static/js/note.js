/* C2SP signed notes (Ed25519 only) and verifier keys. Mirrors crypto/note.py's strict reading:
 * no control character but newline, canonical base64, unknown keys skipped, every signature of
 * a known key must verify and a known key may sign only once. */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  const { utf8, concat, sha256, hex, b64Decode, equal } = KZ.canonical;
  const PREFIX = "\u2014 ";
  const SPACES = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
  const CONTROL = /[\x00-\x09\x0b-\x1f]/;
  const MAX_NOTE = 1 << 20;

  class NoteError extends Error {}

  function checkName(name) {
    if (typeof name !== "string" || !name) throw new NoteError("a key name must not be empty");
    if (SPACES.test(name) || name.includes("+") || /[\x00-\x1f]/.test(name)) {
      throw new NoteError(`key name ${JSON.stringify(name)} has a space, '+' or control character`);
    }
    return name;
  }

  const keyHash = (name, material) => sha256(concat(utf8(name), new Uint8Array([10]), material)).slice(0, 4);

  function parseVerifier(text) {
    const i = text.indexOf("+");
    const j = text.indexOf("+", i + 1);
    if (i < 0 || j < 0) throw new NoteError("a verifier key has three '+'-separated parts");
    const name = checkName(text.slice(0, i));
    const hashHex = text.slice(i + 1, j);
    if (!/^[0-9a-f]{8}$/.test(hashHex)) throw new NoteError("the key ID of a verifier key is 8 lowercase hex digits");
    const material = b64Decode(text.slice(j + 1));
    if (hex(keyHash(name, material)) !== hashHex) throw new NoteError("the key ID does not match the name and key");
    if (material[0] !== 1 || material.length !== 33) throw new NoteError("not an Ed25519 verifier key");
    const key = material.slice(1);
    if (!KZ.signing.isValidPublicKey(key)) throw new NoteError("not a valid Ed25519 public key");
    return { name, keyHash: keyHash(name, material), key };
  }

  function verifierFromKey(name, key) {
    const material = concat(new Uint8Array([1]), key);
    return { name: checkName(name), keyHash: keyHash(name, material), key };
  }

  function parseNote(note) {
    if (typeof note !== "string") throw new NoteError("a note is text");
    if (utf8(note).length > MAX_NOTE) throw new NoteError("note is too large");
    if (CONTROL.test(note)) throw new NoteError("note contains a control character");
    const split = note.lastIndexOf("\n\n");
    if (split < 0) throw new NoteError("note has no blank line between text and signatures");
    const text = note.slice(0, split + 1);
    const block = note.slice(split + 2);
    if (!block) throw new NoteError("note has no signature lines");
    if (!block.endsWith("\n")) throw new NoteError("note does not end with a newline");
    const lines = block.slice(0, -1).split("\n");
    if (lines.length > 100) throw new NoteError("note has more than 100 signatures");
    const signatures = lines.map((line) => {
      if (!line.startsWith(PREFIX)) throw new NoteError("signature line does not start with an em dash and a space");
      const rest = line.slice(PREFIX.length);
      const sp = rest.indexOf(" ");
      if (sp < 0 || sp === rest.length - 1) throw new NoteError("signature line has no signature after the key name");
      const name = checkName(rest.slice(0, sp));
      let raw;
      try {
        raw = b64Decode(rest.slice(sp + 1));
      } catch (e) {
        throw new NoteError(`signature by ${name}: ${e.message}`);
      }
      if (raw.length <= 4) throw new NoteError(`signature by ${name} is too short`);
      return { name, keyHash: raw.slice(0, 4), signature: raw.slice(4) };
    });
    return { text, signatures };
  }

  // The note's text if a known verifier signed it; throws NoteError otherwise.
  function verifyNote(note, verifiers) {
    const parsed = parseNote(note);
    const data = utf8(parsed.text);
    const seen = new Set();
    const verified = [];
    for (const sig of parsed.signatures) {
      const v = verifiers.find((k) => k.name === sig.name && equal(k.keyHash, sig.keyHash));
      if (!v) continue;
      const label = `${sig.name}+${hex(sig.keyHash)}`;
      if (seen.has(label)) throw new NoteError(`key ${label} signed the note more than once`);
      seen.add(label);
      if (sig.signature.length !== 64) throw new NoteError(`signature by key ${label} is not 64 bytes long`);
      if (!KZ.signing.verifyRaw(v.key, data, sig.signature)) throw new NoteError(`signature by key ${label} does not verify`);
      verified.push(sig.name);
    }
    if (!verified.length) throw new NoteError("note has no signature from a known key");
    return { text: parsed.text, verifiedBy: verified };
  }

  KZ.note = { NoteError, parseVerifier, verifierFromKey, parseNote, verifyNote };
})(typeof globalThis !== "undefined" ? globalThis : this);
