/* The elector's receipt check, in the browser: R1-R7 as scripts/verify_receipt.py checks them,
 * against the live service (every answer is checked here; none is trusted). Also R4's
 * comparison with the ballot the elector kept, when given. Returns one verdict per check. */
(function (root) {
  "use strict";
  const KZ = (root.KZ = root.KZ || {});
  const C = KZ.canonical;
  const MANIFEST_TAG = "kz-tally/v1/manifest";
  const RESULTS_FORMAT = "kz-tally/results/v1";
  const PROMISE_HEADER = "kz-tally/v1/promise";
  const IDS = ["R1", "R2", "R3", "R4", "R5", "R6", "R7"];

  class Stop extends Error {}

  function serviceSource(base, fetchImpl) {
    const f = fetchImpl || root.fetch.bind(root);
    const api = base.replace(/\/+$/, "") + "/api/v1";
    async function get(path, asText) {
      let r;
      try {
        r = await f(api + path);
      } catch (e) {
        throw new Stop(`cannot reach ${api}: ${e.message}`);
      }
      if (r.status === 404 && path.startsWith("/results/")) return null;
      if (!r.ok) throw new Stop(`GET ${path}: HTTP ${r.status}`);
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
        if (d.size1 !== s1 || d.size2 !== s2) throw new Stop("the consistency answer is not for the sizes asked");
        return d.proof.map((h) => C.hexDecode(h, 32));
      },
      tally: (u, n) => get(`${round(u, n)}/tally`),
      finalResult: () => get("/results/final"),
    };
  }

  function checkReceiptShape(r) {
    const fields = "election,elector,format,index,leaf_hash,promise,proof,round,unit";
    if (!r || typeof r !== "object" || Object.keys(r).sort().join() !== fields) {
      throw new Stop(`a receipt has exactly the fields ${fields}`);
    }
    if (r.format !== "kz-tally/receipt/v1") throw new Stop("the format is not kz-tally/receipt/v1");
    if (!/^[0-9a-f]{64}$/.test(r.election) || !/^[0-9a-f]{64}$/.test(r.leaf_hash)) throw new Stop("election and leaf_hash are 32-byte hex");
    if (!Number.isSafeInteger(r.index) || r.index < 0 || !Number.isSafeInteger(r.round) || r.round < 1) throw new Stop("index and round are integers");
    if (typeof r.promise !== "string" || (r.proof !== null && typeof r.proof !== "string")) throw new Stop("promise and proof are text");
  }

  // opts: {ballotBytes: Uint8Array (the kept ballot), commissionKey: hex (pinned)}
  async function checkReceipt(receipt, source, opts) {
    opts = opts || {};
    const items = IDS.map((id) => ({ id, ok: null, detail: "" }));
    const item = (id) => items[IDS.indexOf(id)];
    const pass = (id, detail) => Object.assign(item(id), { ok: true, detail });
    const f = {};
    let current = "R1";
    try {
      // R1
      checkReceiptShape(receipt);
      const r = receipt;
      f.leaf = C.hexDecode(r.leaf_hash, 32);
      pass("R1", `${r.elector} in unit ${r.unit} round ${r.round}, entry ${r.index}`);
      // R2
      current = "R2";
      const doc = await source.manifest();
      const payload = doc && doc.payload;
      if (!payload) throw new Stop("the manifest is not a signed document");
      const keys = payload.commission.keys;
      if (opts.commissionKey && !keys.includes(opts.commissionKey)) throw new Stop("the pinned commission key is not in the manifest");
      try {
        KZ.signing.openDocument(doc, opts.commissionKey ? [opts.commissionKey] : keys, "manifest");
      } catch (e) {
        throw new Stop(`the manifest does not check: ${e.message}`);
      }
      f.keys = keys;
      f.manifest = payload;
      const mh = C.hex(C.hashJson(MANIFEST_TAG, payload));
      if (mh !== r.election) throw new Stop("the receipt is for another election (manifest hash differs)");
      const unit = payload.units.find((u) => u.code === r.unit);
      if (!unit) throw new Stop(`the manifest has no unit ${r.unit}`);
      f.rollEntry = unit.roll.find((e) => e.elector === r.elector);
      if (!f.rollEntry) throw new Stop(`${r.elector} is not on the roll of ${r.unit}`);
      f.unit = unit;
      f.logKey = KZ.note.parseVerifier(unit.log_key);
      if (f.logKey.name !== `${payload.origin}/${r.unit}`) throw new Stop(`the unit's log key is named ${f.logKey.name}`);
      f.commission = keys.map((k) => KZ.note.verifierFromKey(payload.commission.name, C.hexDecode(k, 32)));
      f.origin = `${payload.origin}/${r.unit}/${r.round}`;
      pass("R2", `manifest ${mh.slice(0, 16)}..., log ${f.origin}`);
      // R3
      current = "R3";
      let text;
      try {
        text = KZ.note.verifyNote(r.promise, [f.logKey]).text;
      } catch (e) {
        throw new Stop(`the promise is not signed by the unit's log key: ${e.message}`);
      }
      if (text !== `${PROMISE_HEADER}\n${f.origin}\n${r.index}\n${C.b64Encode(f.leaf)}\n`) {
        throw new Stop("the signed promise is for another log, index or leaf hash than the receipt");
      }
      pass("R3", `signed by ${f.logKey.name}`);
      // R4
      current = "R4";
      const data = await source.entry(r.unit, r.round, r.index);
      if (!data) throw new Stop(`the log has no entry at index ${r.index}`);
      if (!C.equal(KZ.merkle.leafHash(data), f.leaf)) throw new Stop(`the entry at index ${r.index} has another leaf hash`);
      const entry = JSON.parse(new TextDecoder().decode(data));
      if (entry.elector !== r.elector || entry.unit !== r.unit || entry.round !== r.round) {
        throw new Stop("the entry is not this elector's ballot for this unit and round");
      }
      if (!KZ.ballot.verifyBallotSignature(entry, C.hexDecode(f.rollEntry.public_key, 32))) {
        throw new Stop("the entry's signature is not by the elector's roll key");
      }
      const ids = r.round === 1 ? unit.candidates.map((c) => c.id) : entry.selections.map((s) => s.candidate);
      const reason = KZ.ballot.checkBallot(r.election, r.unit, r.round, r.elector, ids, entry, payload.election_key);
      if (reason !== null) throw new Stop(`the entry's proofs: ${reason}`);
      let kept = "";
      if (opts.ballotBytes) {
        if (!C.equal(opts.ballotBytes, data)) throw new Stop("the ballot you kept is not the log's entry byte for byte");
        kept = "; it is byte for byte the ballot you kept";
      }
      pass("R4", `entry ${r.index} is your signed ballot with valid proofs, tracker ${KZ.ballot.tracker(entry).slice(0, 16)}...${kept}`);
      // R5
      current = "R5";
      let label = "the receipt's tlog-proof";
      let proofText = r.proof;
      if (proofText === null) {
        label = "a proof from the service";
        proofText = await source.inclusion(r.unit, r.round, r.index);
      }
      let cp;
      try {
        if (KZ.checkpoint.parseTlogProof(proofText).index !== r.index) throw new Stop(`${label} is for another index`);
        cp = KZ.checkpoint.verifyTlogProof(proofText, f.leaf, f.logKey, f.origin);
      } catch (e) {
        throw new Stop(`${label}: ${e.message}`);
      }
      f.included = cp;
      pass("R5", `${label}: entry ${r.index} is in the signed checkpoint of size ${cp.size}`);
      // R6
      current = "R6";
      const notes = await source.checkpoints(r.unit, r.round);
      if (!notes.length) throw new Stop("the log has no checkpoints");
      const finalNote = notes[notes.length - 1];
      let fin;
      try {
        fin = KZ.checkpoint.openCheckpoint(finalNote, f.logKey, f.origin);
        fin.facts = KZ.checkpoint.checkpointFacts(fin);
      } catch (e) {
        throw new Stop(`the last checkpoint does not verify: ${e.message}`);
      }
      if (!fin.facts.final) throw new Stop("the last checkpoint has no 'final' line: the round is not closed");
      try {
        KZ.note.verifyNote(finalNote, f.commission);
      } catch (e) {
        throw new Stop(`the last checkpoint is not countersigned by the commission (round not closed?): ${e.message}`);
      }
      if (cp.size > fin.size) throw new Stop(`the checkpoint of size ${cp.size} is beyond the final one`);
      const cproof = await source.consistency(r.unit, r.round, cp.size, fin.size);
      if (!KZ.merkle.verifyConsistency(cp.size, fin.size, cproof, cp.root, fin.root)) {
        throw new Stop(`the checkpoint of size ${cp.size} is not a prefix of the final one (size ${fin.size}): the log was rewritten`);
      }
      f.final = fin;
      pass("R6", `size ${cp.size} -> final size ${fin.size}, countersigned by the commission`);
      // R7
      current = "R7";
      const want = { size: fin.size, root: C.hex(fin.root) };
      const tally = await source.tally(r.unit, r.round);
      const same = (x) => x && x.size === want.size && x.root === want.root;
      if (!tally || !same(tally.final_checkpoint)) throw new Stop("the round's tally was not computed over the final checkpoint");
      // a round without quorum is void whatever the votes and is never decrypted (docs/rules.md)
      const registered = unit.roll.length;
      const isVoid = 2 * fin.size <= registered;
      let detail = `the tally of ${r.unit} round ${r.round} covers the final checkpoint`;
      if (isVoid) {
        if ((tally.partials && tally.partials.length) || tally.counts != null || tally.blank != null) {
          throw new Stop("the round had no quorum, yet its tally was decrypted: its ballots' secrecy was put at risk");
        }
        detail = `${r.unit} round ${r.round} had no quorum (${fin.size} of ${registered} registered took part) and was not decrypted; its encrypted tally covers the final checkpoint`;
      }
      const result = await source.finalResult();
      if (result === null) {
        pass("R7", detail + " (no final result published yet)");
      } else {
        let p;
        try {
          p = KZ.signing.openDocument(result, f.keys, "tally");
        } catch (e) {
          throw new Stop(`the final result: ${e.message}`);
        }
        if (p.format !== RESULTS_FORMAT || p.kind !== "final") throw new Stop(`the final result is not a ${RESULTS_FORMAT} final result`);
        if (p.election !== r.election) throw new Stop("the final result is for another election");
        const rounds = (p.units || []).filter((u) => u.unit === r.unit)
          .flatMap((u) => u.rounds || []).filter((x) => x.round === r.round);
        if (rounds.length !== 1 || !same(rounds[0].final_checkpoint)) throw new Stop("the signed final result does not report this final checkpoint");
        if (isVoid && (rounds[0].status !== "void" || rounds[0].votes != null)) throw new Stop("the signed final result reports counts for a round without quorum");
        pass("R7", detail + ", and so does the commission-signed final result");
      }
      f.void = isVoid;
    } catch (e) {
      Object.assign(item(current), { ok: false, detail: e instanceof Stop ? e.message : `malformed data (${e.name}: ${e.message})` });
    }
    const ok = items.every((i) => i.ok === true);
    return { ok, items, void: ok && Boolean(f.void) };
  }

  KZ.receipt = { IDS, serviceSource, checkReceipt };
})(typeof globalThis !== "undefined" ? globalThis : this);
