/* The replay page: seeks the recording to the position in the address (#t=<seconds>, as the
 * minutes and the chapters link to it) when the page opens and whenever the fragment
 * changes, and marks the chapter being played. A media-fragment start is read in seconds
 * (12.5, npt:12.5), as M:SS or as H:MM:SS; an end (",20") is ignored. */
(function () {
  "use strict";
  var root = document.querySelector("[data-replay]");
  if (!root) return;
  var video = root.querySelector("video");
  var chapters = Array.prototype.slice.call(root.querySelectorAll(".bc-chapter"));

  function parseT(hash) {
    var m = /(?:^#|&)t=(?:npt:)?([0-9:.]+)/.exec(hash || "");
    if (!m) return null;
    var parts = m[1].split(":"), s = 0;
    if (parts.length > 3) return null;
    for (var i = 0; i < parts.length; i++) {
      var v = parseFloat(parts[i]);
      if (isNaN(v)) return null;
      s = s * 60 + v;
    }
    return isFinite(s) && s >= 0 ? s : null;
  }

  function seek(t) {
    if (t === null) return;
    function apply() {
      var d = video.duration;
      var to = isFinite(d) && d > 0 ? Math.min(t, d) : t;
      video.currentTime = to;
      video.dataset.seekedTo = String(to);  // what the page applied (the tests read it)
      mark();
    }
    if (video.readyState >= 1) apply();  // HAVE_METADATA: the position can be set now
    else video.addEventListener("loadedmetadata", apply, {once: true});
  }

  function mark() {
    var now = video.currentTime, current = null;
    chapters.forEach(function (li) {  // the innermost chapter holding the position (a turn inside its item)
      if (parseFloat(li.dataset.start) <= now + 0.1 && now < parseFloat(li.dataset.end)) current = li;
    });
    chapters.forEach(function (li) {
      var a = li.querySelector("a");
      if (li === current) a.setAttribute("aria-current", "true");
      else a.removeAttribute("aria-current");
    });
  }

  root.addEventListener("click", function (ev) {
    var a = ev.target.closest ? ev.target.closest(".bc-chapter a") : null;
    if (a && a.getAttribute("href") === location.hash) seek(parseT(location.hash));  // no hashchange: seek anyway
  });
  window.addEventListener("hashchange", function () { seek(parseT(location.hash)); });
  video.addEventListener("timeupdate", mark);
  video.addEventListener("seeked", mark);
  seek(parseT(location.hash));
})();
