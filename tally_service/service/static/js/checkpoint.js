/* C2SP tlog-checkpoint and tlog-proof. Mirrors crypto/checkpoint.py. Extension lines after the
 * root (such as "time ..." and "final") are accepted and kept. */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  const { b64Decode } = KZ.canonical;
  const HEADER = "c2sp.org/tlog-proof@v1";
  const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

  class CheckpointError extends Error {}

  function decimal(text, what) {
    if (!DECIMAL.test(text) || !Number.isSafeInteger(Number(text))) {
      throw new CheckpointError(`${what} is not a decimal number without leading zeros`);
    }
    return Number(text);
  }

  function hash32(text, what) {
    try {
      return b64Decode(text, 32);
    } catch (e) {
      throw new CheckpointError(`${what}: ${e.message}`);
    }
  }

  function parseCheckpoint(text) {
    if (!text.endsWith("\n")) throw new CheckpointError("checkpoint text must end with a newline");
    const lines = text.slice(0, -1).split("\n");
    if (lines.length < 3) throw new CheckpointError("checkpoint needs origin, tree size and root hash lines");
    const [origin, size, rootLine, ...extensions] = lines;
    if (!origin) throw new CheckpointError("checkpoint origin line is empty");
    if (extensions.some((l) => !l)) throw new CheckpointError("checkpoint extension lines must not be empty");
    return { origin, size: decimal(size, "checkpoint tree size"), root: hash32(rootLine, "checkpoint root hash"), extensions };
  }

  // kz-tally's extension lines (crypto/checkpoint.py checkpoint_facts): exactly "time <T>",
  // then "final" on the round's final checkpoint, nothing else.
  const TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/;
  function checkpointFacts(cp) {
    const ext = cp.extensions;
    if (!ext.length || !ext[0].startsWith("time ")) {
      throw new CheckpointError("the checkpoint has no signed 'time' extension line");
    }
    const time = ext[0].slice(5);
    const when = new Date(time);
    if (!TIME.test(time) || Number.isNaN(when.getTime()) || when.toISOString().slice(0, 19) + "Z" !== time) {
      throw new CheckpointError(`the checkpoint time ${JSON.stringify(time.slice(0, 40))} is not RFC 3339 UTC to the second`);
    }
    if (ext.length === 1) return { time, final: false };
    if (ext.length === 2 && ext[1] === "final") return { time, final: true };
    throw new CheckpointError("unexpected checkpoint extension lines (only 'time' and then 'final')");
  }

  function openCheckpoint(note, verifier, origin) {
    let text;
    try {
      text = KZ.note.verifyNote(note, [verifier]).text;
    } catch (e) {
      throw new CheckpointError(`checkpoint signature: ${e.message}`);
    }
    const cp = parseCheckpoint(text);
    if (origin !== undefined && cp.origin !== origin) {
      throw new CheckpointError(`checkpoint is for log ${JSON.stringify(cp.origin)}, not ${JSON.stringify(origin)}`);
    }
    return cp;
  }

  function parseTlogProof(text) {
    const lines = text.split("\n");
    let i = 0;
    if (lines[i++] !== HEADER) throw new CheckpointError(`tlog proof does not start with ${HEADER}`);
    if (lines[i] !== undefined && lines[i].startsWith("extra ")) i++;
    const indexLine = lines[i++] || "";
    if (!indexLine.startsWith("index ")) throw new CheckpointError("tlog proof has no 'index' line after the header");
    const index = decimal(indexLine.slice(6), "tlog proof index");
    const proof = [];
    for (;;) {
      if (i >= lines.length - 1) throw new CheckpointError("tlog proof has no empty line before the checkpoint");
      const line = lines[i++];
      if (!line) break;
      if (proof.length === 63) throw new CheckpointError("tlog proof has more than 63 proof hashes");
      proof.push(hash32(line, `tlog proof hash ${proof.length}`));
    }
    return { index, proof, checkpoint: lines.slice(i).join("\n") };
  }

  function verifyTlogProof(text, leaf, verifier, origin) {
    const p = parseTlogProof(text);
    const cp = openCheckpoint(p.checkpoint, verifier, origin);
    if (p.index >= cp.size) throw new CheckpointError(`index ${p.index} is outside the tree of size ${cp.size}`);
    if (!KZ.merkle.verifyInclusion(leaf, p.index, cp.size, p.proof, cp.root)) {
      throw new CheckpointError(`inclusion proof for index ${p.index} does not lead to the checkpoint root`);
    }
    return Object.assign(cp, { index: p.index });
  }

  KZ.checkpoint = { CheckpointError, parseCheckpoint, checkpointFacts, openCheckpoint, parseTlogProof, verifyTlogProof };
})(typeof globalThis !== "undefined" ? globalThis : this);
