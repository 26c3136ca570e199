/* The current voting round beside the live picture. Needs clock.js and round.js.
 *
 * It shows the round that is open (else the next scheduled one, else the last result),
 * with the same server-clock countdown as every other screen; it follows the round
 * events on /ws and shows the totals only once the result is published (the server
 * sends none before).
 */
(function () {
  "use strict";
  var box = document.querySelector("[data-live-round]");
  if (!box) return;
  var current = null;
  var RANK = { open: 0, scheduled: 1, closed: 2, published: 3 };

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function pick(rounds) {
    var best = null;
    rounds.forEach(function (r) {
      if (!(r.state in RANK)) return;
      if (!best || RANK[r.state] < RANK[best.state] ||
          (r.state === best.state && (r.state === "scheduled" ? r.opens_at_ts < best.opens_at_ts
                                                             : r.closes_at_ts > best.closes_at_ts))) best = r;
    });
    return best;
  }

  function render() {
    box.replaceChildren();
    if (!current) { box.appendChild(el("p", "No voting round yet.", "muted")); return; }
    var link = el("a", current.title);
    link.href = "/rounds/" + encodeURIComponent(current.id);
    var h = el("h2"); h.appendChild(link);
    box.appendChild(h);
    var state = el("p", "", "live-round-state");
    state.dataset.liveRoundState = "";
    box.appendChild(state);
    var list = el("ul", undefined, "live-round-options");
    var result = current.state === "published" ? current.result : null;
    current.options.forEach(function (o) {
      var li = el("li", o);
      if (result && result.totals) {
        li.appendChild(el("span", " " + result.totals[o], "num"));
        if (result.winner === o) li.className = "winner";
      }
      list.appendChild(li);
    });
    box.appendChild(list);
    if (result) {
      var words = { adopted: "Adopted: " + result.winner, tie: "Tie", runoff: "No majority: runoff proposed",
                    no_votes: "No votes cast" };
      box.appendChild(el("p", (words[result.decision] || result.decision) + " · " + result.votes_cast +
                               " votes cast · " + result.assemblies_reporting + " assemblies reporting",
                         "live-round-decision"));
    }
    tick();
  }

  function tick() {
    var s = box.querySelector("[data-live-round-state]");
    if (!s || !current) return;
    var now = CouncilClock.now();
    var opens = current.opens_at_ts * 1000, closes = current.closes_at_ts * 1000;
    if (current.state === "scheduled" && now >= opens) current.state = "open";
    if (current.state === "open" && now >= closes) current.state = "closed";
    if (current.state === "scheduled") s.textContent = "Opens in " + CouncilRound.fmt(opens - now);
    else if (current.state === "open") s.textContent = "Voting: closes in " + CouncilRound.fmt(closes - now);
    else if (current.state === "closed") s.textContent = "Closed. Counting…";
    else s.textContent = "Result published";
  }

  function load() {
    return fetch("/api/rounds").then(function (r) { return r.json(); }).then(function (d) {
      var r = pick(d.rounds || d || []);
      if (r) { current = r; render(); } else if (!current) render();
    }).catch(function () { if (!current) render(); });
  }

  function adopt(r) {
    // A newer round takes the place of a published one or of one further from now.
    if (!current || current.id === r.id || RANK[r.state] <= RANK[current.state]) { current = r; render(); }
  }

  CouncilClock.start();
  CouncilClock.on("round.scheduled", function (m) { adopt(m.round); });
  CouncilClock.on("round.opened", function (m) { adopt(m.round); });
  CouncilClock.on("round.closed", function (m) {
    if (current && current.id === m.id) { current.state = "closed"; tick(); }
  });
  CouncilClock.on("round.result", function (m) {
    if (current && current.id === m.id) { current = m.round; render(); }
  });
  load();
  setInterval(tick, 200);
})();
