/* The voting booth: identify, choose, confirm, encrypt and prove here, show the tracker, then
 * cast (sign and post) or audit (reveal the nonces and throw the ballot away).
 *
 * Threats, and what the page does about each (issue 25):
 * - casting a choice the elector no longer sees: the choice is confirmed by name before
 *   encrypting, then frozen and shown as text; any change throws the encryption away;
 * - revealing a cast vote: a ballot is never audited once Cast was pressed; when the answer to
 *   a cast is lost or does not check, the page asks the service (by leaf hash) whether the
 *   ballot went in, and says either "accepted" (with a checked receipt) or "not cast";
 * - a link that points the page elsewhere: the page talks to its own origin only, and trusts
 *   only the commission keys the service wrote into it from the sealed manifest (never a key
 *   or a service from the URL); "accepted" is said only after the receipt's promise checks
 *   against the unit's log key for the leaf hash of the very bytes posted.
 * Nothing secret leaves the page but the signed, encrypted ballot. */
(function (root) {
  "use strict";
  const KZ = root.KZ;
  const doc = root.document;
  const $ = (id) => doc.getElementById(id);
  const C = KZ.canonical;
  const api = root.location.origin + "/api/v1";
  const PROMISE_HEADER = "kz-tally/v1/promise";
  const SECTIONS = ["identify", "choose", "confirm", "challenge", "audited", "doubt", "done"];
  const state = { manifest: null, hash: null, keys: [], unit: null, elector: null, key: null,
    round: null, candidates: [], choice: undefined, confirmed: undefined, pending: null, receipt: null };

  // A message for the elector: a key of KZ.strings and its fields, rendered in the current
  // language (and again when the language changes).
  const Said = KZ.Said;

  function show(...ids) {
    for (const s of SECTIONS) $(s).hidden = !ids.includes(s);
  }

  const shown = {};
  function say(id, key, args, cls) {
    shown[id] = key === null ? null : { key, args: args || {} };
    $(id).textContent = key === null ? "" : KZ.t(key, args);
    if (cls !== undefined) $(id).className = cls;
  }
  function sayError(id, e) {
    if (e instanceof Said) say(id, e.key, e.args);
    else say(id, "unexpected", { why: e && e.message ? e.message : String(e) });
    $(id).focus(); // errors below the fold: the focus brings them into view
  }
  function rerender() {
    for (const [id, m] of Object.entries(shown)) if (m) $(id).textContent = KZ.t(m.key, m.args);
  }

  const getJson = (path) => KZ.getJson(api + path, path);

  const local = (names) => (names && (names[KZ.lang] || names.en)) || "";
  const candidateName = (id) => {
    if (id === null) return KZ.t("blank");
    const c = state.unit.candidates.find((x) => x.id === id);
    return c ? `${c.name} (${id})` : id;
  };

  function fillUnits() {
    const sel = $("unit");
    const chosen = sel.value;
    sel.textContent = "";
    for (const u of state.manifest.units) {
      const o = doc.createElement("option");
      o.value = u.code;
      o.textContent = `${local(u.name)} (${u.code})`;
      sel.appendChild(o);
    }
    if (chosen) sel.value = chosen;
  }

  function showElection() {
    const m = state.manifest;
    $("election").textContent = [local(m.title), m.date].filter(Boolean).join(" · ");
  }

  async function loadManifest() {
    const meta = doc.querySelector("meta[name=kz-commission-keys]");
    state.keys = (meta ? meta.content : "").split(",").map((k) => k.trim().toLowerCase()).filter(Boolean);
    if (!state.keys.length) throw new Said("no_pinned_key");
    const signed = await getJson("/manifest");
    try {
      KZ.signing.openDocument(signed, state.keys, "manifest");
    } catch (e) {
      say("manifest-status", "manifest_bad", { why: e.message }, "bad");
      return false;
    }
    state.manifest = signed.payload;
    const hash = C.hashJson("kz-tally/v1/manifest", signed.payload);
    state.hash = C.hex(hash);
    const signer = state.keys.map((h) => C.hexDecode(h, 32)).find((k) => KZ.signing.keyId(k) === signed.key_id);
    $("election-fingerprint").textContent = KZ.fingerprint.electionOfHash(hash);
    $("key-fingerprint").textContent = KZ.fingerprint.key(signer);
    $("fingerprints").hidden = false;
    say("manifest-status", "manifest_ok", {}, "ok");
    showElection();
    fillUnits();
    return true;
  }

  // The 32-byte seed of an unencrypted PKCS#8 Ed25519 PEM (what tally-service keygen writes).
  function seedFromPem(text) {
    const b64 = text.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    let der;
    try {
      der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    } catch (e) {
      throw new Said("bad_key_file");
    }
    const prefix = "302e020100300506032b657004220420";
    if (der.length !== 48 || C.hex(der.slice(0, 16)) !== prefix) throw new Said("bad_key_file");
    return der.slice(16);
  }

  // The receipt checks before the page says "accepted": for this election, unit, round and
  // elector; its promise signed by the unit's log key (from the checked manifest) for exactly
  // this origin, index and leaf hash; and, when we posted bytes, that leaf hash is theirs.
  function checkReceipt(receipt, postedBytes) {
    const u = state.unit;
    if (!receipt || receipt.format !== "kz-tally/receipt/v1" || receipt.election !== state.hash ||
        receipt.unit !== u.code || receipt.round !== state.round || receipt.elector !== state.elector ||
        !Number.isSafeInteger(receipt.index) || typeof receipt.promise !== "string") {
      throw new Said("receipt_bad");
    }
    const leaf = C.hexDecode(receipt.leaf_hash, 32);
    if (postedBytes && !C.equal(KZ.merkle.leafHash(postedBytes), leaf)) {
      throw new Said("receipt_bad");
    }
    const logKey = KZ.note.parseVerifier(u.log_key);
    const origin = `${state.manifest.origin}/${u.code}/${state.round}`;
    let text;
    try {
      text = KZ.note.verifyNote(receipt.promise, [logKey]).text;
    } catch (e) {
      throw new Said("receipt_bad");
    }
    if (text !== `${PROMISE_HEADER}\n${origin}\n${receipt.index}\n${C.b64Encode(leaf)}\n`) {
      throw new Said("receipt_bad");
    }
    return receipt;
  }

  // The receipt of the ballot in this round's log found by `query`, checked; null if the service
  // says there is none (404 not-cast). Throws Said when it cannot tell.
  async function lookUp(query, postedBytes) {
    const path = `/units/${encodeURIComponent(state.unit.code)}/rounds/${state.round}/receipts?${query}`;
    let r;
    try {
      r = await root.fetch(api + path);
    } catch (e) {
      throw new Said("unreachable", { why: e.message });
    }
    if (r.status === 404) {
      const problem = await r.json().catch(() => ({}));
      if (problem.check === "not-cast") return null;
    }
    if (!r.ok) throw new Said("http_error", { what: "receipts", status: r.status });
    return checkReceipt(await r.json(), postedBytes);
  }

  async function signIn() {
    say("identify-error", null);
    const unit = state.manifest.units.find((u) => u.code === $("unit").value);
    const elector = $("elector").value.trim();
    const entry = unit.roll.find((e) => e.elector === elector);
    try {
      if (!elector) throw new Said("no_elector");
      if (!entry) throw new Said("not_on_roll", { elector, unit: unit.code });
      let key;
      const file = $("keyfile").files[0];
      if ($("code").value.trim()) {
        try {
          key = KZ.credentials.deriveKey($("code").value, state.manifest.election_id, elector);
        } catch (e) {
          throw e.key ? new Said(e.key, e.args) : e; // the code's typing mistakes, said in words
        }
      } else if (file) {
        key = KZ.signing.keyFromSeed(seedFromPem(await file.text()));
      } else {
        throw new Said("no_code");
      }
      if (C.hex(key.publicKey) !== entry.public_key) throw new Said("wrong_key");
      const units = await getJson("/units");
      const open = units.units.find((u) => u.code === unit.code).rounds.filter((r) => r.state === "open");
      if (!open.length) throw new Said("no_round");
      Object.assign(state, { unit, elector, key, round: open[open.length - 1].round,
        candidates: open[open.length - 1].candidates, choice: undefined, confirmed: undefined, pending: null });
      // an elector who has voted learns it now, not after choosing and encrypting
      const earlier = await lookUp(`elector=${encodeURIComponent(elector)}`, null);
      if (earlier) {
        accepted(earlier, null, "already_voted");
        return;
      }
      fillCandidates();
      say("round-line", "round_line", { unit: local(unit.name), round: state.round });
      show("choose");
    } catch (e) {
      sayError("identify-error", e);
    }
  }

  function fillCandidates() {
    const box = $("candidates");
    box.textContent = "";
    for (const id of [...state.candidates, null]) {
      const label = doc.createElement("label");
      const input = doc.createElement("input");
      input.type = "radio";
      input.name = "choice";
      input.value = id || "";
      input.id = "choice-" + (id || "blank");
      input.checked = state.choice === id;
      // a change of choice after confirming or encrypting throws both away: only the choice
      // named on screen is ever encrypted
      input.addEventListener("change", () => {
        state.choice = id;
        state.confirmed = undefined;
        discard();
        if (!$("confirm").hidden) show("choose");
      });
      label.appendChild(input);
      label.appendChild(doc.createTextNode(" " + candidateName(id)));
      box.appendChild(label);
    }
  }

  function discard() {
    if (state.pending && !state.pending.posted) {
      state.pending = null;
      $("tracker").textContent = "";
      if (!$("challenge").hidden || !$("confirm").hidden) show("choose");
    }
  }

  function review() {
    say("choose-error", null);
    if (state.choice === undefined) {
      sayError("choose-error", new Said("choose_first"));
      return;
    }
    state.confirmed = state.choice;
    $("confirm-choice").textContent = candidateName(state.confirmed);
    show("confirm");
    $("encrypt").focus();
  }

  function change() {
    discard();
    state.confirmed = undefined;
    fillCandidates();
    show("choose");
  }

  // The tracker in groups of 8 that never break inside (a group split over two lines is
  // hard to compare with the one shown elsewhere).
  function showTracker(el, tracker) {
    el.textContent = "";
    for (const g of tracker.match(/.{1,8}/g)) {
      const span = doc.createElement("span");
      span.textContent = g;
      el.appendChild(span);
      el.appendChild(doc.createTextNode(" "));
    }
  }

  function encrypt() {
    const choice = state.confirmed; // what the review step named, nothing else
    if (choice === undefined || state.pending) return;
    const { ballot, nonces } = KZ.ballot.encryptBallot(state.hash, state.unit.code, state.round,
      state.elector, state.candidates, choice, state.manifest.election_key);
    state.pending = { ballot, nonces, choice, tracker: KZ.ballot.tracker(ballot), posted: false };
    $("sealed-choice").textContent = candidateName(choice);
    showTracker($("tracker"), state.pending.tracker);
    $("audit").hidden = false;
    $("change-sealed").hidden = false;
    show("challenge");
    // on a phone the choice, the tracker, Cast and Audit must all be on screen at once
    $("challenge").scrollIntoView({ block: "start" });
    $("cast").focus({ preventScroll: true });
  }

  function audit() {
    const p = state.pending;
    if (!p || p.posted) return; // a ballot that may have been cast is never audited
    state.pending = null; // this ballot is never signed: it can never be cast
    const audited = KZ.ballot.makeAudited(p.ballot, p.nonces, p.choice);
    const [why] = KZ.ballot.checkAudited(audited, state.hash, state.candidates, state.manifest.election_key);
    if (why === null) say("audit-verdict", "audit_ok", { what: candidateName(audited.choice) }, "ok");
    else say("audit-verdict", "audit_bad", { why }, "bad");
    say("audit-elsewhere", "audit_elsewhere", { url: root.location.origin });
    const text = JSON.stringify(audited, null, 1) + "\n";
    $("audit-data").textContent = text;
    $("download-audit").onclick = () => KZ.download(doc, `audited-${audited.tracker.slice(0, 8)}.json`, text);
    show("audited");
  }

  function accepted(receipt, body, key) {
    state.pending = null;
    state.receipt = receipt;
    const text = JSON.stringify(receipt);
    const name = `receipt-${state.elector}-r${state.round}`;
    say("cast-result", key, { index: receipt.index, unit: receipt.unit, round: receipt.round });
    $("cast-tracker").textContent = "";
    $("download-receipt").onclick = () => KZ.download(doc, `${name}.json`, text);
    $("download-ballot").hidden = body === null;
    if (body !== null) {
      showTracker($("cast-tracker"), KZ.ballot.tracker(JSON.parse(new TextDecoder().decode(body))));
      $("download-ballot").onclick = () => KZ.download(doc, `${name}.ballot.json`, body);
    }
    $("receipt-link").href = "/receipt?lang=" + KZ.lang;
    const tracker = body === null ? "" : KZ.ballot.tracker(JSON.parse(new TextDecoder().decode(body)));
    $("box-link").href = `/ballots?unit=${encodeURIComponent(receipt.unit)}&round=${receipt.round}` +
      (tracker ? `&tracker=${tracker}` : "") + `&lang=${KZ.lang}`;
    show("done");
    $("cast-result").focus();
  }

  // The answer to the cast was lost, or did not check: the ballot may be in the log. Ask.
  async function findOut(p) {
    show("doubt");
    $("check-again").hidden = true;
    $("encrypt-new").hidden = true;
    say("doubt-status", "doubt_asking", {}, "muted");
    let found;
    try {
      found = await lookUp(`leaf_hash=${C.hex(p.leaf)}`, p.body);
    } catch (e) {
      say("doubt-status", "doubt_unknown", {}, "bad");
      $("check-again").hidden = false;
      $("check-again").onclick = () => findOut(p);
      $("doubt-status").focus();
      return;
    }
    if (found) {
      accepted(found, p.body, "cast_ok_found");
      return;
    }
    say("doubt-status", "doubt_not_cast", {}, "bad");
    $("encrypt-new").hidden = false;
    $("doubt-status").focus();
  }

  async function cast() {
    const p = state.pending;
    if (!p || p.posted) return;
    // from here on the ballot may be in the log: it is never audited
    p.posted = true;
    delete p.nonces;
    $("audit").hidden = true;
    $("change-sealed").hidden = true;
    $("cast").disabled = true;
    const signed = KZ.ballot.signBallot(p.ballot, state.key);
    p.body = C.canonicalBytes(signed);
    p.leaf = KZ.merkle.leafHash(p.body);
    let r;
    let text;
    try {
      r = await root.fetch(api + "/ballots", { method: "POST", headers: { "Content-Type": "application/json" }, body: p.body });
      text = await r.text();
    } catch (e) {
      await findOut(p);
      return;
    } finally {
      $("cast").disabled = false;
    }
    if (r.status === 201 || r.status === 200) {
      try {
        accepted(checkReceipt(JSON.parse(text), p.body), p.body, "cast_ok");
      } catch (e) {
        await findOut(p);
      }
      return;
    }
    let problem = {};
    try { problem = JSON.parse(text); } catch (e) { /* not a problem document */ }
    if (r.status >= 400 && r.status < 500 && problem.check) {
      // refused: the ballot is not in the log
      if (problem.check === "already-voted") {
        const earlier = await lookUp(`elector=${encodeURIComponent(state.elector)}`, null).catch(() => null);
        if (earlier) {
          accepted(earlier, null, "already_voted");
          return;
        }
      }
      state.pending = null;
      show("doubt");
      say("doubt-status", "refused", { why: problem.detail || problem.check }, "bad");
      $("check-again").hidden = true;
      $("encrypt-new").hidden = false;
      $("doubt-status").focus();
      return;
    }
    await findOut(p); // 5xx, a proxy's error page: the ballot may have gone in
  }

  function encryptAfresh() {
    state.pending = null;
    fillCandidates();
    if (state.choice === undefined) show("choose");
    else review();
  }

  async function start() {
    await root.sodium.ready;
    KZ.setupLanguages(doc, () => {
      rerender();
      if (!state.manifest) return;
      showElection();
      fillUnits();
      if (state.unit) {
        fillCandidates();
        say("round-line", "round_line", { unit: local(state.unit.name), round: state.round });
        if (state.pending) $("sealed-choice").textContent = candidateName(state.pending.choice);
        if (state.confirmed !== undefined) $("confirm-choice").textContent = candidateName(state.confirmed);
      }
    });
    $("sign-in").onclick = signIn;
    $("review").onclick = review;
    $("encrypt").onclick = encrypt;
    $("change").onclick = change;
    $("change-sealed").onclick = change;
    $("audit").onclick = audit;
    $("cast").onclick = cast;
    $("encrypt-again").onclick = encryptAfresh;
    $("encrypt-new").onclick = encryptAfresh;
    try {
      if (await loadManifest()) show("identify");
    } catch (e) {
      sayError("error", e);
    }
  }

  start();
})(globalThis);
