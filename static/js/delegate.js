/* The delegate's page: with the delegate's token (pasted once, kept in localStorage
 * "councilcast.delegateToken"), the open roll calls show a button per option; a vote is one
 * POST /api/rollcalls/{id}/votes, then the page reloads to show it on record. */
(function () {
  "use strict";
  var root = document.querySelector("[data-delegate-page]");
  if (!root) return;
  var KEY = "councilcast.delegateToken";
  function $(s) { return root.querySelector(s); }
  function msg(text, ok) {
    var el = $("[data-delegate-message]");
    if (!el) return;
    el.hidden = !text; el.textContent = text || ""; el.className = ok ? "notice ok" : "notice";
  }
  function show() {
    var token = localStorage.getItem(KEY);
    root.querySelectorAll("[data-delegate-only]").forEach(function (e) { e.hidden = !token; });
    var form = $("[data-delegate-token]"), who = $("[data-delegate-who]");
    if (form) form.hidden = !!token;
    if (who) who.hidden = !token;
  }
  root.querySelectorAll("[data-vote]").forEach(function (b) {
    b.addEventListener("click", function () {
      var rc = b.closest("[data-rollcall]").dataset.rollcall;
      b.disabled = true;
      fetch("/api/rollcalls/" + encodeURIComponent(rc) + "/votes", {
        method: "POST",
        headers: { "Authorization": "Bearer " + localStorage.getItem(KEY), "Content-Type": "application/json" },
        body: JSON.stringify({ choice: b.dataset.vote })
      }).then(function (r) {
        return r.json().then(function (d) {
          if (!r.ok) throw new Error((d.error && ((d.error.field ? d.error.field + ": " : "") + d.error.reason)) || r.status);
          location.reload();
        });
      }).catch(function (e) { msg("Refused: " + e.message); b.disabled = false; });
    });
  });
  var form = $("[data-delegate-token]");
  if (form) form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    localStorage.setItem(KEY, ev.target.elements.token.value.trim());
    ev.target.reset();
    show();
  });
  var forget = $("[data-delegate-forget]");
  if (forget) forget.addEventListener("click", function () { localStorage.removeItem(KEY); show(); });
  show();
})();

/* Giving a mandate from the delegate's page: with the clerk's token kept by the clerk page
 * ("councilcast.clerkToken"), for an assembly of this delegate's constituency, each item still
 * to come has a form; one POST /api/delegates/{id}/mandates records (or replaces) it. */
(function () {
  "use strict";
  var root = document.querySelector("[data-delegate-page]");
  var panel = root && root.querySelector("[data-mandate-panel]");
  var token = localStorage.getItem("councilcast.clerkToken");
  if (!panel || !token) return;
  var did = root.dataset.delegateId;
  function msg(text, ok) {
    var el = panel.querySelector("[data-mandate-message]");
    el.hidden = !text; el.textContent = text; el.className = ok ? "notice ok" : "notice";
  }
  fetch("/api/clerk", { headers: { "Authorization": "Bearer " + token } }).then(function (r) {
    return r.ok ? r.json() : null;
  }).then(function (d) {
    if (!d) return;
    panel.querySelector("[data-mandate-login]").textContent = "As the clerk of " + d.assembly.name + ":";
    panel.querySelectorAll("[data-mandate-form]").forEach(function (f) {
      f.hidden = false;
      f.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var choice = f.elements.choice.value, text = f.elements.text.value.trim(), body = { item: f.dataset.item };
        if (choice.indexOf("option:") === 0) { body.kind = "option"; body.option = choice.slice(7); }
        else body.kind = choice;
        if (text) body.text = text;
        fetch("/api/delegates/" + encodeURIComponent(did) + "/mandates", {
          method: "POST", headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
          body: JSON.stringify(body)
        }).then(function (r) { return r.json().then(function (x) {
          if (!r.ok) throw new Error((x.error && ((x.error.field ? x.error.field + ": " : "") + x.error.reason)) || r.status);
          location.reload();
        }); }).catch(function (e) { msg("Refused: " + e.message); });
      });
    });
  });
})();
