/* "Scan" fills the identifier from the barcode on the new unit's label, where the browser has
   BarcodeDetector. Typing always works; without the API the button stays hidden. */
(function () {
  "use strict";
  if (!("BarcodeDetector" in window)) return;

  var FORMATS = ["code_128", "code_39", "qr_code", "data_matrix", "ean_13", "upc_a", "itf"];

  /* The label's caption goes ("IMEI:", "S/N:", "MAC:"); an IMEI keeps its 15 digits only (a
     QR code may carry more text). The server reads the same label forms (identifiers.py). */
  function clean(raw, kind) {
    var text = String(raw || "").trim();
    if (kind === "imei") {
      var digits = text.replace(/\s*\/\s*\d{2}$/, "").replace(/(\d)[ .\-]+(?=\d)/g, "$1").match(/\d{15}/);
      if (digits) return digits[0];
    }
    return text.replace(/^(?:imei(?:\s*[:=#]\s*|\s+)|(?:s\/n|sn|mac)\s*[:=#]\s*)/i, "");
  }

  function openScanner(input) {
    var form = input.form;
    var kindInput = form && form.querySelector('input[name="kind"]:checked');
    var kind = kindInput ? kindInput.value : "";
    var dialog = document.createElement("dialog");
    dialog.className = "scanner";
    dialog.innerHTML =
      '<p class="scanner-title">Point the camera at the barcode on the new unit\'s label</p>' +
      '<video playsinline muted autoplay></video>' +
      '<p class="scanner-status" aria-live="polite">Starting the camera…</p>' +
      '<button type="button" class="btn btn-secondary btn-block">Cancel — type it instead</button>';
    document.body.appendChild(dialog);
    var video = dialog.querySelector("video");
    var status = dialog.querySelector(".scanner-status");
    var stream = null;
    var stopped = false;

    function stop() {
      stopped = true;
      if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      if (dialog.open) dialog.close();
      dialog.remove();
      input.focus();
    }
    dialog.querySelector("button").addEventListener("click", stop);
    dialog.addEventListener("cancel", stop);
    dialog.showModal();

    var supported = BarcodeDetector.getSupportedFormats
      ? BarcodeDetector.getSupportedFormats()
      : Promise.resolve(FORMATS);
    supported.then(function (formats) {
      var wanted = FORMATS.filter(function (f) { return formats.indexOf(f) >= 0; });
      var detector = new BarcodeDetector(wanted.length ? { formats: wanted } : undefined);
      return navigator.mediaDevices
        .getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          status.textContent = "Looking for a barcode…";
          function look() {
            if (stopped) return;
            detector.detect(video).then(function (codes) {
              if (codes.length) {
                input.value = clean(codes[0].rawValue, kind);
                input.dispatchEvent(new Event("input", { bubbles: true }));
                stop();
              } else {
                setTimeout(look, 200);
              }
            }, function () { setTimeout(look, 400); });
          }
          video.addEventListener("loadeddata", look, { once: true });
        });
    }).catch(function () {
      status.textContent = "The camera is not available here. Type the identifier instead.";
    });
  }

  function enhance(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("[data-scan-for]").forEach(function (button) {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
      button.hidden = false;
      if (button.dataset.scanReady) return;
      button.dataset.scanReady = "1";
      button.addEventListener("click", function () {
        var input = document.getElementById(button.dataset.scanFor);
        if (input) openScanner(input);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.detail.elt); });
  if (document.readyState !== "loading") enhance(document);
})();
