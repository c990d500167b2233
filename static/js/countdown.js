/* Countdown to a verifyCode's expiry. Reads data-expires-at and data-server-now (ISO, from the
   server) so a wrong phone clock does not matter; ticks locally; the server decides the state.
   Screen readers hear the time left once at 60, 30 and 10 s (a polite live region updated only
   then, [data-countdown-announce]); the "until" time ([data-local-time]) is shown in the
   browser's zone, named, when it can be (the server already rendered it in the site's zone). */
(function () {
  "use strict";

  var ANNOUNCE_AT = [60, 30, 10];

  function announcement(seconds) {
    return seconds === 60 ? "1 minute left" : seconds + " seconds left";
  }

  function localTime(timeEl) {
    if (timeEl.dataset.localized || typeof Intl === "undefined" || !Intl.DateTimeFormat) return;
    var moment = new Date(timeEl.getAttribute("datetime"));
    if (isNaN(moment.getTime())) return;
    try {
      timeEl.textContent = new Intl.DateTimeFormat(undefined, {
        hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
        timeZoneName: "short"
      }).format(moment);
      timeEl.dataset.localized = "1";
    } catch (e) { /* keep the server's text */ }
  }

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
    var announcer = el.querySelector("[data-countdown-announce]");
    var timer = null;
    var pending = null; /* thresholds still ahead; set on the first tick */
    el.querySelectorAll("time[data-local-time]").forEach(localTime);

    function announce(left) {
      if (pending === null) {
        pending = ANNOUNCE_AT.filter(function (mark) { return mark < left; });
        return;
      }
      var crossed = pending.filter(function (mark) { return left <= mark; });
      if (!crossed.length) return;
      pending = pending.filter(function (mark) { return left > mark; });
      if (announcer) announcer.textContent = announcement(Math.min.apply(null, crossed));
    }

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
      announce(left);
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
