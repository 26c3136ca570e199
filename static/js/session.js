/* The session page: follows its session on /ws (the page is rendered on the server, so it
 * reloads on each change of its session) and counts the speaker's time down from the server
 * clock, with the overtime shown past zero. */
(function () {
  "use strict";
  var root = document.querySelector("[data-session-page]");
  if (!root) return;
  var id = root.dataset.sessionId;
  CouncilClock.start();
  ["session.opened", "session.adjourned", "session.closed", "agenda.changed", "item.started", "item.ended",
   "item.runoff", "item.outcome", "speakers.changed", "floor.granted", "floor.ended"].forEach(function (t) {
    CouncilClock.on(t, function (m) { if (m.id === id) location.reload(); });
  });
  function fmt(s) {
    var a = Math.abs(Math.round(s)), m = Math.floor(a / 60), r = a % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }
  var floor = root.querySelector("[data-floor-ends]");
  if (floor) {
    var ends = parseFloat(floor.dataset.floorEnds) * 1000;
    setInterval(function () {
      var left = (ends - CouncilClock.now()) / 1000;
      floor.textContent = left >= 0 ? fmt(left) + " left" : "overtime +" + fmt(-left);
      floor.classList.toggle("overtime", left < 0);
    }, 200);
  }
  CouncilClock.on("sync", function (s) {
    document.querySelectorAll("[data-clock-status]").forEach(function (e) {
      e.textContent = "(clock synced: offset " + s.offset.toFixed(1) + " ms)";
    });
  });
})();
