// The lobby: a countdown until the room opens, then the Jitsi IFrame API with the room, token and name.
// Parents' pages post joined/left events back; the trainer's page also starts and stops the recording.
(function () {
  "use strict";
  var lobby = document.getElementById("lobby");
  if (!lobby) { return; }
  var role = lobby.dataset.role;

  function post(event, userId, beacon) {
    if (role !== "parent" || !lobby.dataset.eventsUrl) { return; }
    if (beacon && navigator.sendBeacon) {
      var form = new FormData();
      form.append("event", event);
      form.append("user_id", userId);
      form.append("csrf_token", lobby.dataset.csrf);
      navigator.sendBeacon(lobby.dataset.eventsUrl, form);
      return;
    }
    fetch(lobby.dataset.eventsUrl, {
      method: "POST", credentials: "same-origin", keepalive: true,
      headers: {"Content-Type": "application/json", "X-CSRFToken": lobby.dataset.csrf},
      body: JSON.stringify({event: event, user_id: userId})
    });
  }

  function showAppLink(setup) {
    var link = document.getElementById("app-link");
    if (link && setup.app_url && /Android|iPhone|iPad|iPod/i.test(navigator.userAgent)) {
      link.href = setup.app_url;
      link.hidden = false;
    }
  }

  function recordingControls(api) {
    var controls = document.querySelector(".recording-controls");
    if (!controls) { return; }
    controls.hidden = false;
    document.getElementById("start-recording").addEventListener("click", function () {
      api.executeCommand("startRecording", {
        mode: "file", extraMetadata: {session_id: Number(lobby.dataset.sessionId)}
      });
    });
    document.getElementById("stop-recording").addEventListener("click", function () {
      api.executeCommand("stopRecording", "file");
    });
  }

  function embed(setup) {
    var waiting = document.getElementById("waiting");
    if (waiting) { waiting.hidden = true; }
    showAppLink(setup);
    var script = document.createElement("script");
    script.src = setup.script_url;
    script.onload = function () {
      var options = Object.assign({}, setup.options, {
        parentNode: document.getElementById("jitsi"), width: "100%", height: 560
      });
      var api = new window.JitsiMeetExternalAPI(setup.domain, options);
      var joined = false;
      api.addListener("videoConferenceJoined", function () { joined = true; post("joined", setup.user_id); });
      api.addListener("videoConferenceLeft", function () { joined = false; post("left", setup.user_id); });
      window.addEventListener("pagehide", function () {
        if (joined) { post("left", setup.user_id, true); }
      });
      if (role === "trainer") { recordingControls(api); }
    };
    document.head.appendChild(script);
  }

  function fetchSetup() {
    fetch(lobby.dataset.joinUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json().then(function (body) { return [response.status, body]; }); })
      .then(function (answer) {
        var status = answer[0], body = answer[1];
        if (status === 200 && body.setup) { embed(body.setup); }
        else if (status === 409) { setTimeout(fetchSetup, Math.max(1, body.opens_in || 5) * 1000); }
        else { window.location.reload(); }
      })
      .catch(function () { setTimeout(fetchSetup, 5000); });
  }

  function format(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? h + ":" + pad(m) : m) + ":" + pad(s);
  }

  function countdown() {
    var value = document.getElementById("countdown-value");
    var target = Date.now() + Number(lobby.dataset.secondsLeft || 0) * 1000;
    function tick() {
      var left = Math.max(0, Math.round((target - Date.now()) / 1000));
      if (value) { value.textContent = value.dataset.label.replace("{time}", format(left)); }
      if (left === 0) { fetchSetup(); return; }
      setTimeout(tick, 1000);
    }
    tick();
  }

  var inline = document.getElementById("jitsi-setup");
  if (inline) { embed(JSON.parse(inline.textContent)); }
  else if (role === "parent" && lobby.dataset.state === "waiting") { countdown(); }
})();
