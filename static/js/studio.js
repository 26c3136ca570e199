// The browser studio: sends this device's camera and microphone to a channel over WHIP.
(function () {
  "use strict";
  const form = document.querySelector("[data-studio]");
  if (!form) return;
  const endpoint = form.dataset.endpoint;
  const statusEl = form.querySelector("[data-role=status]");
  const startBtn = form.querySelector("[data-role=start]");
  const stopBtn = form.querySelector("[data-role=stop]");
  const tokenInput = form.elements.token;
  const preview = document.querySelector(".bc-preview");
  let pc = null, sessionUrl = null, media = null;

  tokenInput.value = sessionStorage.getItem("councilcast-studio-token") || "";
  const say = (text) => { statusEl.textContent = text; };

  async function start(ev) {
    ev.preventDefault();
    const token = tokenInput.value.trim();
    sessionStorage.setItem("councilcast-studio-token", token);
    startBtn.disabled = true;
    try {
      media = media || await navigator.mediaDevices.getUserMedia({
        video: { width: 1280, height: 720, frameRate: 30 }, audio: true });
      preview.srcObject = media;
      pc = new RTCPeerConnection();
      for (const track of media.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [media] });
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") return resolve();
        pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
        setTimeout(resolve, 2000);
      });
      const resp = await fetch(endpoint, { method: "POST", body: pc.localDescription.sdp,
        headers: { "Content-Type": "application/sdp", "Authorization": "Bearer " + token } });
      if (resp.status !== 201) {
        let reason = resp.statusText;
        try { reason = (await resp.json()).error.reason; } catch (e) {}
        throw new Error(resp.status + ": " + reason);
      }
      sessionUrl = new URL(resp.headers.get("Location"), location.href).href;
      await pc.setRemoteDescription({ type: "answer", sdp: await resp.text() });
      const live = "Live: sending to " + form.dataset.channel;
      pc.onconnectionstatechange = () => say(pc.connectionState === "connected" ? live + " (connected)."
        : pc.connectionState === "failed" ? "Connection failed: press Stop, then Go live." : live + " (" + pc.connectionState + ").");
      say(live + ".");
      stopBtn.disabled = false;
    } catch (err) {
      say("Could not go live: " + err.message);
      if (pc) pc.close();
      pc = null;
      startBtn.disabled = false;
    }
  }

  async function stop() {
    stopBtn.disabled = true;
    if (sessionUrl) {
      await fetch(sessionUrl, { method: "DELETE",
        headers: { "Authorization": "Bearer " + tokenInput.value.trim() } }).catch(() => {});
    }
    if (pc) pc.close();
    pc = null; sessionUrl = null;
    startBtn.disabled = false;
    say("Not live.");
  }

  form.addEventListener("submit", start);
  stopBtn.addEventListener("click", stop);
  window.addEventListener("pagehide", () => { if (sessionUrl) fetch(sessionUrl, { method: "DELETE", keepalive: true,
    headers: { "Authorization": "Bearer " + tokenInput.value.trim() } }); });
})();
