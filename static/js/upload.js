// Resumable upload in 8 MB chunks with a progress bar; without JavaScript the form posts the file as usual.
(function () {
  "use strict";
  var CHUNK = 8 * 1024 * 1024;
  var form = document.getElementById("upload-form");
  if (!form || !window.File || !window.XMLHttpRequest || !window.fetch) return;
  var input = form.querySelector("input[type=file]");
  var token = form.querySelector("input[name=csrf_token]");
  var box = document.getElementById("upload-progress");
  var bar = document.getElementById("upload-bar");
  var status = document.getElementById("upload-status");
  var confirm = document.getElementById("confirm_without_consent");

  function headers(extra) {
    var h = extra || {};
    if (token) h["X-CSRFToken"] = token.value;
    return h;
  }
  function show(done, total) {
    var pct = total ? Math.floor((done * 100) / total) : 0;
    bar.value = pct;
    bar.textContent = pct + "%";
    status.textContent = pct + "%";
  }
  function key(file) {
    return "upload:" + form.dataset.startUrl + ":" + file.name + ":" + file.size + ":" + file.lastModified;
  }
  function json(response) {
    return response.json().then(function (body) { return { status: response.status, body: body }; });
  }
  function begin(file) {
    var saved = localStorage.getItem(key(file));
    if (saved) {
      return fetch(saved, { credentials: "same-origin" }).then(function (r) {
        if (r.ok) return r.json().then(function (b) { return { url: saved, offset: b.offset }; });
        localStorage.removeItem(key(file));
        return begin(file);
      });
    }
    return fetch(form.dataset.startUrl, {
      method: "POST", credentials: "same-origin",
      headers: headers({ "Content-Type": "application/json" }),
      // The trainer's tick when parents present had not consented to being recorded (the server asks again).
      body: JSON.stringify({ filename: file.name, size: file.size,
                             confirm_without_consent: !!(confirm && confirm.checked) })
    }).then(json).then(function (r) {
      if (r.status !== 201) throw new Error(r.body.error || form.dataset.msgFailed);
      localStorage.setItem(key(file), r.body.url);
      return { url: r.body.url, offset: 0 };
    });
  }
  function send(file, url, offset) {
    return new Promise(function (resolve, reject) {
      var end = Math.min(offset + CHUNK, file.size);
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      var h = headers({ "Content-Range": "bytes " + offset + "-" + (end - 1) + "/" + file.size });
      Object.keys(h).forEach(function (name) { xhr.setRequestHeader(name, h[name]); });
      xhr.upload.onprogress = function (e) { show(offset + e.loaded, file.size); };
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { /* keep {} */ }
        if (xhr.status === 201) return resolve(body);
        if (xhr.status === 200 || xhr.status === 409) return resolve(send(file, url, body.offset));
        reject(new Error(body.error || form.dataset.msgFailed));
      };
      xhr.onerror = function () { reject(new Error(form.dataset.msgFailed)); };
      xhr.send(file.slice(offset, end));
    });
  }
  form.addEventListener("submit", function (event) {
    var file = input.files && input.files[0];
    if (!file) return;
    event.preventDefault();
    if (file.size > Number(form.dataset.maxBytes)) { status.textContent = form.dataset.msgTooLarge; box.hidden = false; return; }
    box.hidden = false;
    show(0, file.size);
    begin(file).then(function (up) {
      show(up.offset, file.size);
      return send(file, up.url, up.offset);
    }).then(function (done) {
      localStorage.removeItem(key(file));
      window.location.assign(done.status_url);
    }).catch(function (err) {
      status.textContent = err.message;
    });
  });
})();
