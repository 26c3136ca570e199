/* The recordings list: while a recording is being written, its length and size grow on the
 * page (polled from /api/recordings every 3 s); once it is stored, its row says so. */
(function () {
  "use strict";
  var table = document.querySelector("[data-recordings]");
  if (!table || !table.querySelector("[data-in-progress]")) return;

  function length(s) {
    var a = Math.max(0, Math.floor(s)), m = Math.floor(a / 60), r = a % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }

  function update(list) {
    var byId = {};
    list.forEach(function (r) { byId[r.id] = r; });
    Array.prototype.forEach.call(table.querySelectorAll("[data-in-progress]"), function (tr) {
      var r = byId[tr.dataset.recording];
      if (!r) return;  // stored under another id, or deleted: leave the row as it was
      var len = tr.querySelector("[data-length]");
      len.textContent = "";
      if (r.in_progress) {
        var now = document.createElement("span");
        now.className = "bc-rec-now";
        now.textContent = "recording now";
        len.appendChild(now);
        len.appendChild(document.createTextNode(" "));
      } else {
        tr.removeAttribute("data-in-progress");
        tr.classList.remove("bc-recording-live");
      }
      len.appendChild(document.createTextNode(length(r.duration_s)));
      tr.querySelector("[data-size]").textContent = (r.bytes / 1048576).toFixed(1) + " MiB";
    });
  }

  var timer = setInterval(function () {
    if (!table.querySelector("[data-in-progress]")) { clearInterval(timer); return; }
    fetch("/api/recordings", {headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { if (body) update(body.recordings); })
      .catch(function () { /* the next poll tries again */ });
  }, 3000);
})();
