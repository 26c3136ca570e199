/* The session page's actions. The chair (the secretariat's token, kept by the console in
 * localStorage "councilcast.secretariat.token") sees buttons to open, adjourn and close the
 * session, start and end items, give the floor and end a turn. A linked assembly (its clerk's
 * token, kept by the clerk page in "councilcast.clerkToken") or a delegate (a token pasted
 * here, "councilcast.askToken") asks for the floor and may withdraw its own request (its entry
 * id is kept in "councilcast.floor.<session>"). Every action is one API call; the page then
 * reloads on the /ws event that the change sends (session.js). */
(function () {
  "use strict";
  var root = document.querySelector("[data-session-page]");
  if (!root) return;
  var sid = root.dataset.sessionId;
  var CHAIR = "councilcast.secretariat.token", CLERK = "councilcast.clerkToken", ASK = "councilcast.askToken";
  var MINE = "councilcast.floor." + sid;
  function $(s) { return root.querySelector(s); }
  function all(s) { return Array.prototype.slice.call(root.querySelectorAll(s)); }
  function msg(text, ok) {
    var el = $("[data-session-message]");
    el.hidden = !text; el.textContent = text || ""; el.className = ok ? "notice ok" : "notice";
  }
  function call(token, method, path, body) {
    return fetch("/api/sessions/" + encodeURIComponent(sid) + path, {
      method: method,
      headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var e = data.error || {};
          throw new Error((e.field ? e.field + ": " : "") + (e.reason || ("HTTP " + r.status)));
        }
        return data;
      });
    });
  }
  function busy(button, promise) {
    button.disabled = true;
    promise.catch(function (e) { msg(e.message); }).then(function () { button.disabled = false; });
  }

  // -- the chair --------------------------------------------------------------------------
  var chair = localStorage.getItem(CHAIR);
  if (chair) all("[data-chair]").forEach(function (e) { e.hidden = false; });
  all("[data-act]").forEach(function (b) {
    b.addEventListener("click", function () {
      if (b.dataset.confirm && !window.confirm(b.dataset.confirm)) return;
      busy(b, call(chair, "POST", "/" + b.dataset.act));
    });
  });
  all("[data-item-act]").forEach(function (b) {
    b.addEventListener("click", function () {
      busy(b, call(chair, "POST", "/items/" + encodeURIComponent(b.dataset.item) + "/" + b.dataset.itemAct));
    });
  });
  all("[data-speaker-act]").forEach(function (b) {
    b.addEventListener("click", function () {
      var spid = encodeURIComponent(b.dataset.speaker), act = b.dataset.speakerAct;
      if (act === "grant") {
        var input = root.querySelector("[data-seconds-for='" + b.dataset.speaker + "']");
        busy(b, call(chair, "POST", "/speakers/" + spid + "/grant", { seconds: Number(input.value) }));
      } else if (act === "done") {
        busy(b, call(chair, "POST", "/speakers/" + spid + "/done"));
      } else if (act === "withdraw") {
        busy(b, call(chair, "DELETE", "/speakers/" + spid));
      } else if (act === "withdraw-mine") {
        busy(b, call(asker(), "DELETE", "/speakers/" + spid).then(function () { localStorage.removeItem(MINE); }));
      }
    });
  });

  // -- asking for the floor ---------------------------------------------------------------
  function asker() { return localStorage.getItem(ASK) || localStorage.getItem(CLERK); }
  var box = $("[data-ask-floor]");
  var mine = localStorage.getItem(MINE);
  var mineEntry = mine && root.querySelector("[data-mine='" + mine + "']");
  if (mineEntry) mineEntry.hidden = false;
  if (!box) return;
  function showAsk() {
    var token = asker();
    $("[data-ask-with]").hidden = !token;
    $("[data-ask-token]").hidden = !!token;
    $("[data-ask-who]").textContent = localStorage.getItem(ASK) ? "with the token you gave here"
                                                                 : "with the clerk's token kept by this browser";
    var waiting = mine && root.querySelector("[data-speaker-id='" + mine + "']");
    if (waiting) {
      $("[data-ask]").disabled = true;
      $("[data-ask-who]").textContent = root.querySelector(".floor[data-speaker-id='" + mine + "']")
        ? "You have the floor." : "You are on the speakers' list.";
    }
  }
  function ask(button) {
    busy(button, call(asker(), "POST", "/speakers", {}).then(function (d) {
      localStorage.setItem(MINE, d.id);
      msg("You are no. " + d.position + " on the speakers' list.", true);
    }));
  }
  $("[data-ask]").addEventListener("click", function (ev) { ask(ev.target); });
  $("[data-forget-ask]").addEventListener("click", function () { localStorage.removeItem(ASK); showAsk();
    $("[data-ask-token]").hidden = false; $("[data-ask-with]").hidden = true; });
  $("[data-ask-token]").addEventListener("submit", function (ev) {
    ev.preventDefault();
    localStorage.setItem(ASK, ev.target.elements.token.value.trim());
    ev.target.reset();
    showAsk();
    ask(ev.target.querySelector("button"));
  });
  showAsk();
})();
