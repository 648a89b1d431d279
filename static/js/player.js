/* Watch page player: the smallest thing that plays the stream, fetched on the first tap, never on page load.
   Native HLS where the browser plays it well (Safari, iOS: no script at all); elsewhere the hls.js build the page
   names in data-hls-js (the light build for audio-only, which needs no video or alternate-audio code; the full build
   for video, whose audio is an alternate rendition the light build cannot play); else the MP4 <source>. */
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
  var mse = !!(window.MediaSource || window.ManagedMediaSource);
  var apple = /Apple/.test(navigator.vendor || "") || !!window.ManagedMediaSource;
  // Safari and iOS play HLS themselves (iOS before 17 has no MSE at all); Chromium's newer native HLS cannot be
  // capped to the player's size, so it gets hls.js like the other browsers with MSE.
  var nativeHls = !!video.canPlayType("application/vnd.apple.mpegurl") && (apple || !mse);
  var useHlsJs = !nativeHls && mse && !!hlsJsUrl;
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

  // The browser's estimate of the connection (bits/s), where it gives one; hls.js measures from then on.
  function estimate() {
    var downlink = navigator.connection && navigator.connection.downlink;
    return downlink > 0 ? downlink * 1e6 * 0.7 : 300000;
  }

  // The largest level that fits the player on this screen and the estimated bandwidth; else the smallest.
  function fittingLevel(levels) {
    var height = (video.clientHeight || 0) * (window.devicePixelRatio || 1);
    var best = 0;
    levels.forEach(function (level, index) {
      if ((!level.height || level.height <= height) && (level.bitrate || 0) <= estimate()) { best = index; }
    });
    return best;
  }

  function startHlsJs() {
    var Hls = window.Hls;
    // Start low (levels are listed smallest first) and never above what the player shows on this screen; a short
    // buffer ahead keeps a 3G connection free for the segment being watched.
    hls = new Hls({ startLevel: 0, capLevelToPlayerSize: true, autoStartLoad: false,
      abrEwmaDefaultEstimate: estimate(), maxBufferLength: 12, backBufferLength: 30 });
    hls.once(Hls.Events.MANIFEST_PARSED, function (event, data) {
      hls.startLevel = fittingLevel(data.levels);
      hls.startLoad(start > 0 ? start : -1);  // seeks to where the parent stopped
    });
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
  } else if (nativeHls) {
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
