(function () {
  "use strict";
  var form = document.getElementById("upload");
  var input = document.getElementById("file");
  var send = document.getElementById("send");
  var status = document.getElementById("status");
  var progress = document.getElementById("progress");
  var bar = document.getElementById("bar");
  var terms = JSON.parse(document.getElementById("script-form").textContent);

  function size(bytes) {
    // 1024-based, as the pages and the CLI show sizes (chalicelib/domain/text.py).
    var units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
    return i === 0 ? bytes + " bytes" : bytes.toFixed(1) + " " + units[i];
  }
  function duration(seconds) {
    if (seconds < 60) { return Math.max(1, Math.round(seconds)) + " s"; }
    return Math.round(seconds / 60) + " min";
  }
  function say(text) { status.textContent = text; }
  // A kind's name a person knows ("PDF document"), as the page shows it.
  function kind(type) { return terms.kinds[type] || type; }

  form.addEventListener("submit", function (event) {
    var file = input.files && input.files[0];
    if (!file) { return; }
    event.preventDefault();
    var picked = form.elements["Content-Type"];
    var type = terms.fields["Content-Type"] ||
      (file.type || (picked && picked.value) || "application/octet-stream").toLowerCase();
    if (file.size === 0) {
      say("This file is empty (0 bytes): pick the file again. Nothing was sent.");
      return;
    }
    if (file.size > terms.max_bytes) {
      say("This file is too big: it is " + size(file.size) + ", and this link takes at most " +
        size(terms.max_bytes) + ". Nothing was sent.");
      return;
    }
    if (terms.types.length && terms.types.indexOf(type) < 0) {
      say("This kind of file (" + kind(type) + ") is not accepted here; send: " +
        terms.types.map(kind).join(", ") + ". Nothing was sent.");
      return;
    }
    send.disabled = true;
    say("Checking that this link still takes files\u2026");
    // A freshly signed form: the page's own lives 15 minutes, and the request may have
    // been withdrawn or filled since the page was shown.
    var fresh = new XMLHttpRequest();
    fresh.open("GET", terms.refresh);
    fresh.setRequestHeader("Accept", "application/json");
    fresh.addEventListener("load", function () {
      var answer = null;
      try { answer = JSON.parse(fresh.responseText); } catch (ignored) { answer = null; }
      if (fresh.status === 200 && answer) {
        upload(file, type, answer);
        return;
      }
      if (fresh.status >= 400 && fresh.status < 500 && answer && answer.message) {
        send.disabled = true;
        say(answer.message + " Nothing was sent.");
        return;
      }
      upload(file, type, terms);  // the service did not answer clearly: the page's own form
    });
    fresh.addEventListener("error", function () { upload(file, type, terms); });
    fresh.send();
  });

  function upload(file, type, signed) {
    var key = signed.prefix + file.name;
    var body = new FormData();
    Object.keys(signed.fields).forEach(function (name) { body.append(name, signed.fields[name]); });
    body.set("key", key);
    body.set("Content-Type", type);
    body.append("file", file);  // S3 reads no field after the file
    var xhr = new XMLHttpRequest();
    var started = Date.now();
    xhr.open("POST", signed.url);
    xhr.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) { return; }
      // The event counts the whole request body, the form's fields (a few kB) with the
      // file; shown as that share of the file, so that the total is the file's own size.
      var sent = Math.round(file.size * e.loaded / e.total);
      var seconds = (Date.now() - started) / 1000;
      var rate = seconds > 0 ? sent / seconds : 0;
      bar.value = Math.floor(100 * e.loaded / e.total);
      var left = rate > 0 && sent < file.size ?
        " \u00b7 about " + duration((file.size - sent) / rate) + " left" : "";
      say(size(sent) + " of " + size(file.size) + " \u00b7 " + size(rate) + "/s" + left);
    });
    xhr.addEventListener("load", function () {
      if (xhr.status >= 200 && xhr.status < 300) {
        say("Uploaded. Checking the file\u2026");
        window.location.assign(terms.done + "&key=" + encodeURIComponent(key));
        return;
      }
      send.disabled = false;
      say("The storage service refused the file (status " + xhr.status + "). Nothing was used " +
        "up; reload the page and try again.");
    });
    xhr.addEventListener("error", function () {
      // No answer the script may read: the connection broke, or the bucket does not allow
      // this page's origin (a deployment without PublicUrl, or the page opened from another
      // address), so the browser refused the script's request.  The plain form needs no CORS:
      // send it instead (S3 stores a POST whole or not at all; the same name overwrites).
      say("Sending the file without the progress bar\u2026");
      form.submit();
    });
    progress.hidden = false;
    say("Starting the upload\u2026");
    xhr.send(body);
  }
}());
