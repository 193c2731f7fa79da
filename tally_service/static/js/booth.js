/* The voting booth: identify, choose, encrypt and prove here, show the tracker, then cast (sign
 * and post) or audit (reveal the nonces and throw the ballot away). Nothing secret leaves the
 * page but the signed, encrypted ballot. */
(function (root) {
  "use strict";
  const KZ = root.KZ;
  const doc = root.document;
  const $ = (id) => doc.getElementById(id);
  const C = KZ.canonical;
  const params = new URLSearchParams(root.location.search);
  const base = params.get("service") || root.location.origin;
  const api = base.replace(/\/+$/, "") + "/api/v1";
  const state = { manifest: null, hash: null, unit: null, elector: null, key: null, round: null,
    candidates: [], pending: null };

  function show(...ids) {
    for (const s of ["identify", "choose", "challenge", "audited", "done"]) $(s).hidden = !ids.includes(s);
  }

  function fail(message) {
    $("error").textContent = message;
  }

  async function getJson(path) {
    const r = await root.fetch(api + path);
    if (!r.ok) throw new Error(`GET ${path}: HTTP ${r.status}`);
    return r.json();
  }

  function unitName(u) {
    return u.name[KZ.lang] || u.name.en;
  }

  function fillUnits() {
    const sel = $("unit");
    const chosen = sel.value;
    sel.textContent = "";
    for (const u of state.manifest.units) {
      const o = doc.createElement("option");
      o.value = u.code;
      o.textContent = `${unitName(u)} (${u.code})`;
      sel.appendChild(o);
    }
    if (chosen) sel.value = chosen;
  }

  async function loadManifest() {
    const signed = await getJson("/manifest");
    const pinned = params.get("commission_key");
    const keys = signed.payload.commission.keys;
    try {
      if (pinned && !keys.includes(pinned)) throw new Error("pinned key not in the manifest");
      KZ.signing.openDocument(signed, pinned ? [pinned] : keys, "manifest");
    } catch (e) {
      $("manifest-status").textContent = KZ.t("manifest_bad") + ` (${e.message})`;
      $("manifest-status").className = "bad";
      return false;
    }
    state.manifest = signed.payload;
    state.hash = C.hex(C.hashJson("kz-tally/v1/manifest", signed.payload));
    $("manifest-status").textContent = KZ.t("manifest_ok", { key: signed.key_id });
    $("manifest-status").className = "ok";
    $("manifest-status").dataset.keyId = signed.key_id;
    fillUnits();
    return true;
  }

  // The 32-byte seed of an unencrypted PKCS#8 Ed25519 PEM (what tally-service keygen writes).
  function seedFromPem(text) {
    const b64 = text.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    const der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const prefix = "302e020100300506032b657004220420";
    if (der.length !== 48 || C.hex(der.slice(0, 16)) !== prefix) throw new Error("not an Ed25519 PKCS#8 key file");
    return der.slice(16);
  }

  async function signIn() {
    $("identify-error").textContent = "";
    const unit = state.manifest.units.find((u) => u.code === $("unit").value);
    const elector = $("elector").value.trim();
    const entry = unit.roll.find((e) => e.elector === elector);
    try {
      if (!entry) throw new Error(`${elector} is not on the roll of ${unit.code}`);
      let key;
      const file = $("keyfile").files[0];
      if ($("code").value.trim()) {
        key = KZ.credentials.deriveKey($("code").value, state.manifest.election_id, elector);
      } else if (file) {
        key = KZ.signing.keyFromSeed(seedFromPem(await file.text()));
      } else {
        throw new Error(KZ.t("code"));
      }
      if (C.hex(key.publicKey) !== entry.public_key) throw new Error(KZ.t("wrong_key"));
      const units = await getJson("/units");
      const open = units.units.find((u) => u.code === unit.code).rounds.filter((r) => r.state === "open");
      if (!open.length) throw new Error(KZ.t("no_round"));
      Object.assign(state, { unit, elector, key, round: open[open.length - 1].round,
        candidates: open[open.length - 1].candidates });
      fillCandidates();
      show("choose");
    } catch (e) {
      $("identify-error").textContent = e.message;
    }
  }

  function fillCandidates() {
    const box = $("candidates");
    const chosen = (doc.querySelector("input[name=choice]:checked") || {}).value;
    box.textContent = "";
    const names = Object.fromEntries(state.unit.candidates.map((c) => [c.id, c.name]));
    for (const id of [...state.candidates, ""]) {
      const label = doc.createElement("label");
      const input = doc.createElement("input");
      input.type = "radio";
      input.name = "choice";
      input.value = id;
      input.id = "choice-" + (id || "blank");
      label.appendChild(input);
      label.appendChild(doc.createTextNode(" " + (id ? `${names[id] || id} (${id})` : KZ.t("blank"))));
      box.appendChild(label);
    }
    if (chosen !== undefined) {
      const again = doc.querySelector(`input[name=choice][value="${chosen}"]`);
      if (again) again.checked = true;
    }
  }

  function encrypt() {
    const picked = doc.querySelector("input[name=choice]:checked");
    if (!picked) return;
    const choice = picked.value || null;
    const { ballot, nonces } = KZ.ballot.encryptBallot(state.hash, state.unit.code, state.round,
      state.elector, state.candidates, choice, state.manifest.election_key);
    state.pending = { ballot, nonces, choice, tracker: KZ.ballot.tracker(ballot) };
    $("tracker").textContent = state.pending.tracker.match(/.{1,8}/g).join(" ");
    $("cast").disabled = false;
    show("choose", "challenge");
  }

  function audit() {
    const p = state.pending;
    state.pending = null; // this ballot is never signed: it can never be cast
    $("cast").disabled = true;
    const audited = KZ.ballot.makeAudited(p.ballot, p.nonces, p.choice);
    const [why, what] = KZ.ballot.checkAudited(audited, state.hash, state.candidates, state.manifest.election_key);
    $("audit-verdict").textContent = why === null ? KZ.t("audit_ok", { what }) : KZ.t("audit_bad", { why });
    $("audit-verdict").className = why === null ? "ok" : "bad";
    $("audit-elsewhere").textContent = KZ.t("audit_elsewhere", { url: base });
    const text = JSON.stringify(audited, null, 1) + "\n";
    $("audit-data").textContent = text;
    $("download-audit").onclick = () => KZ.download(doc, `audited-${audited.tracker.slice(0, 8)}.json`, text);
    show("audited");
  }

  async function cast() {
    const p = state.pending;
    if (!p) return;
    $("cast").disabled = true;
    const signed = KZ.ballot.signBallot(p.ballot, state.key);
    const body = C.canonicalBytes(signed);
    const r = await root.fetch(api + "/ballots", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    const text = await r.text();
    if (r.status !== 201 && r.status !== 200) {
      let why = text;
      try { why = JSON.parse(text).detail || why; } catch (e) { /* keep the text */ }
      fail(KZ.t("refused", { why }));
      return;
    }
    state.pending = null;
    const receipt = JSON.parse(text);
    const name = `receipt-${state.elector}-r${state.round}`;
    $("cast-result").textContent = KZ.t("cast_ok", { index: receipt.index, unit: receipt.unit, round: receipt.round });
    $("cast-tracker").textContent = p.tracker;
    $("download-receipt").onclick = () => KZ.download(doc, `${name}.json`, text);
    $("download-ballot").onclick = () => KZ.download(doc, `${name}.ballot.json`, body);
    $("receipt-link").href = "receipt.html?service=" + encodeURIComponent(base);
    show("done");
  }

  async function start() {
    await root.sodium.ready;
    KZ.setupLanguages(doc, () => {
      if (!state.manifest) return;
      $("manifest-status").textContent = KZ.t("manifest_ok", { key: $("manifest-status").dataset.keyId });
      fillUnits();
      if (state.unit) fillCandidates();
    });
    $("sign-in").onclick = signIn;
    $("encrypt").onclick = encrypt;
    $("audit").onclick = audit;
    $("cast").onclick = cast;
    $("encrypt-again").onclick = () => { show("choose"); encrypt(); };
    try {
      if (await loadManifest()) show("identify");
    } catch (e) {
      fail(e.message);
    }
  }

  start();
})(globalThis);
