/* Watch page player: hls.js where Media Source Extensions exist, else native HLS, else the MP4 <source>. */
(function () {
  "use strict";
  var video = document.querySelector("video[data-hls-src]");
  if (!video) { return; }
  var src = video.getAttribute("data-hls-src");
  var playButton = document.querySelector("[data-play]");
  var hls = null;
  var reloads = 0;

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
    hls = new Hls({ startLevel: 0, capLevelToPlayerSize: true });
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

  if (window.Hls && window.Hls.isSupported()) {
    startHlsJs();
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = src;
  }

  if (playButton) {
    playButton.hidden = false;
    playButton.addEventListener("click", function () {
      playButton.hidden = true;
      var started = video.play();
      if (started && started.catch) { started.catch(function () { playButton.hidden = false; }); }
    });
    video.addEventListener("play", function () { playButton.hidden = true; });
  }
}());
