(function () {
  "use strict";
  var field = document.getElementById("link");
  var note = document.getElementById("copied");
  document.getElementById("copy").addEventListener("click", function () {
    field.select();
    var done = function () { note.textContent = "Copied. Send it to whoever should download the file."; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
}());
