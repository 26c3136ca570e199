/* The clerk page: the token is pasted once and kept in localStorage ("councilcast.clerkToken"),
 * sent as a bearer header; the page lists the rounds, posts the assembly's count (or a
 * recount), issues one-time ballot codes as a printable sheet with QR codes, and opens a
 * recall round against a delegate of the constituency. */
(function () {
  "use strict";
  var KEY = "councilcast.clerkToken", token = localStorage.getItem(KEY), assembly = null;
  var $ = function (s) { return document.querySelector(s); };
  function msg(text, ok) {
    var el = $("[data-clerk-message]");
    el.hidden = !text; el.textContent = text || ""; el.classList.toggle("ok", !!ok);
  }
  function api(method, path, body) {
    return fetch(path, {
      method: method,
      headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) throw new Error((data.error && ((data.error.field ? data.error.field + ": " : "") + data.error.reason)) || r.status);
        return data;
      });
    });
  }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { if (k === "text") e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { e.appendChild(c); });
    return e;
  }
  function roundForm(r) {
    var box = el("div", { "class": "card clerk-round", "data-round-widget": "", "data-round-id": r.id, "data-state": r.state,
                          "data-opens-at": r.opens_at_ts, "data-closes-at": r.closes_at_ts, "data-no-reload": "" });
    box.appendChild(el("h2", { text: r.title }));
    box.appendChild(el("p", {}, [el("strong", { "data-round-state": "", text: r.state }), el("span", { text: " · " }),
                                 el("span", { "data-countdown": "" })]));
    var form = el("form", { "data-tally-form": r.id });
    form.appendChild(el("label", {}, [document.createTextNode("Members present "),
      el("input", { type: "number", min: "0", max: String(assembly.members), name: "present", required: "" })]));
    r.options.forEach(function (o) {
      form.appendChild(el("label", {}, [document.createTextNode(o + " "), el("input", { type: "number", min: "0", name: "opt", "data-option": o, value: "0" })]));
    });
    form.appendChild(el("label", {}, [document.createTextNode("Abstentions "), el("input", { type: "number", min: "0", name: "abstain", value: "0" })]));
    form.appendChild(el("button", { type: "submit", text: "Send our count" }));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var counts = {};
      form.querySelectorAll("[data-option]").forEach(function (i) { counts[i.dataset.option] = parseInt(i.value || "0", 10); });
      api("POST", "/api/rounds/" + r.id + "/tallies", {
        present: parseInt(form.present.value, 10), abstain: parseInt(form.abstain.value || "0", 10), counts: counts
      }).then(function (d) {
        msg("Count " + (d.version > 1 ? "(recount, version " + d.version + ") " : "") + "stored. Receipt: " + d.receipt +
            " (keep it: check it against the published audit record after the close)", true);
      }).catch(function (e) { msg("Refused: " + e.message); });
    });
    box.appendChild(form);
    var codes = el("form", { "data-codes-form": r.id });
    codes.appendChild(el("label", {}, [document.createTextNode("Or let members vote one by one: codes "),
      el("input", { type: "number", min: "1", max: String(assembly.members), name: "count", value: String(Math.min(assembly.members, 50)) })]));
    codes.appendChild(el("button", { type: "submit", "class": "secondary", text: "Print ballot codes" }));
    codes.addEventListener("submit", function (ev) {
      ev.preventDefault();
      api("POST", "/api/rounds/" + r.id + "/ballot-codes", { count: parseInt(codes.count.value, 10), qr: true }).then(function (d) {
        var sheet = $("[data-ballot-sheet]");
        sheet.innerHTML = "";
        sheet.appendChild(el("h2", { text: "Ballot codes: " + r.title }));
        sheet.appendChild(el("p", { text: "One code per member, used once. Scan or open " + location.origin + "/ballot and type the code." }));
        var grid = el("div", { "class": "codes" });
        d.codes.forEach(function (c) {
          var cell = el("div", { "class": "code" });
          var qr = el("div", { "class": "qr" }); qr.innerHTML = c.qr_svg;  // SVG made by the server (segno)
          cell.appendChild(qr); cell.appendChild(el("code", { text: c.code }));
          grid.appendChild(cell);
        });
        sheet.appendChild(grid);
        sheet.hidden = false;
        msg(d.codes.length + " codes issued. Print this page now: the codes are not shown again.", true);
        window.print();
      }).catch(function (e) { msg("Refused: " + e.message); });
    });
    box.appendChild(codes);
    return box;
  }
  function loadRounds() {
    fetch("/api/rounds").then(function (r) { return r.json(); }).then(function (d) {
      var box = $("[data-clerk-rounds]");
      box.innerHTML = "";
      var live = d.rounds.filter(function (r) {
        return (r.state === "open" || r.state === "scheduled") && (!r.assemblies || r.assemblies.indexOf(assembly.id) >= 0);
      });
      if (!live.length) box.appendChild(el("p", { "class": "muted", text: "No round open or scheduled for this assembly." }));
      live.forEach(function (r) { var f = roundForm(r); box.appendChild(f); CouncilRound.mount(f); });
    });
    fetch("/api/delegates").then(function (r) { return r.json(); }).then(function (d) {
      var box = $("[data-clerk-delegates]");
      box.innerHTML = "";
      var mine = d.delegates.filter(function (x) { return x.assemblies.indexOf(assembly.id) >= 0 && x.status === "active"; });
      if (!mine.length) return;
      box.appendChild(el("h2", { text: "Delegates of this constituency" }));
      mine.forEach(function (x) {
        var b = el("button", { type: "button", "class": "secondary", text: "Open a recall round (10 min)" });
        b.addEventListener("click", function () {
          if (!confirm("Open a recall round against " + x.name + "?")) return;
          api("POST", "/api/delegates/" + x.id + "/recall", { duration_s: 600 })
            .then(function () { msg("Recall round opened.", true); loadRounds(); })
            .catch(function (e) { msg("Refused: " + e.message); });
        });
        box.appendChild(el("p", {}, [el("a", { href: "/delegates/" + x.id, text: x.name }), document.createTextNode(" "), b]));
      });
    });
  }
  function login() {
    api("GET", "/api/clerk").then(function (d) {
      assembly = d.assembly;
      $("[data-clerk-login]").hidden = true;
      $("[data-clerk-main]").hidden = false;
      $("[data-clerk-assembly]").textContent = assembly.name;
      $("[data-clerk-members]").textContent = assembly.members;
      loadRounds();
    }).catch(function (e) { msg("Token refused: " + e.message); localStorage.removeItem(KEY); token = null; });
  }
  $("[data-clerk-token-form]").addEventListener("submit", function (ev) {
    ev.preventDefault();
    token = ev.target.token.value.trim();
    localStorage.setItem(KEY, token);
    login();
  });
  $("[data-clerk-forget]").addEventListener("click", function () { localStorage.removeItem(KEY); location.reload(); });
  CouncilRound.mountAll();
  ["round.scheduled", "round.result"].forEach(function (t) { CouncilClock.on(t, function () { if (assembly) loadRounds(); }); });
  if (token) login();
})();
