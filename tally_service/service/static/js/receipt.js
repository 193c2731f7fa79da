/* The elector's receipt check, in the browser: R1-R7 as scripts/verify_receipt.py checks them,
 * against the live service (every answer is checked here; none is trusted). Also R4's
 * comparison with the ballot the elector kept, when given. Returns one verdict per check:
 * PASS, FAIL, or PENDING (what it needs does not exist yet: normal before the close).
 * Every detail is a message key and its fields (KZ.strings), so the page can say it in the
 * elector's language; `detail` holds it in the language current when checked.
 * Left out, as the page says: the witnesses' cosignatures (R5/R6 quorum) are not checked here;
 * scripts/verify_receipt.py checks them. */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  const C = KZ.canonical;
  const MANIFEST_TAG = "kz-tally/v1/manifest";
  const RESULTS_FORMAT = "kz-tally/results/v1";
  const PROMISE_HEADER = "kz-tally/v1/promise";
  const IDS = ["R1", "R2", "R3", "R4", "R5", "R6", "R7"];

  // A failed (or, with wait: true, pending) check, said as a message key and its fields.
  class Stop extends Error {
    constructor(key, args, wait) {
      super(key);
      this.key = key;
      this.args = args || {};
      this.wait = Boolean(wait);
    }
  }
  const say = (key, args) => (KZ.t ? KZ.t(key, args) : key);

  function serviceSource(base, fetchImpl) {
    const f = fetchImpl || root.fetch.bind(root);
    const api = base.replace(/\/+$/, "") + "/api/v1";
    async function get(path, asText) {
      let r;
      try {
        r = await f(api + path);
      } catch (e) {
        throw new Stop("unreachable", { why: `${api}: ${e.message}` });
      }
      if (r.status === 404 && path.startsWith("/results/")) return null;
      if (r.status === 404 && /\/tally$/.test(path)) return null;
      if (r.status === 404 && /\/receipts\/\d+$/.test(path)) {
        const problem = await r.json().catch(() => ({}));
        if (problem.check === "not-yet-checkpointed") throw new Stop("r5_wait", {}, true);
      }
      if (!r.ok) throw new Stop("http_error", { what: path, status: r.status });
      return asText ? r.text() : r.json();
    }
    const round = (u, n) => `/units/${encodeURIComponent(u)}/rounds/${n}`;
    return {
      manifest: () => get("/manifest"),
      entry: async (u, n, i) => {
        const page = await get(`${round(u, n)}/entries?start=${i}&limit=1`);
        return page.entries && page.entries.length ? C.canonicalBytes(page.entries[0]) : null;
      },
      inclusion: (u, n, i) => get(`${round(u, n)}/receipts/${i}`, true),
      checkpoints: async (u, n) => (await get(`${round(u, n)}/checkpoints`)).checkpoints.map((c) => c.note),
      consistency: async (u, n, s1, s2) => {
        const d = await get(`${round(u, n)}/proof/consistency?from=${s1}&to=${s2}`);
        if (d.size1 !== s1 || d.size2 !== s2) throw new Stop("r6_sizes");
        return d.proof.map((h) => C.hexDecode(h, 32));
      },
      tally: (u, n) => get(`${round(u, n)}/tally`),
      finalResult: () => get("/results/final"),
    };
  }

  function checkReceiptShape(r) {
    const fields = "election,elector,format,index,leaf_hash,promise,proof,round,unit";
    if (!r || typeof r !== "object" || Object.keys(r).sort().join() !== fields) {
      throw new Stop("r1_bad", { what: fields });
    }
    if (r.format !== "kz-tally/receipt/v1") throw new Stop("r1_bad", { what: "format kz-tally/receipt/v1" });
    if (!/^[0-9a-f]{64}$/.test(r.election) || !/^[0-9a-f]{64}$/.test(r.leaf_hash)) throw new Stop("r1_bad", { what: "election, leaf_hash" });
    if (!Number.isSafeInteger(r.index) || r.index < 0 || !Number.isSafeInteger(r.round) || r.round < 1) throw new Stop("r1_bad", { what: "index, round" });
    if (typeof r.promise !== "string" || (r.proof !== null && typeof r.proof !== "string")) throw new Stop("r1_bad", { what: "promise, proof" });
  }

  // opts: {ballotBytes: Uint8Array (the kept ballot), commissionKey: hex (pinned)}
  async function checkReceipt(receipt, source, opts) {
    opts = opts || {};
    const items = IDS.map((id) => ({ id, ok: null, pending: false, said: [], detail: "" }));
    const item = (id) => items[IDS.indexOf(id)];
    // said: [[key, args], ...], rendered one after the other
    const pass = (id, ...said) => Object.assign(item(id), { ok: true, said, detail: said.map(([k, a]) => say(k, a)).join("") });
    const f = {};
    let current = "R1";
    try {
      // R1
      checkReceiptShape(receipt);
      const r = receipt;
      f.leaf = C.hexDecode(r.leaf_hash, 32);
      pass("R1", ["r1_pass", { elector: r.elector, unit: r.unit, round: r.round, index: r.index }]);
      // R2
      current = "R2";
      const doc = await source.manifest();
      const payload = doc && doc.payload;
      if (!payload) throw new Stop("r2_not_signed");
      const keys = payload.commission.keys;
      // pinned: a list of hex keys (written into the served page at the seal), or a typed
      // commission-key fingerprint (the page opened from disk)
      let trusted = keys;
      if (opts.commissionKeys && opts.commissionKeys.length) {
        trusted = keys.filter((k) => opts.commissionKeys.includes(k));
      } else if (opts.commissionKey) {
        const fp = KZ.fingerprint.normalise(opts.commissionKey);
        trusted = keys.filter((k) => k === opts.commissionKey || (fp && KZ.fingerprint.key(C.hexDecode(k, 32)) === fp));
      }
      if (!trusted.length) throw new Stop("r2_pinned");
      let signer;
      try {
        KZ.signing.openDocument(doc, trusted, "manifest");
        signer = trusted.map((k) => C.hexDecode(k, 32)).find((k) => KZ.signing.keyId(k) === doc.key_id);
      } catch (e) {
        throw new Stop("r2_bad_sig", { why: e.message });
      }
      f.keys = keys;
      f.manifest = payload;
      const mh = C.hex(C.hashJson(MANIFEST_TAG, payload));
      if (mh !== r.election) throw new Stop("r2_other_election");
      const unit = payload.units.find((u) => u.code === r.unit);
      if (!unit) throw new Stop("r2_no_unit", { unit: r.unit });
      f.rollEntry = unit.roll.find((e) => e.elector === r.elector);
      if (!f.rollEntry) throw new Stop("not_on_roll", { elector: r.elector, unit: r.unit });
      f.unit = unit;
      f.logKey = KZ.note.parseVerifier(unit.log_key);
      if (f.logKey.name !== `${payload.origin}/${r.unit}`) throw new Stop("r2_log_key", { name: f.logKey.name });
      f.commission = keys.map((k) => KZ.note.verifierFromKey(payload.commission.name, C.hexDecode(k, 32)));
      f.origin = `${payload.origin}/${r.unit}/${r.round}`;
      f.fingerprints = { election: KZ.fingerprint.electionOfHash(C.hexDecode(mh, 32)), key: KZ.fingerprint.key(signer) };
      // the manifest's witnesses section (schemas/manifest.py): {"keys": [...], "quorum": k}
      f.witnesses = payload.witnesses && Array.isArray(payload.witnesses.keys) ? payload.witnesses.keys.length : 0;
      pass("R2", ["r2_pass", { election: f.fingerprints.election, key: f.fingerprints.key, origin: f.origin }]);
      // R3
      current = "R3";
      let text;
      try {
        text = KZ.note.verifyNote(r.promise, [f.logKey]).text;
      } catch (e) {
        throw new Stop("r3_not_signed", { why: e.message });
      }
      if (text !== `${PROMISE_HEADER}\n${f.origin}\n${r.index}\n${C.b64Encode(f.leaf)}\n`) {
        throw new Stop("r3_other");
      }
      pass("R3", ["r3_pass", { name: f.logKey.name }]);
      // R4
      current = "R4";
      const data = await source.entry(r.unit, r.round, r.index);
      if (!data) throw new Stop("r4_missing", { index: r.index });
      if (!C.equal(KZ.merkle.leafHash(data), f.leaf)) throw new Stop("r4_leaf", { index: r.index });
      const entry = JSON.parse(new TextDecoder().decode(data));
      if (entry.elector !== r.elector || entry.unit !== r.unit || entry.round !== r.round) {
        throw new Stop("r4_other");
      }
      if (!KZ.ballot.verifyBallotSignature(entry, C.hexDecode(f.rollEntry.public_key, 32))) {
        throw new Stop("r4_sig");
      }
      const ids = r.round === 1 ? unit.candidates.map((c) => c.id) : entry.selections.map((s) => s.candidate);
      const reason = KZ.ballot.checkBallot(r.election, r.unit, r.round, r.elector, ids, entry, payload.election_key);
      if (reason !== null) throw new Stop("r4_proofs", { why: reason });
      f.entry = { unit: r.unit, round: r.round, tracker: KZ.ballot.tracker(entry) };
      const r4 = [["r4_pass", { index: r.index, tracker: f.entry.tracker.slice(0, 16) }]];
      if (opts.ballotBytes) {
        if (!C.equal(opts.ballotBytes, data)) throw new Stop("r4_kept");
        r4.push(["r4_pass_kept", {}]);
      }
      pass("R4", ...r4);
      // R5
      current = "R5";
      let proofText = r.proof;
      if (proofText === null) proofText = await source.inclusion(r.unit, r.round, r.index);
      let cp;
      try {
        if (KZ.checkpoint.parseTlogProof(proofText).index !== r.index) throw new Stop("r5_other_index");
        cp = KZ.checkpoint.verifyTlogProof(proofText, f.leaf, f.logKey, f.origin);
      } catch (e) {
        if (e instanceof Stop) throw e;
        throw new Stop("r5_bad", { why: e.message });
      }
      f.included = cp;
      pass("R5", ["r5_pass", { index: r.index, size: cp.size }]);
      // R6
      current = "R6";
      const notes = await source.checkpoints(r.unit, r.round);
      if (!notes.length) throw new Stop("r6_none");
      const finalNote = notes[notes.length - 1];
      let fin;
      try {
        fin = KZ.checkpoint.openCheckpoint(finalNote, f.logKey, f.origin);
        fin.facts = KZ.checkpoint.checkpointFacts(fin);
      } catch (e) {
        throw new Stop("r6_bad_last", { why: e.message });
      }
      if (cp.size > fin.size) throw new Stop("r6_beyond", { size: cp.size });
      const cproof = await source.consistency(r.unit, r.round, cp.size, fin.size);
      if (!KZ.merkle.verifyConsistency(cp.size, fin.size, cproof, cp.root, fin.root)) {
        throw new Stop("r6_rewritten", { size1: cp.size, size2: fin.size });
      }
      // the round is still open: normal before the close; what can be checked, was
      if (!fin.facts.final) throw new Stop("r6_wait", { unit: r.unit, round: r.round, size1: cp.size, size2: fin.size }, true);
      try {
        KZ.note.verifyNote(finalNote, f.commission);
      } catch (e) {
        throw new Stop("r6_not_countersigned", { why: e.message });
      }
      f.final = fin;
      pass("R6", ["r6_pass", { size1: cp.size, size2: fin.size }]);
      // R7
      current = "R7";
      const want = { size: fin.size, root: C.hex(fin.root) };
      const tally = await source.tally(r.unit, r.round);
      const same = (x) => x && x.size === want.size && x.root === want.root;
      if (tally === null) throw new Stop("r7_wait", { unit: r.unit, round: r.round }, true);
      if (!same(tally.final_checkpoint)) throw new Stop("r7_other");
      // a round without quorum is void whatever the votes and is never decrypted (docs/rules.md)
      const registered = unit.roll.length;
      const isVoid = 2 * fin.size <= registered;
      let detail = ["r7_pass", { unit: r.unit, round: r.round }];
      if (isVoid) {
        if ((tally.partials && tally.partials.length) || tally.counts != null || tally.blank != null) {
          throw new Stop("r7_void_decrypted");
        }
        detail = ["r7_void", { unit: r.unit, round: r.round, size: fin.size, registered }];
      }
      const result = await source.finalResult();
      if (result === null) {
        pass("R7", detail, ["r7_no_result", {}]);
      } else {
        let p;
        try {
          p = KZ.signing.openDocument(result, f.keys, "tally");
        } catch (e) {
          throw new Stop("r7_result_bad", { why: e.message });
        }
        if (p.format !== RESULTS_FORMAT || p.kind !== "final") throw new Stop("r7_result_format", { format: RESULTS_FORMAT });
        if (p.election !== r.election) throw new Stop("r7_result_election");
        const rounds = (p.units || []).filter((u) => u.unit === r.unit)
          .flatMap((u) => u.rounds || []).filter((x) => x.round === r.round);
        if (rounds.length !== 1 || !same(rounds[0].final_checkpoint)) throw new Stop("r7_result_checkpoint");
        if (isVoid && (rounds[0].status !== "void" || rounds[0].votes != null)) throw new Stop("r7_result_void");
        pass("R7", detail, ["r7_result_ok", {}]);
      }
      f.void = isVoid;
    } catch (e) {
      const said = e instanceof Stop ? [[e.key, e.args]] : [["malformed", { why: `${e.name}: ${e.message}` }]];
      const wait = e instanceof Stop && e.wait;
      Object.assign(item(current), { ok: wait ? null : false, pending: wait, said, detail: said.map(([k, a]) => say(k, a)).join("") });
    }
    const ok = items.every((i) => i.ok === true);
    const pending = items.some((i) => i.pending);
    return { ok, pending, state: ok ? "pass" : pending ? "pending" : "fail", items,
      void: ok && Boolean(f.void), fingerprints: f.fingerprints || null, witnesses: f.witnesses || 0,
      entry: f.entry || null };
  }

  KZ.receipt = { IDS, serviceSource, checkReceipt };
})(typeof globalThis !== "undefined" ? globalThis : this);
