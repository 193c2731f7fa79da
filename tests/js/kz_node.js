// Loads the vendored libsodium and the pages' modules (tally_service/service/static/js) into Node, as
// the pages load them into a browser: classic scripts that fill the global KZ.
"use strict";
const path = require("path");
const Module = require("module");
const STATIC = path.join(__dirname, "..", "..", "tally_service", "service", "static");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === "libsodium-sumo") return path.join(STATIC, "vendor", "libsodium-sumo.js");
  return resolve.call(this, request, ...rest);
};
const MODULES = ["canonical", "group", "signing", "proofs", "ballot", "credentials", "merkle",
  "note", "checkpoint", "fingerprint", "strings", "receipt"];

async function load() {
  globalThis.sodium = require(path.join(STATIC, "vendor", "libsodium-wrappers.js"));
  await globalThis.sodium.ready;
  for (const m of MODULES) require(path.join(STATIC, "js", m + ".js"));
  return globalThis.KZ;
}

module.exports = { load, MODULES };
