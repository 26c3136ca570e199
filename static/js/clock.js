/* Clock sync over the one WebSocket per screen (/ws), NTP-style.
 *
 * Each exchange: t0 = client send, t1 = server receipt, t2 = server send, t3 = client
 * receipt. offset = ((t1 - t0) + (t2 - t3)) / 2, rtt = (t3 - t0) - (t2 - t1). Queueing only
 * lengthens the round trip, so the offset is that of the lowest-RTT sample of the last
 * KEEP (error at most rtt/2; the same maths as voting/clock.py). Server time = client
 * time + offset.
 *
 * Usage (any page):  CouncilClock.start();  CouncilClock.now()  -> server ms
 *                    CouncilClock.on("round.opened", fn)  -> events from the server
 */
(function () {
  "use strict";
  var BEST = 1, KEEP = 24, BURST = 6, EVERY_MS = 10000;
  var samples = [], offset = 0, rtt = null, ws = null, listeners = {}, started = false, retry = 500;
  function local() { return performance.timeOrigin + performance.now(); }
  function emit(type, data) {
    (listeners[type] || []).concat(listeners["*"] || []).forEach(function (fn) {
      try { fn(data); } catch (e) { console.error(e); }
    });
  }
  function estimate() {
    var best = samples.slice().sort(function (a, b) { return a.rtt - b.rtt; }).slice(0, BEST);
    var offs = best.map(function (s) { return s.offset; }).sort(function (a, b) { return a - b; });
    var m = offs.length >> 1;
    offset = offs.length % 2 ? offs[m] : (offs[m - 1] + offs[m]) / 2;
    rtt = best[0].rtt;
    emit("sync", { offset: offset, rtt: rtt, samples: samples.length });
  }
  function ping() {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "sync", t0: local() }));
  }
  // a few exchanges soon after connecting, jittered so that thousands of screens
  // reconnecting at once (after a server restart) do not arrive in lockstep
  function burst() { for (var i = 0; i < BURST; i++) setTimeout(ping, i * 400 + Math.random() * 400); }
  function connect() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
    ws = new WebSocket(url);
    ws.onopen = function () { retry = 500; burst(); emit("open", {}); };
    ws.onmessage = function (ev) {
      var t3 = local(), msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.type === "sync") {
        samples.push({ offset: ((msg.t1 - msg.t0) + (msg.t2 - t3)) / 2, rtt: (t3 - msg.t0) - (msg.t2 - msg.t1) });
        if (samples.length > KEEP) samples.shift();
        estimate();
        return;
      }
      if (msg.type === "hello" && !samples.length) offset = msg.server_time - t3;  // rough until synced
      emit(msg.type, msg);
    };
    ws.onclose = function () {
      emit("close", {});
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }
  window.CouncilClock = {
    start: function () {
      if (started) return this;
      started = true;
      connect();
      setInterval(ping, EVERY_MS);
      return this;
    },
    now: function () { return local() + offset; },
    offset: function () { return offset; },
    rtt: function () { return rtt; },
    synced: function () { return samples.length > 0; },
    // how many exchanges the estimate rests on (the first burst after connecting is BURST)
    samples: function () { return samples.length; },
    burst: BURST,
    on: function (type, fn) { (listeners[type] = listeners[type] || []).push(fn); return this; }
  };
})();
