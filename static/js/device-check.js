// The lobby's device check: camera preview, microphone level and a test tone, with help text on failure.
(function () {
  "use strict";
  var start = document.getElementById("device-start");
  if (!start) { return; }
  var hint = document.querySelector("#device-check .needs-js");
  if (hint) { hint.hidden = true; }
  start.hidden = false;
  var audio = null;

  function context() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!audio && Ctx) { audio = new Ctx(); }
    return audio;
  }

  function showHelp(name) {
    var helps = document.querySelectorAll("#device-check .device-help");
    var match = null;
    helps.forEach(function (p) { p.hidden = true; if (p.dataset.error === name) { match = p; } });
    (match || document.querySelector('#device-check .device-help[data-error="other"]')).hidden = false;
  }

  function meter(stream) {
    var ctx = context();
    if (!ctx) { return; }
    var analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(stream).connect(analyser);
    var data = new Uint8Array(analyser.fftSize);
    var level = document.getElementById("device-level");
    document.getElementById("device-mic").hidden = false;
    (function draw() {
      analyser.getByteTimeDomainData(data);
      var peak = 0;
      data.forEach(function (v) { peak = Math.max(peak, Math.abs(v - 128)); });
      level.value = Math.min(100, peak * 100 / 128);
      requestAnimationFrame(draw);
    })();
  }

  start.addEventListener("click", function () {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { showHelp("other"); return; }
    navigator.mediaDevices.getUserMedia({video: true, audio: true}).then(function (stream) {
      var video = document.getElementById("device-video");
      video.srcObject = stream;
      video.hidden = false;
      meter(stream);
      document.getElementById("device-sound").hidden = false;
      document.getElementById("device-ok").hidden = false;
    }).catch(function (error) { showHelp(error && error.name); });
  });

  document.getElementById("device-sound").addEventListener("click", function () {
    var ctx = context();
    if (!ctx) { showHelp("other"); return; }
    var tone = ctx.createOscillator();
    tone.frequency.value = 440;
    tone.connect(ctx.destination);
    tone.start();
    tone.stop(ctx.currentTime + 1);
  });
})();
