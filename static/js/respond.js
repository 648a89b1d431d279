// The parent's answer form: one file at a time (camera, gallery or a recording made here with MediaRecorder),
// a size check before sending, and an upload that survives a bad connection: on a network error it is sent
// again with the same idempotency key (the hidden client_key), so the server never stores it twice.
// Without JavaScript the form posts as usual and the voice file input still works.
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  var DELAYS = [2, 4, 8, 15, 30, 60]; // seconds between attempts
  var data = form.dataset;
  var status = document.getElementById("answer-status");
  var chosen = document.getElementById("answer-chosen");
  var bar = document.getElementById("answer-progress");
  var send = document.getElementById("answer-send");
  var inputs = Array.prototype.slice.call(form.querySelectorAll("input[type=file]"));
  var voice = null; // {blob, name} of a recording made on this page
  var timer = null;

  function say(text) { status.textContent = text; }

  function tooLarge(size) { return size > Number(data.maxBytes); }

  inputs.forEach(function (input) {
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      inputs.forEach(function (other) { if (other !== input) other.value = ""; });
      forgetRecording();
      chosen.textContent = file ? "✓ " + file.name : "";
      say(file && tooLarge(file.size) ? data.msgTooLarge : "");
    });
  });

  // --- the voice recorder --------------------------------------------------------------------------------
  var recorder = document.getElementById("recorder");
  var start = document.getElementById("record-start");
  var stop = document.getElementById("record-stop");
  var clock = document.getElementById("record-time");
  var preview = document.getElementById("record-preview");
  var media = null;
  var sendAfterStop = false;

  function forgetRecording() {
    voice = null;
    if (preview) { preview.hidden = true; preview.removeAttribute("src"); }
  }

  function mimeType() {
    var types = ["audio/webm;codecs=opus", "audio/mp4", "audio/ogg;codecs=opus", "audio/webm"];
    for (var i = 0; i < types.length; i++) {
      if (window.MediaRecorder.isTypeSupported && MediaRecorder.isTypeSupported(types[i])) return types[i];
    }
    return "";
  }

  function extension(type) {
    return type.indexOf("mp4") >= 0 ? "m4a" : type.indexOf("ogg") >= 0 ? "ogg" : "webm";
  }

  function showTime(seconds) {
    clock.textContent = Math.floor(seconds / 60) + ":" + ("0" + (seconds % 60)).slice(-2);
  }

  function record() {
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var type = mimeType();
      var chunks = [];
      var seconds = 0;
      media = type ? new MediaRecorder(stream, { mimeType: type }) : new MediaRecorder(stream);
      media.ondataavailable = function (e) { if (e.data && e.data.size) chunks.push(e.data); };
      media.onstop = function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        clearInterval(timer);
        var blob = new Blob(chunks, { type: media.mimeType || type || "audio/webm" });
        inputs.forEach(function (input) { input.value = ""; });
        voice = { blob: blob, name: "spraakbericht." + extension(blob.type) };
        preview.src = URL.createObjectURL(blob);
        preview.hidden = false;
        start.hidden = false;
        stop.hidden = true;
        chosen.textContent = "✓ " + data.msgRecorded;
        start.focus();
        if (sendAfterStop) { sendAfterStop = false; form.requestSubmit ? form.requestSubmit() : send.click(); }
      };
      media.start(1000);
      start.hidden = true;
      stop.hidden = false;
      showTime(0);
      timer = setInterval(function () {
        seconds += 1;
        showTime(seconds);
        if (seconds >= Number(data.maxSeconds)) media.stop();
      }, 1000);
      stop.focus();
    }).catch(function () { say(data.msgMic); });
  }

  if (recorder && window.MediaRecorder && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    recorder.querySelector(".recorder-controls").hidden = false;
    recorder.querySelector(".recorder-fallback").hidden = true;
    start.addEventListener("click", function () { forgetRecording(); record(); });
    stop.addEventListener("click", function () { if (media && media.state !== "inactive") media.stop(); });
  }

  // --- sending, with retries ----------------------------------------------------------------------------
  function body() {
    var fields = new FormData(form);
    if (voice) {
      fields.delete("file");
      fields.append("file", voice.blob, voice.name);
    }
    return fields;
  }

  function finish(message) {
    send.disabled = false;
    bar.hidden = true;
    say(message);
  }

  function attempt(fields, tries) {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) bar.value = Math.floor((e.loaded * 100) / e.total);
    };
    xhr.onload = function () {
      var answer = {};
      try { answer = JSON.parse(xhr.responseText); } catch (err) { /* keep {} */ }
      if (xhr.status === 201 && answer.url) {
        window.location.href = answer.url;
        window.location.reload();
      } else if (xhr.status >= 500 || xhr.status === 429) {
        retry(fields, tries);
      } else {
        finish(answer.error || data.msgFailed);
      }
    };
    xhr.onerror = function () { retry(fields, tries); };
    xhr.ontimeout = xhr.onerror;
    bar.hidden = false;
    bar.value = 0;
    say(tries ? data.msgRetrying : data.msgSending);
    xhr.send(fields);
  }

  function retry(fields, tries) {
    if (tries >= DELAYS.length) return finish(data.msgOffline);
    say(data.msgRetrying);
    var again = function () {
      window.removeEventListener("online", again);
      clearTimeout(wait);
      attempt(fields, tries + 1);
    };
    var wait = setTimeout(again, DELAYS[tries] * 1000);
    window.addEventListener("online", again);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (media && media.state === "recording") { // send once the recording is complete
      sendAfterStop = true;
      return media.stop();
    }
    var file = inputs.map(function (i) { return i.files && i.files[0]; }).filter(Boolean)[0];
    if ((voice && tooLarge(voice.blob.size)) || (file && tooLarge(file.size))) return say(data.msgTooLarge);
    send.disabled = true;
    attempt(body(), 0);
  });
})();
