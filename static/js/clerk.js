/* The clerk page: the token is pasted once and kept in localStorage ("councilcast.clerkToken"),
 * sent as a bearer header; the page lists the rounds, posts the assembly's count (or a
 * recount), issues one-time ballot codes as a printable sheet with QR codes, opens a
 * recall round against a delegate of the constituency, and puts forward candidates for a
 * recalled delegate's successor while nominations are open. */
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
  /* A recalled delegate of the constituency whose successor's election takes candidates: the
   * clerk puts one forward (POST /api/delegates/{id}/successor/candidates). */
  function successorForm(x) {
    fetch("/api/delegates/" + x.id + "/successor").then(function (r) { return r.ok ? r.json() : null; }).then(function (e) {
      if (!e || e.state !== "nominating") return;
      var box = el("div", { "class": "card", "data-successor-election": x.id });
      box.appendChild(el("h2", {}, [document.createTextNode("Successor to "), el("a", { href: "/delegates/" + x.id, text: x.name })]));
      box.appendChild(el("p", { text: "Nominations are open until " + e.nominations_close.slice(0, 16).replace("T", " ") +
        " UTC; then the constituency votes among the candidates (simple majority of votes cast, a runoff between the first two)." }));
      var list = el("ul", { "data-candidates": "" });
      e.candidates.forEach(function (c) { list.appendChild(el("li", { text: c.name + " (put forward by " + (c.assembly_name || c.assembly) + ")" })); });
      if (!e.candidates.length) list.appendChild(el("li", { "class": "muted", text: "No candidate yet." }));
      box.appendChild(list);
      var form = el("form", { "data-nominate-form": x.id });
      form.appendChild(el("label", {}, [document.createTextNode("Candidate's name "),
        el("input", { type: "text", name: "candidate", required: "", maxlength: "100", autocomplete: "off" })]));
      form.appendChild(el("button", { type: "submit", text: "Put forward" }));
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var name = form.candidate.value.trim();
        api("POST", "/api/delegates/" + x.id + "/successor/candidates", { name: name })
          .then(function () { msg(name + " is a candidate to succeed " + x.name + ".", true); loadRounds(); })
          .catch(function (err) { msg("Refused: " + err.message); });
      });
      box.appendChild(form);
      var host = $("[data-clerk-delegates]"), old = host.querySelector('[data-successor-election="' + x.id + '"]');
      if (old) old.remove();
      host.insertBefore(box, host.firstChild);
    });
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
    Promise.all([fetch("/api/delegates").then(function (r) { return r.json(); }),
                 fetch("/api/rounds").then(function (r) { return r.json(); })]).then(function (got) {
      var d = got[0], rounds = got[1].rounds;
      var box = $("[data-clerk-delegates]");
      box.innerHTML = "";
      var ours = d.delegates.filter(function (x) { return x.assemblies.indexOf(assembly.id) >= 0; });
      var mine = ours.filter(function (x) { return x.status === "active"; });
      ours.filter(function (x) { return x.status === "recalled"; }).forEach(successorForm);
      if (!mine.length) return;
      box.appendChild(el("h2", { text: "Delegates of this constituency" }));
      mine.forEach(function (x) {
        var scheduled = rounds.filter(function (r) { return r.kind === "recall" && r.subject === x.id && r.state === "scheduled"; })[0];
        var ask = function (body, question) {
          if (!confirm(question)) return;
          api("POST", "/api/delegates/" + x.id + "/recall", body).then(function (r) {
            var when = r.opens_at.slice(0, 16).replace("T", " ") + " UTC";
            msg(r.request === "joined" ? "Your assembly joined the recall of " + x.name + " scheduled for " + when + "." :
                r.request === "brought_forward" ? "The recall of " + x.name + " is brought forward: it is open now." :
                "Recall round opened: it passes with a majority of votes cast and " + Math.round(r.quorum * 100) +
                "% of the constituency's registered members present.", true);
            loadRounds();
          }).catch(function (e) { msg("Refused: " + e.message); });
        };
        var line = el("p", { "data-recall-delegate": x.id }, [el("a", { href: "/delegates/" + x.id, text: x.name }), document.createTextNode(" ")]);
        var b = el("button", { type: "button", "class": "secondary",
                               text: scheduled ? "Join the recall scheduled for " + scheduled.opens_at.slice(0, 16).replace("T", " ") + " UTC" : "Open a recall round (10 min)" });
        b.addEventListener("click", function () {
          ask({ duration_s: 600 }, scheduled ? "Join the recall of " + x.name + "?" : "Open a recall round against " + x.name + "?");
        });
        line.appendChild(b);
        if (scheduled) {
          var f = el("button", { type: "button", "class": "secondary", "data-recall-now": "", text: "Bring it forward to now" });
          f.addEventListener("click", function () { ask({ now: true }, "Open the recall of " + x.name + " now?"); });
          line.appendChild(document.createTextNode(" "));
          line.appendChild(f);
        }
        box.appendChild(line);
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
  ["round.scheduled", "round.result", "election.updated", "election.candidate"].forEach(function (t) { CouncilClock.on(t, function () { if (assembly) loadRounds(); }); });
  if (token) login();
})();
