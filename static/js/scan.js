/* "Scan" fills the identifier from the barcode on the new unit's label. The browser's own
   BarcodeDetector reads the camera where it exists (Chrome on Android); elsewhere (iPhone
   Safari, Firefox) the vendored ZXing decoder (static/vendor/zxing-library, pure JS: no wasm,
   no eval) reads the same frames, loaded only when Scan is first used. The button shows
   wherever a camera API exists; typing always works. */
(function () {
  "use strict";

  var FORMATS = ["code_128", "code_39", "qr_code", "data_matrix", "ean_13", "upc_a", "itf"];
  var decoderSrc = "";
  var decoderLoading = null;

  function hasCamera() {
    return !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

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

  function fill(input, raw) {
    var form = input.form;
    var kindInput = form && form.querySelector('input[name="kind"]:checked');
    input.value = clean(raw, kindInput ? kindInput.value : "");
    input.dispatchEvent(new Event("input", { bubbles: true }));
    return input.value;
  }

  /* --- the fallback: ZXing over a canvas copy of the frame ---------------------------------- */

  function loadDecoder() {
    if (window.ZXing) return Promise.resolve(window.ZXing);
    if (decoderLoading) return decoderLoading;
    decoderLoading = new Promise(function (resolve, reject) {
      if (!decoderSrc) { reject(new Error("no decoder configured")); return; }
      var script = document.createElement("script");
      script.src = decoderSrc;
      script.async = true;
      script.addEventListener("load", function () {
        window.ZXing ? resolve(window.ZXing) : reject(new Error("decoder did not load"));
      });
      script.addEventListener("error", function () {
        decoderLoading = null;
        reject(new Error("decoder did not load"));
      });
      document.head.appendChild(script);
    });
    return decoderLoading;
  }

  function zxingReader(ZXing) {
    var hints = new Map();
    var F = ZXing.BarcodeFormat;
    hints.set(ZXing.DecodeHintType.POSSIBLE_FORMATS, [
      F.CODE_128, F.CODE_39, F.QR_CODE, F.DATA_MATRIX, F.EAN_13, F.UPC_A, F.ITF,
    ]);
    hints.set(ZXing.DecodeHintType.TRY_HARDER, true);
    var reader = new ZXing.MultiFormatReader();
    reader.setHints(hints);
    return reader;
  }

  /* Decode one still (an <img>, <canvas> or <video> frame) with ZXing: the text, or null. */
  function decodeFallback(source) {
    return loadDecoder().then(function (ZXing) {
      var width = source.videoWidth || source.naturalWidth || source.width;
      var height = source.videoHeight || source.naturalHeight || source.height;
      if (!width || !height) return null;
      var canvas = document.createElement("canvas");
      canvas.width = width;
      canvas.height = height;
      var context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(source, 0, 0, width, height);
      var bitmap = new ZXing.BinaryBitmap(
        new ZXing.HybridBinarizer(new ZXing.HTMLCanvasElementLuminanceSource(canvas))
      );
      try {
        return zxingReader(ZXing).decode(bitmap).getText();
      } catch (e) {
        return null; // no barcode in this frame (NotFound, checksum or format errors)
      }
    });
  }

  /* A detector: frame -> Promise of the text or null; native when the browser has one. */
  function makeDetector() {
    if (!("BarcodeDetector" in window)) return Promise.resolve(decodeFallback);
    var supported = BarcodeDetector.getSupportedFormats
      ? BarcodeDetector.getSupportedFormats()
      : Promise.resolve(FORMATS);
    return supported.then(function (formats) {
      var wanted = FORMATS.filter(function (f) { return formats.indexOf(f) >= 0; });
      var detector = new BarcodeDetector(wanted.length ? { formats: wanted } : undefined);
      return function (frame) {
        return detector.detect(frame).then(function (codes) {
          return codes.length ? codes[0].rawValue : null;
        });
      };
    });
  }

  /* Decode a still and fill the field with what it holds (the scanner does this per frame). */
  function scanImage(input, source) {
    return makeDetector().then(function (detect) { return detect(source); }).then(function (text) {
      return text ? fill(input, text) : null;
    });
  }

  function openScanner(input) {
    var dialog = document.createElement("dialog");
    dialog.className = "scanner";
    var title = document.createElement("p");
    title.className = "scanner-title";
    title.textContent = "Point the camera at the barcode on the new unit's label";
    var video = document.createElement("video");
    video.setAttribute("playsinline", "");
    video.muted = true;
    video.autoplay = true;
    var status = document.createElement("p");
    status.className = "scanner-status";
    status.setAttribute("aria-live", "polite");
    status.textContent = "Starting the camera…";
    var cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "btn btn-secondary btn-block";
    cancel.textContent = "Cancel — type it instead";
    dialog.append(title, video, status, cancel);
    document.body.appendChild(dialog);
    var stream = null;
    var stopped = false;

    function stop() {
      stopped = true;
      if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      if (dialog.open) dialog.close();
      dialog.remove();
      input.focus();
    }
    cancel.addEventListener("click", stop);
    dialog.addEventListener("cancel", stop);
    dialog.showModal();

    makeDetector().then(function (detect) {
      return navigator.mediaDevices
        .getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          status.textContent = "Looking for a barcode…";
          function look() {
            if (stopped) return;
            detect(video).then(function (text) {
              if (stopped) return;
              if (text) {
                fill(input, text);
                stop();
              } else {
                setTimeout(look, 250);
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
    if (!root || !root.querySelectorAll || !hasCamera()) return;
    root.querySelectorAll("[data-scan-for]").forEach(function (button) {
      if (button.dataset.decoderSrc) decoderSrc = button.dataset.decoderSrc;
      button.hidden = false;
      if (button.dataset.scanReady) return;
      button.dataset.scanReady = "1";
      button.addEventListener("click", function () {
        var input = document.getElementById(button.dataset.scanFor);
        if (input) openScanner(input);
      });
    });
  }

  window.iotadminScan = { clean: clean, decodeFallback: decodeFallback, scanImage: scanImage };

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.detail.elt); });
  if (document.readyState !== "loading") enhance(document);
})();
