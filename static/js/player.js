/* Watch page player: hls.js where Media Source Extensions exist, else native HLS, else the MP4 <source>.
   hls.js (about 190 KB gzipped) is fetched on the first play, so opening the page stays light on a phone. */
(function () {
  "use strict";
  var video = document.querySelector("video[data-hls-src]");
  if (!video) { return; }
  var src = video.getAttribute("data-hls-src");
  var playButton = document.querySelector("[data-play]");
  var hls = null;
  var reloads = 0;
  var start = parseFloat(video.getAttribute("data-start")) || 0;
  var progressUrl = video.getAttribute("data-progress-url");
  var PROGRESS_EVERY_MS = 10000;
  var hlsJsUrl = video.getAttribute("data-hls-js");
  var useHlsJs = !!((window.MediaSource || window.ManagedMediaSource) && hlsJsUrl);
  var loading = null;

  function loadHlsJs() {
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = hlsJsUrl;
        script.onload = resolve;
        script.onerror = reject;
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  // First play: load hls.js, attach it, then play; native HLS or the MP4 when hls.js cannot run here.
  function begin() {
    if (!useHlsJs || hls) { return video.play(); }
    return loadHlsJs().then(function () {
      if (window.Hls && window.Hls.isSupported()) {
        startHlsJs();
      } else {
        useHlsJs = false;
        video.src = video.canPlayType("application/vnd.apple.mpegurl") ? src : (video.getAttribute("data-mp4-src") || src);
      }
      video.controls = true;
      return video.play();
    }, function () {
      useHlsJs = false;
      video.controls = true;
      useMp4();
      return video.play();
    });
  }

  function useMp4() {
    var mp4 = video.getAttribute("data-mp4-src");
    if (hls) { hls.destroy(); hls = null; }
    if (mp4) { video.src = mp4; }
  }

  // Segment URLs in a playlist expire after a few minutes; fetch the playlists again and carry on.
  function reloadPlaylists() {
    var position = video.currentTime;
    var playing = !video.paused;
    reloads += 1;
    hls.once(window.Hls.Events.MANIFEST_PARSED, function () {
      hls.startLoad(position);
      if (playing) { video.play(); }
    });
    hls.loadSource(src);
  }

  function startHlsJs() {
    var Hls = window.Hls;
    // startPosition makes hls.js seek to where the parent stopped once the manifest is parsed.
    hls = new Hls({ startLevel: 0, capLevelToPlayerSize: true, startPosition: start > 0 ? start : -1 });
    hls.on(Hls.Events.ERROR, function (event, data) {
      var expired = data.type === Hls.ErrorTypes.NETWORK_ERROR && data.response &&
        (data.response.code === 403 || data.response.code === 404);
      if (expired && reloads < 5) { reloadPlaylists(); return; }
      if (data.fatal) { useMp4(); }
    });
    hls.on(Hls.Events.FRAG_LOADED, function () { reloads = 0; });
    hls.loadSource(src);
    hls.attachMedia(video);
  }

  // Native HLS and the MP4 fallback: seek once the duration is known.
  function seekToStart() {
    if (start > 0 && !hls && video.currentTime < start) { video.currentTime = start; }
  }

  function progressBody() {
    var duration = video.duration;
    if (!isFinite(duration) || duration <= 0 || video.currentTime <= 0) { return null; }
    return JSON.stringify({ position: video.currentTime, duration: duration });
  }

  function sendProgress(leaving) {
    var body = progressBody();
    if (!progressUrl || !body) { return; }
    if (leaving && navigator.sendBeacon) {
      navigator.sendBeacon(progressUrl, body);  // text/plain: no preflight; the server parses it as JSON
    } else if (window.fetch) {
      fetch(progressUrl, { method: "POST", body: body, keepalive: true, credentials: "same-origin",
        headers: { "Content-Type": "application/json" } }).catch(function () {});
    }
  }

  if (useHlsJs) {
    // Until hls.js runs, the browser's own controls would start its native HLS or the MP4 instead.
    video.controls = false;
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = src;
  }
  video.addEventListener("loadedmetadata", seekToStart);

  if (progressUrl) {
    window.setInterval(function () { if (!video.paused) { sendProgress(false); } }, PROGRESS_EVERY_MS);
    video.addEventListener("pause", function () { sendProgress(false); });
    window.addEventListener("pagehide", function () { sendProgress(true); });
  }

  // Slower speech helps parents who follow in a second language; the buttons need JavaScript, so they start hidden.
  var speed = document.querySelector("[data-speed]");
  if (speed) {
    speed.hidden = false;
    speed.addEventListener("click", function (event) {
      var button = event.target.closest("[data-rate]");
      if (!button) { return; }
      video.playbackRate = parseFloat(button.getAttribute("data-rate"));
      speed.querySelectorAll("[data-rate]").forEach(function (b) {
        b.setAttribute("aria-pressed", b === button ? "true" : "false");
      });
    });
  }

  // Chapter stills: jump to that moment, starting playback first when it has not started yet.
  var chapters = document.querySelector("[data-chapters]");
  if (chapters) {
    chapters.hidden = false;
    chapters.addEventListener("click", function (event) {
      var button = event.target.closest("[data-seek]");
      if (!button) { return; }
      var at = parseFloat(button.getAttribute("data-seek"));
      if (video.readyState > 0) {
        video.currentTime = at;
        video.play();
      } else {
        start = at;
        if (playButton) { playButton.hidden = true; }
        begin();
      }
    });
  }

  if (playButton) {
    playButton.hidden = false;
    playButton.addEventListener("click", function () {
      playButton.hidden = true;
      var started = begin();
      if (started && started.catch) { started.catch(function () { playButton.hidden = false; }); }
    });
    video.addEventListener("play", function () { playButton.hidden = true; });
  }
}());
