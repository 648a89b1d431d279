// The parent's lobby: a countdown (under an hour) until the room opens, then the Jitsi IFrame API with the room,
// token and name. The page always says what is happening: connecting (with the seconds so far), connected, or
// "couldn't connect" after data-connect-timeout seconds (default 20) with Retry and a browser link.
// The page posts joined/left events back. (The trainer's live page has its own script, trainer-room.js.)
(function () {
  "use strict";
  var lobby = document.getElementById("lobby");
  if (!lobby) { return; }
  var timeout = Number(lobby.dataset.connectTimeout || 20) * 1000;
  var attempt = 0;
  var lastSetup = null;

  function el(id) { return document.getElementById(id); }
  function show(id, visible) { var node = el(id); if (node) { node.hidden = !visible; } }

  function post(event, userId, beacon) {
    if (!lobby.dataset.eventsUrl) { return; }
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

  // The Jitsi app can only be installed on Android and iOS: never offer it elsewhere.
  function showAppLink(setup) {
    var link = el("app-link");
    if (link && setup.app_url && /Android|iPhone|iPad|iPod/i.test(navigator.userAgent)) {
      link.href = setup.app_url;
      link.hidden = false;
      show("app-offer", true);
    }
  }

  function browserUrl(setup) {
    if (!setup.app_url || !setup.script_url) { return null; }
    return new URL(setup.script_url, location.href).protocol + "//" + setup.app_url.split("://")[1];
  }

  function connecting(current) {
    var started = Date.now();
    var elapsed = el("room-elapsed");
    show("room-failed", false);
    show("room-connected", false);
    show("room-connecting", true);
    (function tick() {
      if (current !== attempt || el("room-connecting").hidden) { return; }
      var seconds = Math.round((Date.now() - started) / 1000);
      if (elapsed) { elapsed.textContent = elapsed.dataset.label.replace("{seconds}", seconds); }
      setTimeout(tick, 1000);
    })();
  }

  function connected(current) {
    if (current !== attempt) { return; }
    show("room-connecting", false);
    show("room-connected", true);
    lobby.dataset.room = "connected";
  }

  function failed(current) {
    if (current !== attempt || lobby.dataset.room === "connected") { return; }
    attempt += 1;  // anything still pending from this attempt is ignored from now on
    show("room-connecting", false);
    show("room-failed", true);
    lobby.dataset.room = "failed";
    var frame = el("jitsi");
    if (frame) { frame.textContent = ""; }
    var link = el("room-browser");
    var url = lastSetup && browserUrl(lastSetup);
    if (link && url) { link.href = url; link.hidden = false; }
  }

  function embed(setup) {
    lastSetup = setup;
    attempt += 1;
    var current = attempt;
    lobby.dataset.room = "connecting";
    show("waiting", false);
    showAppLink(setup);
    connecting(current);
    var timer = setTimeout(function () { failed(current); }, timeout);
    var script = document.createElement("script");
    script.src = setup.script_url;
    script.onerror = function () { clearTimeout(timer); failed(current); };
    script.onload = function () {
      if (current !== attempt || !window.JitsiMeetExternalAPI) { failed(current); return; }
      var parentNode = el("jitsi");
      var options = Object.assign({}, setup.options, {
        parentNode: parentNode, width: "100%", height: Math.max(360, Math.min(560, window.innerHeight - 96))
      });
      var api = new window.JitsiMeetExternalAPI(setup.domain, options);
      // Other scripts (presence.js: the attendance heartbeat) listen to the same room.
      window.dispatchEvent(new CustomEvent("ouderkamer:jitsi", {detail: {api: api, setup: setup, role: lobby.dataset.role}}));
      var frame = parentNode.querySelector("iframe");
      // The room's page answered: the Jitsi server is reachable.
      if (frame) { frame.addEventListener("load", function () { clearTimeout(timer); connected(current); }); }
      var joined = false;
      api.addListener("videoConferenceJoined", function () {
        clearTimeout(timer); connected(current); joined = true; post("joined", setup.user_id);
      });
      api.addListener("videoConferenceLeft", function () { joined = false; post("left", setup.user_id); });
      window.addEventListener("pagehide", function () {
        if (joined) { post("left", setup.user_id, true); }
      });
    };
    document.head.appendChild(script);
  }

  function fetchSetup() {
    fetch(lobby.dataset.joinUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json().then(function (body) { return [response.status, body]; }); })
      .then(function (answer) {
        var status = answer[0], body = answer[1];
        if (status === 200 && body.setup) { embed(body.setup); }
        else if (body.error && lobby.dataset.room === "connecting") { failed(attempt); }
        else if (status === 409) { setTimeout(fetchSetup, Math.min(3600, Math.max(1, body.opens_in || 5)) * 1000); }
        else { window.location.reload(); }
      })
      .catch(function () {
        if (lobby.dataset.room === "connecting") { failed(attempt); } else { setTimeout(fetchSetup, 5000); }
      });
  }

  function format(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  // The countdown shows only in the last hour; before that the page says the date, the time and "in 3 days".
  function countdown() {
    var value = el("countdown-value");
    var target = Date.now() + Number(lobby.dataset.secondsLeft || 0) * 1000;
    function tick() {
      var left = Math.max(0, Math.round((target - Date.now()) / 1000));
      if (left < 3600) {
        show("countdown", true);
        if (value) { value.textContent = value.dataset.label.replace("{time}", format(left)); }
      }
      if (left === 0) { fetchSetup(); return; }
      setTimeout(tick, 1000);
    }
    tick();
  }

  var retry = el("room-retry");
  if (retry) {
    retry.addEventListener("click", function () {
      lobby.dataset.room = "connecting";
      connecting(attempt);
      fetchSetup();  // a fresh token: the one on the page may be old by now
    });
  }

  var inline = el("jitsi-setup");
  if (inline) { embed(JSON.parse(inline.textContent)); }
  else if (lobby.dataset.state === "waiting") { countdown(); }
})();
