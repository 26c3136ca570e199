/* The voting rounds beside the live picture. Needs clock.js and round.js.
 *
 * It shows every round not yet published that this screen's assembly votes in (open ones
 * first, then the scheduled, each with the same server-clock countdown as every other
 * screen), and under them the last published result, which stays until another result
 * replaces it: two rounds that overlap are both on screen, and a newer round no longer
 * pushes the one being voted off it. ``data-assembly`` on the box limits it to the rounds
 * of that assembly. Totals appear only once a result is published (the server sends none
 * before).
 */
(function () {
  "use strict";
  var box = document.querySelector("[data-live-round]");
  if (!box) return;
  var assembly = box.dataset.assembly || null;
  var rounds = {};  // id -> the round as the server last described it
  var RANK = { open: 0, scheduled: 1, closed: 2 };

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function mine(r) {
    return !assembly || !r.assemblies || r.assemblies.indexOf(assembly) >= 0;
  }

  function shown() {
    var all = Object.keys(rounds).map(function (k) { return rounds[k]; }).filter(mine);
    var active = all.filter(function (r) { return r.state in RANK; }).sort(function (a, b) {
      return RANK[a.state] - RANK[b.state] || a.opens_at_ts - b.opens_at_ts;
    });
    var published = all.filter(function (r) { return r.state === "published"; }).sort(function (a, b) {
      return b.closes_at_ts - a.closes_at_ts;
    });
    return published.length ? active.concat([published[0]]) : active;
  }

  function block(r) {
    var sec = el("div", undefined, "live-round-item");
    sec.dataset.roundId = r.id;
    sec.dataset.state = r.state;  // lets the room's screen size a published result below an open round
    var link = el("a", r.title);
    link.href = "/rounds/" + encodeURIComponent(r.id);
    var h = el("h2"); h.appendChild(link);
    sec.appendChild(h);
    var state = el("p", "", "live-round-state");
    state.dataset.liveRoundState = "";
    sec.appendChild(state);
    var list = el("ul", undefined, "live-round-options");
    var result = r.state === "published" ? r.result : null;
    r.options.forEach(function (o) {
      var li = el("li", o);
      if (result && result.totals) {
        li.appendChild(el("span", " " + result.totals[o], "num"));
        if (result.winner === o) li.className = "winner";
      }
      list.appendChild(li);
    });
    sec.appendChild(list);
    if (result) {
      var words = { adopted: "Adopted: " + result.winner, tie: "Tie", runoff: "No majority: runoff proposed",
                    no_votes: "No votes cast" };
      sec.appendChild(el("p", (words[result.decision] || result.decision) + " · " + result.votes_cast +
                               " votes cast · " + result.assemblies_reporting + " assemblies reporting",
                         "live-round-decision"));
    }
    return sec;
  }

  function render() {
    box.replaceChildren();
    var list = shown();
    if (!list.length) { box.appendChild(el("p", "No voting round yet.", "muted")); return; }
    list.forEach(function (r) { box.appendChild(block(r)); });
    tick();
  }

  function tick() {
    var now = CouncilClock.now();
    box.querySelectorAll(".live-round-item").forEach(function (sec) {
      var r = rounds[sec.dataset.roundId], s = sec.querySelector("[data-live-round-state]");
      if (!r || !s) return;
      var opens = r.opens_at_ts * 1000, closes = r.closes_at_ts * 1000;
      if (r.state === "scheduled" && now >= opens) r.state = "open";
      if (r.state === "open" && now >= closes) r.state = "closed";
      if (r.state === "scheduled") s.textContent = "Opens in " + CouncilRound.fmt(opens - now);
      else if (r.state === "open") s.textContent = "Voting: closes in " + CouncilRound.fmt(closes - now);
      else if (r.state === "closed") s.textContent = "Closed. Counting…";
      else s.textContent = "Result published";
    });
  }

  function load() {
    return fetch("/api/rounds").then(function (r) { return r.json(); }).then(function (d) {
      (d.rounds || []).forEach(function (r) { if (!rounds[r.id] || r.state === "published") rounds[r.id] = r; });
      render();
    }).catch(function () { render(); });
  }

  CouncilClock.start();
  CouncilClock.on("round.scheduled", function (m) { rounds[m.round.id] = m.round; render(); });
  CouncilClock.on("round.opened", function (m) { rounds[m.round.id] = m.round; render(); });
  CouncilClock.on("round.closed", function (m) {
    if (rounds[m.id]) { rounds[m.id].state = "closed"; tick(); }
  });
  CouncilClock.on("round.result", function (m) { rounds[m.id] = m.round; render(); });
  load();
  setInterval(tick, 200);
})();
