// Attendance heartbeat of the parent's lobby page: while the parent is in the conference, tell the server "still
// here" every next_s seconds (the server's answer; 60 at first), so a visit that never says it left ends at its last
// heartbeat. lobby.js announces the room's IFrame API object with a window "ouderkamer:jitsi" event and posts the
// joined/left events; this script only listens to the same room. On pagehide a last heartbeat goes by sendBeacon.
(function () {
  "use strict";
  var script = document.currentScript;
  var lobby = document.getElementById("lobby");
  if (!script || !script.dataset.url || !lobby) { return; }
  var url = script.dataset.url;
  var every = Number(script.dataset.interval || 60) * 1000;
  var timer = null;
  var userId = null;
  var reposted = false;

  function headers() {
    return {"Content-Type": "application/json", "X-CSRFToken": lobby.dataset.csrf};
  }

  // Our joined never arrived (409): post it once more, so the visit is counted from now on.
  function repostJoined() {
    if (reposted || !lobby.dataset.eventsUrl) { return; }
    reposted = true;
    fetch(lobby.dataset.eventsUrl, {method: "POST", credentials: "same-origin", headers: headers(),
                                    body: JSON.stringify({event: "joined", user_id: userId})});
  }

  function beat() {
    fetch(url, {method: "POST", credentials: "same-origin", headers: headers(), body: "{}"})
      .then(function (response) {
        if (response.status === 409) { repostJoined(); }
        return response.json();
      })
      .then(function (body) { if (body && body.next_s > 0) { every = body.next_s * 1000; } })
      .catch(function () { /* offline for a moment: the next beat tries again */ });
  }

  function start() {
    stop();
    (function next() { timer = setTimeout(function () { beat(); next(); }, every); })();
  }

  function stop() {
    if (timer !== null) { clearTimeout(timer); timer = null; }
  }

  window.addEventListener("ouderkamer:jitsi", function (event) {
    var detail = event.detail || {};
    if (!detail.api || (detail.role && detail.role !== "parent")) { return; }
    userId = detail.setup && detail.setup.user_id;
    detail.api.addListener("videoConferenceJoined", function () { reposted = false; start(); });
    detail.api.addListener("videoConferenceLeft", stop);
  });

  window.addEventListener("pagehide", function () {
    if (timer === null || !navigator.sendBeacon) { return; }
    stop();
    var form = new FormData();
    form.append("csrf_token", lobby.dataset.csrf);
    navigator.sendBeacon(url, form);
  });
})();
