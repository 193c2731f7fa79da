/* The receipt page: R1-R7 of scripts/verify_receipt.py, run in the browser (js/receipt.js).
 * Three verdicts, as the CLI gives them: PASS, FAIL, and PENDING (normal until the round
 * closes: what was checked, what remains, when to check again). Served by the service, the
 * page trusts the commission keys written into it at the seal; opened from disk, the elector
 * may type the commission-key fingerprint from the envelope. */
(function (root) {
  "use strict";
  const KZ = root.KZ;
  const doc = root.document;
  const $ = (id) => doc.getElementById(id);
  let last = null;
  let error = null;

  function render() {
    $("error").textContent = error ? KZ.t(error.key, error.args) : "";
    if (!last) return;
    const list = $("checks");
    list.textContent = "";
    for (const item of last.items) {
      const li = doc.createElement("li");
      li.id = "check-" + item.id;
      li.dataset.ok = String(item.ok);
      li.dataset.pending = String(item.pending);
      const mark = item.pending ? KZ.t("mark_wait") : item.ok === true ? "PASS" : item.ok === false ? "FAIL" : "----";
      const head = doc.createElement("strong");
      head.className = item.pending ? "wait" : item.ok === true ? "ok" : item.ok === false ? "bad" : "muted";
      head.textContent = `${item.id} ${mark} `;
      li.appendChild(head);
      li.appendChild(doc.createTextNode(KZ.t(item.id)));
      const detail = doc.createElement("div");
      detail.className = "muted";
      detail.textContent = item.said.length ? item.said.map(([k, a]) => KZ.t(k, a)).join("")
        : (item.ok === null && !item.pending ? KZ.t("not_reached") : "");
      li.appendChild(detail);
      list.appendChild(li);
    }
    const failed = last.items.filter((i) => i.ok === false).map((i) => i.id);
    const waiting = last.items.filter((i) => i.pending).map((i) => i.id);
    const verdict = $("verdict");
    verdict.dataset.state = last.state;
    if (last.state === "pass") verdict.textContent = KZ.t(last.void ? "verdict_void" : "verdict_ok");
    else if (last.state === "pending") verdict.textContent = KZ.t("verdict_pending", { ids: waiting.join(", ") });
    else verdict.textContent = KZ.t("verdict_bad", { ids: failed.join(", ") });
    verdict.className = { pass: "ok", pending: "wait", fail: "bad" }[last.state];
    const fp = last.fingerprints;
    $("fingerprints").hidden = !fp;
    if (fp) {
      $("election-fingerprint").textContent = fp.election;
      $("key-fingerprint").textContent = fp.key;
    }
    const link = $("box-link");
    link.hidden = !last.entry || !$("service").value;
    if (last.entry) {
      const e = last.entry;
      link.href = `${$("service").value.replace(/\/+$/, "")}/ballots?unit=${encodeURIComponent(e.unit)}` +
        `&round=${e.round}&tracker=${e.tracker}&lang=${KZ.lang}`;
    }
    $("left-out").textContent = last.witnesses ? KZ.t("left_out_witnesses", { n: last.witnesses }) : KZ.t("left_out_none");
    $("timing").textContent = KZ.t("checked_in", { ms: Number($("timing").dataset.ms).toFixed(0) });
    $("result").hidden = false;
  }

  async function check() {
    error = null;
    render();
    let text = $("receipt-text").value.trim();
    const file = $("receipt-file").files[0];
    if (file) text = await file.text();
    let receipt;
    try {
      receipt = JSON.parse(text);
    } catch (e) {
      error = { key: "receipt_not_json", args: { why: e.message } };
      render();
      $("error").focus();
      return;
    }
    const meta = doc.querySelector("meta[name=kz-commission-keys]");
    const sealed = (meta ? meta.content : "").split(",").map((k) => k.trim()).filter(Boolean);
    const opts = sealed.length ? { commissionKeys: sealed }
      : { commissionKey: $("commission-key").value.trim().toLowerCase() || undefined };
    const ballotFile = $("ballot-file").files[0];
    if (ballotFile) opts.ballotBytes = new Uint8Array(await ballotFile.arrayBuffer());
    const began = root.performance.now();
    last = await KZ.receipt.checkReceipt(receipt, KZ.receipt.serviceSource($("service").value.trim()), opts);
    const ms = root.performance.now() - began;
    $("timing").dataset.ms = ms.toFixed(1);
    render();
    $("verdict").focus();
  }

  async function start() {
    await root.sodium.ready;
    const params = new URLSearchParams(root.location.search);
    const here = root.location.protocol.startsWith("http") ? root.location.origin : "";
    $("service").value = params.get("service") || here;
    const meta = doc.querySelector("meta[name=kz-commission-keys]");
    if (meta && meta.content) $("pin").hidden = true; // served: the sealed keys are pinned
    KZ.setupLanguages(doc, render);
    $("check").onclick = () => check().catch((e) => {
      error = { key: "unexpected", args: { why: e.message } };
      render();
    });
  }

  start();
})(globalThis);
