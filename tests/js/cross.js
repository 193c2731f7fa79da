// The JavaScript side of tests/test_js_crypto.py: reads one JSON job on stdin, runs it with the
// pages' modules, writes one JSON answer on stdout.
"use strict";
const { load } = require("./kz_node.js");

async function main() {
  const KZ = await load();
  const C = KZ.canonical;
  const job = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const out = {};
  if (job.notes) {
    const v = KZ.note.parseVerifier(job.notes.verifier_key);
    out.notes = job.notes.cases.map((note) => {
      try {
        KZ.checkpoint.openCheckpoint(note, v);
        return true;
      } catch (e) {
        return false;
      }
    });
  }
  if (job.profile) {
    out.profile = job.profile.map((ext) => {
      try {
        const facts = KZ.checkpoint.checkpointFacts({ extensions: ext });
        return { ok: true, final: facts.final };
      } catch (e) {
        return { ok: false };
      }
    });
  }
  if (job.merkle) {
    const m = job.merkle;
    out.inclusion = m.inclusion.map((c) => KZ.merkle.verifyInclusion(C.hexDecode(c.leaf), c.index,
      c.size, c.proof.map((h) => C.hexDecode(h)), C.hexDecode(c.root)));
    out.consistency = m.consistency.map((c) => KZ.merkle.verifyConsistency(c.size1, c.size2,
      c.proof.map((h) => C.hexDecode(h)), C.hexDecode(c.root1), C.hexDecode(c.root2)));
  }
  if (job.signatures) {
    out.signatures = job.signatures.map((c) =>
      KZ.signing.verifyRaw(C.hexDecode(c.public_key), C.hexDecode(c.message), C.hexDecode(c.signature)));
  }
  if (job.points) out.points = job.points.map((h) => { try { KZ.group.pointFromHex(h); return true; } catch (e) { return false; } });
  if (job.scalars) out.scalars = job.scalars.map((h) => { try { KZ.group.scalarFromHex(h); return true; } catch (e) { return false; } });
  if (job.credentials) {
    out.credentials = job.credentials.map((c) => {
      try {
        return C.hex(KZ.credentials.deriveKey(c.code, c.election_id, c.elector_id).publicKey);
      } catch (e) {
        return null;
      }
    });
  }
  if (job.ballots) {
    const b = job.ballots;
    out.ballots = b.cases.map((ballot) =>
      KZ.ballot.checkBallot(b.election, b.unit, b.round, b.elector, b.candidates, ballot, b.election_key));
  }
  if (job.make) {
    const m = job.make;
    const key = KZ.signing.keyFromSeed(C.hexDecode(m.seed));
    out.made = m.choices.map((choice) => {
      const { ballot, nonces } = KZ.ballot.encryptBallot(m.election, m.unit, m.round, m.elector,
        m.candidates, choice, m.election_key);
      return { signed: KZ.ballot.signBallot(ballot, key), audited: KZ.ballot.makeAudited(ballot, nonces, choice),
        tracker: KZ.ballot.tracker(ballot) };
    });
  }
  if (job.audited) {
    const a = job.audited;
    out.audited = a.cases.map((x) => KZ.ballot.checkAudited(x, a.election, a.candidates, a.election_key)[0]);
  }
  if (job.fingerprints) {
    const v = job.fingerprints;
    const fp = v.keys[2].fingerprint;
    out.fingerprints = {
      keys: v.keys.map((c) => KZ.fingerprint.key(C.hexDecode(c.public_key))),
      manifests: v.manifests.map((c) => KZ.fingerprint.election(c.payload)),
      normalised: [KZ.fingerprint.normalise(fp.toUpperCase().replace(/-/g, " ")), KZ.fingerprint.normalise(fp + "a")],
    };
  }
  if (job.canonical) out.canonical = job.canonical.map((v) => C.canonicalJson(v));
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + "\n");
  process.exit(1);
});
