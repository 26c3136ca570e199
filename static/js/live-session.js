/* The session beside the picture: the live session of this page's channel, its current item,
 * who has the floor and their time, counted down from the server clock (overtime past zero).
 * Fed by /ws: the hello carries the live sessions, every session event the whole session. */
(function () {
  "use strict";
  var box = document.querySelector("[data-live-session]");
  if (!box) return;
  var channel = box.dataset.channel, sessions = {}, floor = null;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function fmt(s) {
    var a = Math.abs(Math.round(s)), m = Math.floor(a / 60), r = a % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }
  function render() {
    var live = Object.keys(sessions).map(function (k) { return sessions[k]; }).filter(function (s) {
      return s.channel === channel && (s.state === "open" || s.state === "adjourned");
    });
    box.textContent = "";
    floor = null;
    if (!live.length) { box.appendChild(el("p", "No session in progress on this channel.", "muted")); return; }
    var s = live[0];
    var h = el("h2", s.title, "live-session-title");
    box.appendChild(h);
    box.appendChild(el("p", s.state === "adjourned" ? "Adjourned" : "In session", "live-session-state"));
    if (s.current_item) {
      box.appendChild(el("p", "Now: " + s.current_item.title, "live-session-item"));
      if (s.current_item.outcome) box.appendChild(el("p", s.current_item.outcome.text, "live-session-outcome"));
    }
    var speaking = (s.speakers || []).filter(function (p) { return p.state === "speaking"; })[0];
    if (speaking) {
      box.appendChild(el("p", speaking.who.name + " has the floor", "live-session-speaker"));
      floor = { ends: speaking.ends_at_ts * 1000, node: box.appendChild(el("p", "", "live-session-time")) };
      floor.node.dataset.endsAt = speaking.ends_at_ts;  // the server's instant, for anyone checking the time shown
      tick();
    }
    var waiting = (s.speakers || []).filter(function (p) { return p.state === "waiting"; });
    if (waiting.length) box.appendChild(el("p", "Next: " + waiting.map(function (p) { return p.who.name; }).join(", "),
                                           "muted live-session-next"));
  }
  function tick() {
    if (!floor) return;
    var left = (floor.ends - CouncilClock.now()) / 1000;
    floor.node.textContent = left >= 0 ? fmt(left) + " left" : "overtime +" + fmt(-left);
    floor.node.classList.toggle("overtime", left < 0);
  }
  CouncilClock.start();
  CouncilClock.on("hello", function (m) {
    (m.sessions || []).forEach(function (s) { sessions[s.id] = s; });
    render();
  });
  ["session.opened", "session.adjourned", "session.closed", "agenda.changed", "item.started", "item.ended",
   "item.runoff", "item.outcome", "speakers.changed", "floor.granted", "floor.ended"].forEach(function (t) {
    CouncilClock.on(t, function (m) { if (m.session) { sessions[m.session.id] = m.session; render(); } });
  });
  setInterval(tick, 200);
})();
