/* The room mode: the server clock in the corner (the countdowns and the floor's time come
 * from live-round.js and live-session.js). No navigation, nothing to click. */
(function () {
  "use strict";
  setInterval(function () {
    var t = new Date(CouncilClock.now()).toISOString().slice(11, 19) + " UTC";
    document.querySelectorAll("[data-server-clock]").forEach(function (e) { e.textContent = t; });
  }, 250);
})();
