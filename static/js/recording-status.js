// The trainer's recording status page while a first version plays and the full one is made: reload now and then to
// show the progress (and, once the full version is there, the Publish button), but only while the player is not in
// use, so that watching is never interrupted.
(function () {
  "use strict";
  var marker = document.querySelector("[data-reload-idle]");
  if (!marker) return;
  var seconds = parseInt(marker.getAttribute("data-reload-idle"), 10) || 5;
  var video = document.getElementById("player");
  window.setInterval(function () {
    var idle = !video || video.ended || (video.paused && video.currentTime === 0);
    if (idle) window.location.reload();
  }, seconds * 1000);
})();
