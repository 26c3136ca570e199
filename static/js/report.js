/* The report-back sheet: with the delegate's token kept by their page ("councilcast.delegateToken"),
 * a button records that the sheet was reported at the meeting; the next sheet starts there. */
(function () {
  "use strict";
  var b = document.querySelector("[data-report-reported]");
  var token = localStorage.getItem("councilcast.delegateToken");
  if (!b || !token) return;
  b.hidden = false;
  b.addEventListener("click", function () {
    b.disabled = true;
    fetch("/api/delegates/" + encodeURIComponent(b.dataset.delegate) + "/report/reported?since=" +
          encodeURIComponent(b.dataset.since), { method: "POST", headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
            body: JSON.stringify({ hash: b.dataset.hash }) })
      .then(function (r) { return r.json().then(function (d) {
        if (!r.ok) throw new Error((d.error && d.error.reason) || r.status);
        document.querySelector("[data-report-message]").textContent = "Recorded: the next sheet starts from now.";
      }); })
      .catch(function (e) { document.querySelector("[data-report-message]").textContent = "Refused: " + e.message;
                            b.disabled = false; });
  });
})();
