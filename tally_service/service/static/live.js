/* Live updates for the public pages, without a framework.
 *
 * Polls the public turnout document with If-None-Match: while nothing new is signed the
 * service answers 304 for almost nothing. When the ETag moves, the page itself is fetched
 * again (it is rendered on the server from the same signed snapshot) and its <main> swapped
 * in. Without JavaScript the page is complete; it only does not refresh itself.
 */
(function () {
  "use strict";
  var body = document.body;
  var period = parseFloat(body.getAttribute("data-poll") || "0") * 1000;
  var url = body.getAttribute("data-turnout");
  var etag = body.getAttribute("data-etag");
  if (!period || !url || !window.fetch) {
    return;
  }

  function swap() {
    return fetch(location.href, { cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var main = document.getElementById("main");
        var next = fresh.getElementById("main");
        if (main && next) {
          main.replaceWith(document.importNode(next, true));
        }
      });
  }

  function poll() {
    fetch(url, { headers: etag ? { "If-None-Match": etag } : {}, cache: "no-store" })
      .then(function (response) {
        var tag = response.headers.get("ETag");
        if (response.status === 200 && tag && tag !== etag) {
          etag = tag;
          return swap();
        }
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { setTimeout(poll, period); });
  }

  setTimeout(poll, period);
})();
