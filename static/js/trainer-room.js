// The trainer's live page: the Jitsi room through the IFrame API with start/stop recording; when the room has not
// answered within data-timeout seconds (script blocked or never loading, a fatal Jitsi error), a message with a
// new-tab link, the app link and Retry. Parents' help requests are polled from a small JSON endpoint.
(function () {
  "use strict";
  var room = document.getElementById("room");
  var help = document.getElementById("help-requests");

  // Any of these events means the Jitsi app inside the frame runs and talks to this page.
  var ANSWERS = ["browserSupport", "videoConferenceJoined", "prejoinScreenLoaded", "participantRoleChanged",
                 "passwordRequired", "readyToClose", "videoConferenceLeft"];

  function roomPage(setup) {
    var failed = document.getElementById("room-failed");
    var loading = document.getElementById("room-loading");
    var frame = document.getElementById("jitsi");
    var start = document.getElementById("start-recording");
    var stop = document.getElementById("stop-recording");
    var recordingState = document.getElementById("recording-state");
    var timeoutMs = Math.max(1, Number(room.dataset.timeout) || 20) * 1000;
    var attempt = 0, api = null, timer = null;

    var newTab = document.getElementById("room-new-tab");
    var origin = new URL(setup.script_url, window.location.href).origin;
    var jwt = setup.options && setup.options.jwt;
    newTab.href = origin + "/" + setup.options.roomName + (jwt ? "?jwt=" + encodeURIComponent(jwt) : "");

    function show(state) {
      room.dataset.state = state;  // "loading", "answered" or "failed"
      loading.hidden = state !== "loading";
      failed.hidden = state !== "failed";
    }

    function fail(current, fatal) {
      if (current !== attempt || (room.dataset.state === "answered" && !fatal)) { return; }
      clearTimeout(timer);
      show("failed");
    }

    function answered(current) {
      if (current !== attempt) { return; }
      clearTimeout(timer);
      show("answered");
    }

    function recording(on) {
      if (!start) { return; }
      start.disabled = on;
      stop.disabled = !on;
      recordingState.textContent = on ? recordingState.dataset.recording : recordingState.dataset.stopped;
    }

    function connect(current) {
      api = new window.JitsiMeetExternalAPI(setup.domain, Object.assign({}, setup.options, {
        parentNode: frame, width: "100%", height: 560
      }));
      ANSWERS.forEach(function (name) { api.addListener(name, function () { answered(current); }); });
      api.addListener("errorOccurred", function (event) {
        var error = event && (event.error || event);  // {isFatal, ...}; some versions nest it under `error`
        if (error && error.isFatal) { fail(current, true); }
      });
      api.addListener("videoConferenceJoined", function () {
        if (start) { start.disabled = false; stop.disabled = true; recordingState.textContent = ""; }
      });
      api.addListener("recordingStatusChanged", function (status) { recording(Boolean(status && status.on)); });
    }

    function embed() {
      var current = ++attempt;
      if (api) { api.dispose(); api = null; }
      frame.textContent = "";
      show("loading");
      timer = setTimeout(function () { fail(current); }, timeoutMs);
      if (window.JitsiMeetExternalAPI) { connect(current); return; }
      var old = document.getElementById("jitsi-script");
      if (old) { old.remove(); }
      var script = document.createElement("script");
      script.id = "jitsi-script";
      script.src = setup.script_url;
      script.onload = function () { if (current === attempt) { connect(current); } };
      script.onerror = function () { fail(current); };
      document.head.appendChild(script);
    }

    if (start) {
      start.addEventListener("click", function () {
        api.executeCommand("startRecording", {
          mode: "file", extraMetadata: {session_id: Number(room.dataset.sessionId)}
        });
      });
      stop.addEventListener("click", function () { api.executeCommand("stopRecording", "file"); });
    }
    document.getElementById("room-retry").addEventListener("click", embed);
    embed();
  }

  function helpList() {
    var list = document.getElementById("help-list");
    var none = document.getElementById("help-none");
    var title = document.title;
    var every = 5000;

    function item(request) {
      var li = document.createElement("li");
      li.dataset.id = request.id;
      var name = document.createElement("strong");
      name.textContent = request.name;
      var time = document.createElement("time");
      time.dateTime = request.created_at;
      time.textContent = new Date(request.created_at).toLocaleTimeString(document.documentElement.lang,
                                                                          {hour: "2-digit", minute: "2-digit"});
      li.append(name, " ", time);
      if (request.phone) {
        var phone = document.createElement("a");
        phone.href = "tel:" + request.phone;
        phone.textContent = request.phone;
        li.append(" · ", phone);
      }
      if (request.email) {
        var email = document.createElement("a");
        email.href = "mailto:" + request.email;
        email.textContent = request.email;
        li.append(" · ", email);
      }
      var done = document.createElement("button");
      done.type = "button";
      done.className = "link-button";
      done.textContent = help.dataset.handledLabel;
      var who = document.createElement("span");
      who.className = "visually-hidden";
      who.textContent = " " + request.name;
      done.append(who);
      done.addEventListener("click", function () { handled(request.id, li); });
      li.append(" ", done);
      return li;
    }

    function render(requests) {
      list.replaceChildren.apply(list, requests.map(item));
      none.hidden = requests.length > 0;
      document.title = (requests.length ? "(" + requests.length + ") " : "") + title;
    }

    function handled(id, li) {
      var body = new FormData();
      body.append("request_id", id);
      fetch(help.dataset.handledUrl, {
        method: "POST", credentials: "same-origin", body: body,
        headers: {"Accept": "application/json", "X-CSRFToken": help.dataset.csrf}
      }).then(function (response) {
        if (response.ok || response.status === 404) { li.remove(); poll(false); }
      });
    }

    function poll(again) {
      fetch(help.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (response.status === 404 || response.status === 403) { again = false; return null; }
          return response.ok ? response.json() : null;
        })
        .then(function (body) { if (body) { render(body.requests); } })
        .catch(function () { /* offline for a moment: the next poll tries again */ })
        .then(function () { if (again) { setTimeout(function () { poll(true); }, every); } });
    }

    poll(true);
  }

  if (room) {
    var inline = document.getElementById("jitsi-setup");
    if (inline) { roomPage(JSON.parse(inline.textContent)); }
    else if (room.dataset.state === "waiting") { setTimeout(function () { window.location.reload(); }, 30000); }
  }
  if (help) { helpList(); }
})();
