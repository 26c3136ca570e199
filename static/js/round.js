/* Round state and synchronized countdown. Needs clock.js.
 *
 * Markup: <div data-round-widget data-round-id=ID data-state=S data-opens-at=SECONDS
 *              data-closes-at=SECONDS> with children [data-round-state], [data-countdown].
 * CouncilRound.mountAll() mounts every widget; CouncilRound.mount(el) one (the live page
 * embeds it the same way). Times come from the server and are shown on the synced clock,
 * so every screen shows the same countdown. On round.result the page reloads to show it.
 */
(function () {
  "use strict";
  function fmt(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000)), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
    return (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (r < 10 ? "0" : "") + r;
  }
  function mount(el) {
    var id = el.dataset.roundId, opens = parseFloat(el.dataset.opensAt) * 1000,
        closes = parseFloat(el.dataset.closesAt) * 1000, state = el.dataset.state;
    var stateEl = el.querySelector("[data-round-state]"), cd = el.querySelector("[data-countdown]");
    function setState(s) { state = s; el.dataset.state = s; if (stateEl) stateEl.textContent = s; }
    function tick() {
      var now = CouncilClock.now();
      if (state === "scheduled" && now >= opens) setState("open");
      if (state === "open" && now >= closes) setState("closed");
      if (!cd) return;
      if (state === "scheduled") cd.textContent = "Opens in " + fmt(opens - now);
      else if (state === "open") cd.textContent = "Closes in " + fmt(closes - now);
      else if (state === "closed") cd.textContent = "Closed. Counting…";
      else cd.textContent = "Result published";
    }
    CouncilClock.on("round.opened", function (m) { if (m.round.id === id) { closes = m.round.closes_at_ts * 1000; setState("open"); } });
    CouncilClock.on("round.closed", function (m) { if (m.id === id) { setState("closed"); tick(); } });
    var anchorEl = el.querySelector("[data-round-anchor]"), anchorAt = el.querySelector("[data-round-anchor-at]");
    CouncilClock.on("round.anchor", function (m) {
      if (m.round !== id) return;
      if (anchorEl) anchorEl.textContent = m.anchor.slice(0, 16);
      if (anchorAt) anchorAt.textContent = new Date(m.at * 1000).toISOString().slice(0, 19) + "Z";
      try {  // kept on this screen: the anchors it saw, for verify-round --kept
        var key = "councilcast.anchors." + id, kept = JSON.parse(localStorage.getItem(key) || "[]");
        if (kept.indexOf(m.anchor) < 0) { kept.push(m.anchor); localStorage.setItem(key, JSON.stringify(kept)); }
      } catch (e) { /* private mode: the page still shows the latest */ }
    });
    CouncilClock.on("round.result", function (m) {
      if (m.id === id) { setState("published"); tick(); if (el.dataset.noReload === undefined) location.reload(); }
    });
    tick();
    setInterval(tick, 200);
    return { tick: tick, state: function () { return state; } };
  }
  function status() {
    var els = document.querySelectorAll("[data-clock-status]"), clocks = document.querySelectorAll("[data-server-clock]");
    CouncilClock.on("sync", function (s) {
      els.forEach(function (e) { e.textContent = "(clock synced: offset " + s.offset.toFixed(1) + " ms, round trip " + s.rtt.toFixed(1) + " ms)"; });
    });
    setInterval(function () {
      var t = new Date(CouncilClock.now()).toISOString().slice(11, 19) + " UTC";
      clocks.forEach(function (e) { e.textContent = t; });
    }, 250);
  }
  window.CouncilRound = {
    mount: mount,
    fmt: fmt,
    mountAll: function () {
      CouncilClock.start();
      status();
      document.querySelectorAll("[data-round-widget]").forEach(mount);
    },
    watchList: function () {
      CouncilClock.start();
      status();
      ["round.scheduled", "round.opened", "round.closed", "round.result"].forEach(function (t) {
        CouncilClock.on(t, function () { setTimeout(function () { location.reload(); }, 300); });
      });
    }
  };
})();
