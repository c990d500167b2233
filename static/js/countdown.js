/* Countdown to a verifyCode's expiry. Reads data-expires-at and data-server-now (ISO, from the
   server) so a wrong phone clock does not matter; ticks locally; the server decides the state. */
(function () {
  "use strict";

  function format(seconds) {
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var mm = String(m).padStart(2, "0");
    var ss = String(s).padStart(2, "0");
    return h > 0 ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }

  function start(el) {
    if (el.dataset.countdownStarted) return;
    var expiresAt = Date.parse(el.dataset.expiresAt);
    var serverNow = Date.parse(el.dataset.serverNow);
    if (isNaN(expiresAt) || isNaN(serverNow)) return;
    el.dataset.countdownStarted = "1";
    var offset = serverNow - Date.now(); /* add to the local clock to get the server's */
    var out = el.querySelector("[data-countdown-value]") || el;
    var timer = null;

    function tick() {
      if (!el.isConnected) { clearInterval(timer); return; }
      var left = Math.ceil((expiresAt - (Date.now() + offset)) / 1000);
      if (left <= 0) {
        el.classList.remove("is-urgent");
        el.classList.add("is-expired");
        out.textContent = el.dataset.expiredText || "expired";
        clearInterval(timer);
        return;
      }
      el.classList.toggle("is-urgent", left < 30);
      el.dataset.secondsLeft = String(left);
      out.textContent = format(left);
    }

    tick();
    timer = setInterval(tick, 250);
  }

  function scan(root) {
    if (!root || !root.querySelectorAll) return;
    if (root.matches && root.matches("[data-expires-at]")) start(root);
    root.querySelectorAll("[data-expires-at]").forEach(start);
  }

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (event) { scan(event.detail.elt); });
  if (document.readyState !== "loading") scan(document);
})();
