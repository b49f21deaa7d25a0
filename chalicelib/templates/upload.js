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
    if (terms.multipart && file.size > terms.multipart.threshold) {
      inParts(file, type);
      return;
    }
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

  // Large files go in parts (a multipart upload), PARALLEL at a time, each retried with
  // backoff.  The upload is remembered in localStorage under the file's name, size and
  // date: after a lost connection or a reload, picking the same file again asks the
  // service which parts S3 holds and sends only the others.
  var PARALLEL = 4;
  var BATCH = 8;
  var ATTEMPTS = 6;
  var steps = terms.multipart;

  function memoryKey(file) {
    return "onetime-upload " + steps.multipart + " " +
      file.name + " " + file.size + " " + file.lastModified;
  }
  function remembered(file) {
    try { return JSON.parse(window.localStorage.getItem(memoryKey(file)) || "null"); }
    catch (ignored) { return null; }
  }
  function remember(file, upload) {
    try { window.localStorage.setItem(memoryKey(file), JSON.stringify(upload)); }
    catch (ignored) { /* private mode: the upload works, it just cannot resume */ }
  }
  function forget(file) {
    try { window.localStorage.removeItem(memoryKey(file)); } catch (ignored) { /* none */ }
  }

  function ask(method, url, body, done) {
    var xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.setRequestHeader("Accept", "application/json");
    if (body !== null) { xhr.setRequestHeader("Content-Type", "application/json"); }
    xhr.addEventListener("load", function () {
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (ignored) { answer = null; }
      done(xhr.status, answer);
    });
    xhr.addEventListener("error", function () { done(0, null); });
    xhr.send(body === null ? null : JSON.stringify(body));
  }

  function stopped(text) {
    send.disabled = false;
    say(text);
  }

  function inParts(file, type) {
    var known = remembered(file);
    if (known) {
      say("Resuming the upload of " + file.name + "\u2026");
      resume(file, known, 0, function () { forget(file); inParts(file, type); });
      return;
    }
    say("Starting the upload\u2026");
    ask("POST", steps.multipart, {filename: file.name, size: file.size, content_type: type},
      function (status, answer) {
        if (status === 201 && answer) {
          var upload = {upload: answer.upload, key: answer.key, part_size: answer.part_size,
            parts: answer.parts};
          remember(file, upload);
          sendParts(file, upload, [], 0);
          return;
        }
        if (answer && answer.message) { stopped(answer.message + " Nothing was sent."); return; }
        stopped("We could not reach the service. Nothing was sent; press Upload to try again.");
      });
  }

  // Join the parts, then go to the confirmation.  An upload S3 no longer holds may have
  // been completed already (another tab, or an answer lost): the service then answers as
  // if this completion did it, and the confirmation takes the file once.
  function finish(file, upload, rounds) {
    say("Putting the file together\u2026");
    ask("POST", steps.complete, {upload: upload.upload}, function (status, answer) {
      if (status === 200 && answer) {
        forget(file);
        say("Uploaded. Checking the file\u2026");
        window.location.assign(answer.done);
        return;
      }
      if (status === 409 && answer && answer.error === "parts_missing" && rounds < 3) {
        resume(file, upload, rounds + 1, function () {
          forget(file);
          stopped("This upload is over. Press Upload to send the file again.");
        });
        return;
      }
      if (status >= 400 && status < 500) { forget(file); }
      stopped(answer && answer.message ? answer.message :
        "We could not reach the service. Press Upload again to finish.");
    });
  }

  // Ask which parts S3 holds, then send the others.  ``rounds`` counts completions that
  // found parts missing, so that a part S3 keeps losing cannot loop for ever.
  function resume(file, upload, rounds, gone) {
    ask("GET", steps.parts + "&upload=" + encodeURIComponent(upload.upload), null,
      function (status, answer) {
        if (status === 200 && answer) { sendParts(file, upload, answer.held, rounds); return; }
        if (status === 409 && answer && answer.error === "upload_gone" && rounds === 0) {
          finish(file, upload, 3);  // completed meanwhile? if not, finish says it is over
          return;
        }
        if (status >= 400 && status < 500) { gone(); return; }
        stopped("We could not reach the service to resume. Press Upload to try again.");
      });
  }

  function sendParts(file, upload, held, rounds) {
    var partSize = function (n) {
      return n < upload.parts ? upload.part_size : file.size - (upload.parts - 1) * upload.part_size;
    };
    var have = {};
    held.forEach(function (part) { if (part.size === partSize(part.number)) { have[part.number] = true; } });
    var queue = [];
    var n;
    for (n = 1; n <= upload.parts; n += 1) { if (!have[n]) { queue.push(n); } }
    var urls = {};
    var loaded = {};  // bytes of each part in flight
    var doneBytes = 0;
    for (n = 1; n <= upload.parts; n += 1) { if (have[n]) { doneBytes += partSize(n); } }
    var startBytes = doneBytes;
    var started = Date.now();
    var running = 0;
    var failed = false;
    progress.hidden = false;

    function show() {
      var inFlight = 0;
      Object.keys(loaded).forEach(function (k) { inFlight += loaded[k]; });
      var sent = doneBytes + inFlight;
      var seconds = (Date.now() - started) / 1000;
      var rate = seconds > 0 ? (sent - startBytes) / seconds : 0;
      var percent = Math.floor(100 * sent / file.size);
      var left = rate > 0 && sent < file.size ?
        " \u00b7 about " + duration((file.size - sent) / rate) + " left" : "";
      var text = size(sent) + " of " + size(file.size) + " \u00b7 " + size(Math.round(rate)) + "/s" + left;
      bar.value = percent;
      bar.setAttribute("aria-valuenow", String(percent));
      bar.setAttribute("aria-valuetext", text);
      say(text);
    }

    function sign(numbers, then) {
      ask("POST", steps.parts, {upload: upload.upload, parts: numbers}, function (status, answer) {
        if (status === 200 && answer) {
          answer.parts.forEach(function (part) { urls[part.number] = part.url; });
          then(true);
          return;
        }
        then(false, answer);
      });
    }

    function put(number, attempt) {
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", urls[number]);
      xhr.upload.addEventListener("progress", function (e) { loaded[number] = e.loaded; show(); });
      function retry(resign) {
        delete loaded[number];
        if (attempt >= ATTEMPTS) {
          failed = true;
          stopped("The connection to storage was lost. What was sent is kept: press Upload " +
            "again (or reload the page and pick the same file) to go on.");
          return;
        }
        say("The connection faltered; trying again\u2026");
        window.setTimeout(function () {
          if (resign) {
            sign([number], function (ok) { if (ok) { put(number, attempt + 1); } else { retry(false); } });
            return;
          }
          put(number, attempt + 1);
        }, 1000 * Math.pow(2, attempt - 1));
      }
      xhr.addEventListener("load", function () {
        if (xhr.status === 200) {
          delete loaded[number];
          doneBytes += partSize(number);
          running -= 1;
          show();
          next();
          return;
        }
        retry(xhr.status === 403);  // an expired URL is signed again
      });
      xhr.addEventListener("error", function () { retry(false); });
      xhr.send(file.slice((number - 1) * upload.part_size, (number - 1) * upload.part_size + partSize(number)));
    }

    function next() {
      if (failed) { return; }
      if (queue.length === 0 && running === 0) { finish(file, upload, rounds); return; }
      while (queue.length > 0 && running < PARALLEL) {
        var number = queue.shift();
        running += 1;
        if (urls[number]) { put(number, 1); continue; }
        var batch = [number].concat(queue.filter(function (m) { return !urls[m]; }).slice(0, BATCH - 1));
        sign(batch, (function (first) {
          return function (ok, answer) {
            if (ok) { put(first, 1); return; }
            failed = true;
            stopped(answer && answer.message ? answer.message :
              "We could not reach the service. What was sent is kept: press Upload again.");
          };
        }(number)));
      }
    }

    show();
    next();
  }

  // A remembered upload of this page: say how to go on with it.
  (function () {
    if (!steps) { return; }
    try {
      var prefix = "onetime-upload " + steps.multipart + " ";
      for (var i = 0; i < window.localStorage.length; i += 1) {
        var name = window.localStorage.key(i);
        if (name && name.indexOf(prefix) === 0) {
          say("An upload was interrupted: pick the same file and press Upload to continue " +
            "where it stopped.");
          return;
        }
      }
    } catch (ignored) { /* no storage: nothing to resume */ }
  }());

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
      bar.setAttribute("aria-valuenow", String(bar.value));
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
