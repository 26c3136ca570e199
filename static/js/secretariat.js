// The secretariat console: each <form data-api=... data-method=...> becomes one API call.
// Fields marked data-path fill {placeholders} in the URL; data-type says how to encode
// the others (int, number, lines = a list of non-empty lines); empty fields are left out.
(function () {
  "use strict";
  const KEY = "councilcast.secretariat.token";
  const answer = document.getElementById("answer");
  const tokenState = document.getElementById("token-state");

  function token() { return localStorage.getItem(KEY) || ""; }

  // The answer as a person reads it: what was done, or what was refused and why; the raw
  // JSON stays one click away (#answer, in a <details>).
  const answerText = document.getElementById("answer-text");
  function describe(status, d) {
    if (!d) return "Answer " + status + ".";
    if (d.error) return "Refused (" + status + "): " + (d.error.field ? d.error.field + ": " : "") + d.error.reason + ".";
    if (d.token && d.assemblies) return "Delegate " + d.name + " registered (" + d.id + "). Their token, shown once: " + d.token;
    if (d.token && d.id && d.id.startsWith("d-")) return "New token of delegate " + d.name + " (" + d.id + "), shown once; the earlier one no longer works: " + d.token;
    if (d.token && d.name) return d.name + " registered (" + d.id + "). The clerk's token, shown once: " + d.token;
    if (d.token) return "New token, shown once: " + d.token;
    if (d.seats && d.candidates) {
      if (d.result && d.result.elected) return "Elected to the Central Council: " + d.result.elected.map((e) => e.name || e.delegate || e).join(", ") + ".";
      return "Election " + d.id + " open: " + d.seats + " seats, " + d.candidates.length + " candidates.";
    }
    if (d.votes && d.options) return "Roll call " + d.id + " (" + d.title + ")" + (d.closed_at ? " closed: " : " open, options ") +
      d.options.join(", ") + (d.closed_at ? " — " + Object.entries(d.totals || {}).map(([o, n]) => o + " " + n).join(", ") : "") + ".";
    if (d.agenda) return "Session " + d.id + " (" + d.title + ") is " + d.state + "; agenda of " + d.agenda.length + " items.";
    if (d.kind && d.title && d.state && d.id && d.id.startsWith("i-")) return "Item " + d.id + " added: " + d.title + " (" + d.kind + ").";
    if (d.opens_at && d.closes_at) return "Round " + d.id + " (" + d.title + "): " + d.state + ", closes " + d.closes_at.replace("T", " ").slice(0, 19) + " UTC.";
    if (d.id && d.title) return "Done: " + d.title + " (" + d.id + ").";
    return "Done (" + status + ").";
  }
  function say(status, data, note) { answerText.textContent = describe(status, data) + (note || ""); }
  function showTokenState() {
    tokenState.textContent = token() ? "A token is kept in this browser." : "No token yet: paste it above.";
  }

  function encode(form) {
    let url = form.dataset.api;
    const body = {};
    for (const el of form.elements) {
      if (!el.name || el.type === "submit" || el.type === "button") continue;
      const raw = el.value.trim();
      if ("path" in el.dataset) { url = url.replace("{" + el.name + "}", encodeURIComponent(raw)); continue; }
      if (raw === "") continue;
      const t = el.dataset.type;
      if (t === "int") body[el.name] = parseInt(raw, 10);
      else if (t === "number") body[el.name] = Number(raw);
      else if (t === "lines") body[el.name] = raw.split("\n").map((s) => s.trim()).filter(Boolean);
      else body[el.name] = raw;
    }
    return { url, body };
  }

  async function call(method, url, body) {
    const headers = { Authorization: "Bearer " + token() };
    const init = { method, headers };
    if (body && Object.keys(body).length) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(url, init);
    const text = await r.text();
    let shown = text, data = null;
    try { data = JSON.parse(text); shown = JSON.stringify(data, null, 2); } catch (e) { /* not JSON */ }
    return { status: r.status, shown, data };
  }

  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    localStorage.setItem(KEY, ev.target.elements.token.value.trim());
    ev.target.reset();
    showTokenState();
    refresh();
  });
  document.getElementById("forget-token").addEventListener("click", () => {
    localStorage.removeItem(KEY);
    showTokenState();
    refresh();
  });

  // data-confirm: ask first; data-keep-token: the answer's token replaces the kept one
  // (rotating the secretariat's token revokes the one this console was using).
  for (const form of document.querySelectorAll("form[data-api]")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
      const { url, body } = encode(form);
      answer.textContent = "…";
      try {
        const { status, shown, data } = await call(form.dataset.method || "POST", url, body);
        let note = "";
        if ("keepToken" in form.dataset && status === 201 && data && data.token) {
          localStorage.setItem(KEY, data.token);
          showTokenState();
          note = "\nThe new token is kept in this browser; the old one no longer works. Write the new one down.";
        }
        answer.textContent = form.dataset.method + " " + url + " → " + status + note + "\n" + shown;
        say(status, data, note);
      } catch (e) {
        answer.textContent = "network error: " + e;
        answerText.textContent = "The server could not be reached: " + e;
      }
      refresh();
    });
  }

  // A round whose options are the names of the latest published variants (A, B, C...),
  // so the vote refers to published, hashed variants and to nothing typed by hand.
  const voteForm = document.getElementById("vote-on-variants");
  if (voteForm) voteForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await fetch("/api/plan/variant-sets/latest");
    if (!r.ok) {
      answer.textContent = "no published variants yet (" + r.status + ")";
      answerText.textContent = "The plan factory has published no variants yet.";
      return;
    }
    const set = await r.json();
    const names = (set.variants || []).map((v) => "Variant " + v.name);
    const body = {
      title: "Plan: which variant? (inputs " + String(set.input_hash || "").replace("sha256:", "").slice(0, 8) + ")",
      options: names,
      duration_s: Number(voteForm.elements.duration_s.value),
    };
    const { status, shown, data } = await call("POST", "/api/rounds", body);
    answer.textContent = "POST /api/rounds → " + status + "\n" + shown;
    say(status, data);
    refresh();
  });

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      cells.forEach((c, i) => {
        const td = document.createElement("td");
        td.textContent = c;
        if (i === 2) td.className = "num";
        tr.appendChild(td);
      });
      return tr;
    }));
  }

  // The live secretariat and studio tokens (never the tokens themselves); needs the token.
  async function refreshTokens() {
    const tbody = document.querySelector("#tokens tbody");
    if (!tbody) return;
    if (!token()) { tbody.replaceChildren(); return; }
    const r = await fetch("/api/tokens", { headers: { Authorization: "Bearer " + token() } });
    if (!r.ok) { tbody.replaceChildren(); return; }
    const list = (await r.json()).tokens || [];
    tbody.replaceChildren(...list.map((t) => {
      const tr = document.createElement("tr");
      tr.dataset.role = t.role;
      tr.dataset.channel = t.channel || "";
      const since = new Date(t.created_at * 1000).toISOString().replace("T", " ").slice(0, 16);
      const who = t.channel ? t.role + " for " + t.channel : t.role;
      for (const c of [who, t.label || "", since]) {
        const td = document.createElement("td");
        td.textContent = c;
        tr.appendChild(td);
      }
      return tr;
    }));
  }

  async function refresh() {
    try { await refreshTokens(); } catch (e) { /* keep the last table */ }
    try {
      const ch = await (await fetch("/api/channels")).json();
      const list = Array.isArray(ch) ? ch : ch.channels || [];
      fill(document.querySelector("#channels tbody"),
           list.map((c) => [c.name, c.state, String(c.viewers ?? "")]));
    } catch (e) { /* broadcast area absent */ }
    try {
      const ss = (await (await fetch("/api/sessions")).json()).sessions || [];
      document.querySelector("#sessions tbody").replaceChildren(...ss.slice(0, 10).map((x) => {
        const tr = document.createElement("tr");
        tr.dataset.sessionId = x.id;
        const a = document.createElement("a");
        a.href = "/sessions/" + encodeURIComponent(x.id);
        a.textContent = x.title;
        const first = document.createElement("td");
        first.append(a, " ", Object.assign(document.createElement("code"), { textContent: x.id }));
        const state = document.createElement("td"), when = document.createElement("td");
        state.textContent = x.state;
        when.textContent = (x.starts_at || "").replace("T", " ").slice(0, 16);
        tr.append(first, state, when);
        return tr;
      }));
    } catch (e) { /* sessions area absent */ }
    try {
      const rs = await (await fetch("/api/rounds")).json();
      const list = Array.isArray(rs) ? rs : rs.rounds || [];
      fill(document.querySelector("#rounds tbody"),
           list.slice(0, 10).map((r) => [r.id + " " + (r.title || ""), r.state,
                                          (r.closes_at || "").replace("T", " ").slice(0, 19)]));
    } catch (e) { /* voting area absent */ }
  }

  showTokenState();
  refresh();
  setInterval(refresh, 5000);
})();
