// A WHEP player: plays a channel in a <video>, reconnects by itself, shows state and viewers.
//
// Markup (see templates/broadcast/_player.html):
//   <figure data-whep-player data-channel="central" data-endpoint="/whep/central">
//     <video ...></video> <span data-role="state"></span> <span data-role="viewers"></span>
//   </figure>
// Every such figure on the page gets a WhepPlayer; they are listed in
// window.councilcastPlayers (the live page and tests use them). State: "connecting",
// "live", "waiting" (nothing on air), "ended", "reconnecting".
(function () {
  "use strict";

  const RETRY_WAITING_MS = 5000;
  const STATE_TEXT = { connecting: "connecting…", live: "live", waiting: "waiting", ended: "ended",
                       reconnecting: "reconnecting…", idle: "waiting" };

  class WhepPlayer {
    constructor(root) {
      this.root = root;
      this.channel = root.dataset.channel;
      this.endpoint = root.dataset.endpoint || "/whep/" + this.channel;
      this.video = root.querySelector("video");
      this.stateEl = root.querySelector("[data-role=state]");
      this.viewersEl = root.querySelector("[data-role=viewers]");
      this.soundBtn = root.querySelector("[data-role=sound]");
      this.pc = null;
      this.location = null;
      this.state = "connecting";
      this.retryTimer = null;
      this.lastFrames = 0;
      this.stalledSince = null;
      this.captionSeq = 0;
      this.captionTrack = null;
      this.closed = false;
      if (this.soundBtn) {
        this.soundBtn.hidden = false;
        this.soundBtn.addEventListener("click", () => {
          this.video.muted = !this.video.muted;
          this.soundBtn.textContent = this.video.muted ? "Sound on" : "Sound off";
          this.video.play().catch(() => {});
        });
      }
      window.addEventListener("pagehide", () => this.close());
      this.connect();
      this.pollTimer = setInterval(() => this.poll(), 4000);
      this.watchTimer = setInterval(() => this.watch(), 2000);
      if (this.video.dataset.captions) {
        this.captionTrack = this.video.addTextTrack("captions", "Live captions", "en");
        this.captionTrack.mode = "showing";
        this.captionTimer = setInterval(() => this.pollCaptions(), 2000);
      }
      this.poll();
    }

    setState(state) {
      this.state = state;
      this.root.dataset.state = state;
      if (this.stateEl) this.stateEl.textContent = STATE_TEXT[state] || state;
    }

    async connect() {
      if (this.closed) return;
      clearTimeout(this.retryTimer);
      this.teardown(false);
      if (this.state === "live") this.setState("reconnecting");
      else if (this.state !== "waiting" && this.state !== "ended") this.setState("connecting");
      const pc = new RTCPeerConnection();
      this.pc = pc;
      const video = pc.addTransceiver("video", { direction: "recvonly" });
      const want = (this.root.dataset.codec || "").toLowerCase();
      if (want && RTCRtpReceiver.getCapabilities && video.setCodecPreferences) {
        // Put the wanted codec first (e.g. data-codec="h264"); the server follows the viewer's order.
        const codecs = RTCRtpReceiver.getCapabilities("video").codecs;
        const first = codecs.filter((c) => c.mimeType.toLowerCase() === "video/" + want);
        if (first.length) video.setCodecPreferences(first.concat(codecs.filter((c) => !first.includes(c))));
      }
      pc.addTransceiver("audio", { direction: "recvonly" });
      const stream = new MediaStream();
      pc.ontrack = (ev) => {
        stream.addTrack(ev.track);
        if (this.video.srcObject !== stream) this.video.srcObject = stream;
        this.video.play().catch(() => {});
      };
      pc.onconnectionstatechange = () => {
        if (pc !== this.pc) return;
        if (pc.connectionState === "connected") { this.setState("live"); this.stalledSince = null; }
        if (pc.connectionState === "failed" || pc.connectionState === "closed") this.retry(1000);
        if (pc.connectionState === "disconnected") this.retry(3000);
      };
      try {
        await pc.setLocalDescription(await pc.createOffer());
        await this.gathered(pc);
        const resp = await fetch(this.endpoint, {
          method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp,
        });
        if (resp.status === 201) {
          this.location = new URL(resp.headers.get("Location"), location.href).href;
          await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
          return;
        }
        const wait = parseInt(resp.headers.get("Retry-After") || "5", 10);
        if (resp.status === 409) {
          this.setState(this.state === "ended" ? "ended" : "waiting");
        }
        this.teardown(false);
        this.retry(Math.max(1, wait) * 1000);
      } catch (err) {
        this.teardown(false);
        this.retry(3000);
      }
    }

    gathered(pc) {
      if (pc.iceGatheringState === "complete") return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
        pc.addEventListener("icegatheringstatechange", done);
        setTimeout(resolve, 1500); // enough for host candidates; the server does full ICE anyway
      });
    }

    retry(ms) {
      if (this.closed) return;
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.connect(), ms);
    }

    teardown(hangUp) {
      if (this.pc) { try { this.pc.close(); } catch (e) {} }
      this.pc = null;
      if (this.location) {
        const url = this.location;
        this.location = null;
        fetch(url, { method: "DELETE", keepalive: true }).catch(() => {});
      }
    }

    async watch() {
      // A connection that stops decoding frames for 6 s is dropped and made again.
      if (!this.pc || this.pc.connectionState !== "connected") return;
      const frames = await this.framesDecoded();
      if (frames > this.lastFrames) { this.lastFrames = frames; this.stalledSince = null; return; }
      this.stalledSince = this.stalledSince || Date.now();
      if (Date.now() - this.stalledSince > 6000) { this.stalledSince = null; this.lastFrames = 0; this.connect(); }
    }

    async framesDecoded() {
      if (!this.pc) return 0;
      let n = 0;
      (await this.pc.getStats()).forEach((r) => {
        if (r.type === "inbound-rtp" && r.kind === "video") n += r.framesDecoded || 0;
      });
      return n;
    }

    async poll() {
      try {
        const resp = await fetch("/api/channels/" + encodeURIComponent(this.channel));
        if (!resp.ok) return;
        const info = await resp.json();
        if (this.viewersEl) this.viewersEl.textContent = String(info.viewers);
        if (info.state !== "live") {
          // Off air: drop the connection now rather than wait for it to time out.
          if (this.pc && this.state !== "connecting") { this.teardown(false); this.retry(RETRY_WAITING_MS); }
          this.setState(info.state === "ended" ? "ended" : "waiting");
        } else if (!this.pc && !this.closed) {
          this.connect();
        }
      } catch (e) { /* offline: the next poll tries again */ }
    }

    async pollCaptions() {
      try {
        const resp = await fetch(this.video.dataset.captions + "?since=" + this.captionSeq);
        if (!resp.ok) return;
        const data = await resp.json();
        const t = this.video.currentTime;
        for (const c of data.cues) {
          this.captionSeq = Math.max(this.captionSeq, c.seq);
          if (c.end < data.now) continue; // already over
          const cue = new VTTCue(t, t + (c.end - Math.max(c.start, data.now - 0.1)), c.text);
          this.captionTrack.addCue(cue);
        }
      } catch (e) { /* ignore */ }
    }

    close() {
      this.closed = true;
      clearInterval(this.pollTimer); clearInterval(this.watchTimer); clearInterval(this.captionTimer);
      clearTimeout(this.retryTimer);
      this.teardown(true);
    }
  }

  window.WhepPlayer = WhepPlayer;
  window.councilcastPlayers = [];
  function start() {
    document.querySelectorAll("[data-whep-player]").forEach((el) => {
      window.councilcastPlayers.push(new WhepPlayer(el));
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
