/* The public ballot box: every accepted ballot's tracker, per unit and round, from the signed
 * log (as Helios and Belenios show it).
 *
 * Threat: a list the service makes up (a ballot left out, or one shown that the log does not
 * hold) would let an elector who looks for their tracker be fooled. So the page takes nothing on
 * trust: the manifest must carry a commission key written into the page at the seal, the newest
 * checkpoint must be signed by the unit's log key, and the Merkle root of the entries listed
 * must be that checkpoint's root: the list is then exactly the log's first N entries. Entries
 * appended since are shown apart, as not yet covered by a checkpoint. Each tracker is computed
 * here from its entry (crypto/audit.py). */
(function (root) {
  "use strict";
  const KZ = root.KZ;
  const doc = root.document;
  const $ = (id) => doc.getElementById(id);
  const C = KZ.canonical;
  const api = root.location.origin + "/api/v1";
  const params = new URLSearchParams(root.location.search);
  const state = { manifest: null, rows: [], status: null, error: null };

  const Said = KZ.Said;

  const getJson = (path) => KZ.getJson(api + path, path);

  const local = (names) => (names && (names[KZ.lang] || names.en)) || "";
  const bare = (text) => String(text).replace(/[\s-]/g, "").toLowerCase();

  function render() {
    $("error").textContent = state.error ? KZ.t(state.error.key, state.error.args) : "";
    if (!state.status) return;
    $("box-status").textContent = KZ.t(state.status.key, state.status.args);
    $("box-status").className = state.status.key === "box_ok" ? "ok" : "bad";
    const wanted = bare($("search").value);
    const body = $("entries");
    body.textContent = "";
    let shown = 0;
    for (const row of state.rows) {
      if (wanted && !row.tracker.startsWith(wanted) && !row.elector.toLowerCase().includes(wanted)) continue;
      shown += 1;
      const tr = doc.createElement("tr");
      tr.id = "t-" + row.tracker;
      tr.dataset.covered = String(row.covered);
      if (params.get("tracker") === row.tracker) tr.className = "mine";
      for (const text of [String(row.index), row.elector]) {
        const td = doc.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      const td = doc.createElement("td");
      td.className = "tracker";
      for (const g of row.tracker.match(/.{1,8}/g)) {
        const span = doc.createElement("span");
        span.textContent = g;
        td.appendChild(span);
        td.appendChild(doc.createTextNode(" "));
      }
      if (!row.covered) td.appendChild(doc.createTextNode(KZ.t("box_uncovered")));
      tr.appendChild(td);
      body.appendChild(tr);
    }
    $("box-count").textContent = KZ.t("box_count", { shown, total: state.rows.length });
    $("box").hidden = false;
  }

  function fillUnits() {
    const sel = $("unit");
    const chosen = sel.value || params.get("unit");
    sel.textContent = "";
    for (const u of state.manifest.units) {
      const o = doc.createElement("option");
      o.value = u.code;
      o.textContent = `${local(u.name)} (${u.code})`;
      sel.appendChild(o);
    }
    if (chosen) sel.value = chosen;
  }

  async function fillRounds() {
    const units = await getJson("/units");
    const unit = units.units.find((u) => u.code === $("unit").value);
    const sel = $("round");
    const chosen = sel.value || params.get("round");
    sel.textContent = "";
    for (const r of (unit ? unit.rounds : [])) {
      const o = doc.createElement("option");
      o.value = String(r.round);
      o.textContent = String(r.round);
      sel.appendChild(o);
    }
    if (chosen) sel.value = chosen;
  }

  async function load() {
    state.error = null;
    const unit = state.manifest.units.find((u) => u.code === $("unit").value);
    const round = Number($("round").value);
    if (!unit || !round) throw new Said("no_round");
    const base = `/units/${encodeURIComponent(unit.code)}/rounds/${round}`;
    const origin = `${state.manifest.origin}/${unit.code}/${round}`;
    const logKey = KZ.note.parseVerifier(unit.log_key);
    const notes = (await getJson(`${base}/checkpoints`)).checkpoints.map((c) => c.note);
    let cp = { size: 0, root: KZ.merkle.EMPTY_ROOT() };
    if (notes.length) {
      try {
        cp = KZ.checkpoint.openCheckpoint(notes[notes.length - 1], logKey, origin);
      } catch (e) {
        throw new Said("box_bad_checkpoint", { why: e.message });
      }
    }
    const entries = [];
    for (;;) {
      const page = await getJson(`${base}/entries?start=${entries.length}`);
      if (!page.entries.length) break;
      entries.push(...page.entries);
    }
    const leaves = entries.map((e) => KZ.merkle.leafHash(C.canonicalBytes(e)));
    if (entries.length < cp.size) throw new Said("box_short", { size: cp.size, n: entries.length });
    const covered = KZ.merkle.rootOf(leaves.slice(0, cp.size));
    if (!C.equal(covered, cp.root)) {
      state.rows = [];
      state.status = { key: "box_mismatch", args: { size: cp.size } };
      return;
    }
    state.rows = entries.map((e, index) => ({ index, elector: String(e.elector), tracker: KZ.ballot.tracker(e),
      covered: index < cp.size }));
    state.status = { key: "box_ok", args: { size: cp.size, origin, extra: entries.length - cp.size } };
  }

  async function start() {
    await root.sodium.ready;
    KZ.setupLanguages(doc, () => {
      if (state.manifest) fillUnits();
      render();
    });
    $("search").value = params.get("tracker") || "";
    $("search").oninput = render;
    const run = (f) => f().catch((e) => {
      state.error = e instanceof Said ? { key: e.key, args: e.args } : { key: "unexpected", args: { why: e.message } };
      render();
    }).then(render);
    $("load").onclick = () => run(load);
    $("unit").onchange = () => run(fillRounds);
    await run(async () => {
      const meta = doc.querySelector("meta[name=kz-commission-keys]");
      const keys = (meta ? meta.content : "").split(",").map((k) => k.trim()).filter(Boolean);
      if (!keys.length) throw new Said("no_pinned_key");
      const signed = await getJson("/manifest");
      try {
        KZ.signing.openDocument(signed, keys, "manifest");
      } catch (e) {
        throw new Said("manifest_bad", { why: e.message });
      }
      state.manifest = signed.payload;
      const signer = keys.map((h) => C.hexDecode(h, 32)).find((k) => KZ.signing.keyId(k) === signed.key_id);
      $("election-fingerprint").textContent = KZ.fingerprint.election(signed.payload);
      $("key-fingerprint").textContent = KZ.fingerprint.key(signer);
      $("fingerprints").hidden = false;
      fillUnits();
      await fillRounds();
      if (params.get("unit") && params.get("round")) await load();
    });
    const mine = params.get("tracker") && $("t-" + params.get("tracker"));
    if (mine) mine.scrollIntoView({ block: "center" });
  }

  start();
})(globalThis);
