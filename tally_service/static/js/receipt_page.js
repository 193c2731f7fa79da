/* The receipt page: R1-R7 of scripts/verify_receipt.py, run in the browser (js/receipt.js). */
(function (root) {
  "use strict";
  const KZ = root.KZ;
  const doc = root.document;
  const $ = (id) => doc.getElementById(id);
  let last = null;

  function render() {
    if (!last) return;
    const list = $("checks");
    list.textContent = "";
    for (const item of last.items) {
      const li = doc.createElement("li");
      li.id = "check-" + item.id;
      li.dataset.ok = String(item.ok);
      const mark = item.ok === true ? "PASS" : item.ok === false ? "FAIL" : "----";
      const head = doc.createElement("strong");
      head.className = item.ok === true ? "ok" : item.ok === false ? "bad" : "muted";
      head.textContent = `${item.id} ${mark} `;
      li.appendChild(head);
      li.appendChild(doc.createTextNode(KZ.t(item.id)));
      const detail = doc.createElement("div");
      detail.className = "muted";
      detail.textContent = item.detail || (item.ok === null ? KZ.t("not_reached") : "");
      li.appendChild(detail);
      list.appendChild(li);
    }
    const failed = last.items.filter((i) => i.ok === false).map((i) => i.id);
    $("verdict").textContent = last.ok ? KZ.t(last.void ? "verdict_void" : "verdict_ok") : KZ.t("verdict_bad", { ids: failed.join(", ") });
    $("verdict").className = last.ok ? "ok" : "bad";
    $("result").hidden = false;
  }

  async function check() {
    $("error").textContent = "";
    let text = $("receipt-text").value.trim();
    const file = $("receipt-file").files[0];
    if (file) text = await file.text();
    let receipt;
    try {
      receipt = JSON.parse(text);
    } catch (e) {
      $("error").textContent = "the receipt is not JSON: " + e.message;
      return;
    }
    const ballotFile = $("ballot-file").files[0];
    const opts = { commissionKey: $("commission-key").value.trim().toLowerCase() || undefined };
    if (ballotFile) opts.ballotBytes = new Uint8Array(await ballotFile.arrayBuffer());
    const began = root.performance.now();
    last = await KZ.receipt.checkReceipt(receipt, KZ.receipt.serviceSource($("service").value.trim()), opts);
    const ms = root.performance.now() - began;
    $("timing").textContent = `checked in ${ms.toFixed(0)} ms`;
    $("timing").dataset.ms = ms.toFixed(1);
    render();
  }

  async function start() {
    await root.sodium.ready;
    const params = new URLSearchParams(root.location.search);
    const here = root.location.protocol.startsWith("http") ? root.location.origin : "";
    $("service").value = params.get("service") || here;
    KZ.setupLanguages(doc, render);
    $("check").onclick = () => check().catch((e) => { $("error").textContent = e.message; });
  }

  start();
})(globalThis);
