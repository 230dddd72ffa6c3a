// Progressive enhancement only: refreshes a running scan's status, and reloads the page
// when the scan is over. Everything works without it.
(function () {
  "use strict";
  var el = document.getElementById("scan-status");
  if (!el || !el.dataset.refresh) { return; }
  var url = el.dataset.refresh;
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/plain" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) { return; }
        text = text.trim();
        if (text !== el.textContent.trim()) {
          if (text !== "RUNNING" && text !== "QUEUED") { window.location.reload(); return; }
          el.textContent = text;
        }
        window.setTimeout(poll, 3000);
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  window.setTimeout(poll, 3000);
}());
