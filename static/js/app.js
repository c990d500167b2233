/* Small enhancements; every page works without them. */
(function () {
  "use strict";

  /* --- Copy button: navigator.clipboard, falling back to a selection + execCommand. --- */
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(area);
      ok ? resolve() : reject(new Error("copy failed"));
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copyTarget);
    if (!source) return;
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    copyText(source.textContent.trim()).then(function () {
      button.textContent = "Copied ✓";
    }, function () {
      button.textContent = "Select the code and copy it";
    }).then(function () {
      setTimeout(function () { button.textContent = label; }, 2500);
    });
  });

  /* --- The swap form: show what applies to the chosen options. --- */
  function checkedValue(form, name) {
    var input = form.querySelector('input[name="' + name + '"]:checked');
    return input ? input.value : "";
  }

  /* The one-line summary of the inferred choices ("IMEI · HiSilicon · code same as the IMEI ·
     valid 3 min"), from the words each radio carries (data-summary, data-noun); the server
     writes the same line for the first rendering (SwapForm.choices_summary). */
  function checkedInput(form, name) {
    return form.querySelector('input[name="' + name + '"]:checked');
  }

  function choicesSummary(form, line) {
    var kind = checkedInput(form, "kind");
    var parts = [kind ? kind.dataset.summary : "kind not chosen"];
    if (kind && kind.value === "imei") {
      var chipset = checkedInput(form, "chipset");
      parts.push(chipset ? chipset.dataset.summary : line.dataset.chipsetUnknown);
    }
    var mode = checkedInput(form, "verify_code_mode");
    var noun = kind ? kind.dataset.noun : "identifier";
    parts.push(mode ? mode.dataset.summary.replace("{noun}", noun) : "code not chosen");
    var validity = checkedValue(form, "validity");
    var minutes = validity;
    if (validity === "other") {
      var typed = form.querySelector('input[name="validity_minutes"]');
      minutes = typed && /^\d+$/.test(typed.value.trim()) && Number(typed.value) > 0 ? String(Number(typed.value)) : "";
    }
    if (validity === "never") parts.push("never expires");
    else parts.push(minutes ? "valid " + minutes + " min" : "validity not chosen");
    return parts.join(" · ");
  }

  function syncForm(form) {
    var kind = checkedValue(form, "kind");
    var mode = checkedValue(form, "verify_code_mode");
    var validity = checkedValue(form, "validity");
    form.querySelectorAll("[data-show-when-kind]").forEach(function (el) {
      el.hidden = el.dataset.showWhenKind !== kind;
    });
    form.querySelectorAll("[data-show-when-mode]").forEach(function (el) {
      el.hidden = el.dataset.showWhenMode !== mode;
    });
    form.querySelectorAll("[data-show-when-validity]").forEach(function (el) {
      el.hidden = el.dataset.showWhenValidity !== validity;
    });
    form.querySelectorAll("[data-warn-when-never]").forEach(function (el) {
      el.hidden = validity !== "never";
    });
    var identifier = form.querySelector('input[name="new_identifier"]');
    if (identifier) identifier.inputMode = kind === "imei" ? "numeric" : "text";
    var line = form.querySelector("#choices-summary");
    if (line) line.textContent = choicesSummary(form, line);
  }

  function enhance(root) {
    if (!root || !root.querySelectorAll) return;
    root.querySelectorAll("[data-copy-target][hidden]").forEach(function (button) {
      button.hidden = false;
    });
    var forms = root.matches && root.matches(".swap-form") ? [root] : root.querySelectorAll(".swap-form");
    forms.forEach(syncForm);
    /* Folded on a phone, open where there is room (without JS: folded everywhere). */
    root.querySelectorAll("details[data-open-when-wide]").forEach(function (details) {
      if (window.matchMedia && window.matchMedia("(min-width: 640px)").matches) details.open = true;
    });
  }

  /* The preview read the identifier as another kind (a MAC typed with IMEI chosen): follow it,
     and say so next to the kind until the person picks a kind again. */
  function followDetectedKind(preview) {
    var hint = preview.querySelector("[data-set-kind]");
    var form = preview.closest(".swap-form");
    if (!form) return;
    /* A choice only the person can make (an IMEI's chip maker): open the choices. */
    var choices = form.querySelector("#form-choices");
    if (choices && preview.querySelector("[data-needs-choice]")) choices.open = true;
    if (!hint) return;
    var radio = form.querySelector('input[name="kind"][value="' + hint.dataset.setKind + '"]');
    if (!radio || radio.checked) return;
    radio.checked = true;
    var note = document.getElementById("kind-note");
    if (note) {
      note.textContent = hint.textContent;
      note.hidden = false;
    }
    syncForm(form);
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.id === "node-preview") followDetectedKind(target);
  });

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest(".swap-form");
    if (!form) return;
    if (event.target.name === "kind") {
      var note = document.getElementById("kind-note");
      if (note) note.hidden = true;
    }
    syncForm(form);
  });
  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest(".swap-form");
    if (form && event.target.name === "validity_minutes") syncForm(form);
  });

  /* --- After a form's htmx submit, the error summary it came back with (role="alert",
     tabindex="-1", data-error-summary) takes the focus and is scrolled into view: the
     person sees and hears what to fix instead of a tap that seemed to do nothing. Polling and
     the live preview (not forms) never move the focus. --- */
  document.addEventListener("htmx:afterSettle", function (event) {
    var config = event.detail.requestConfig;
    var source = config && config.elt;
    if (!source || source.tagName !== "FORM") return;
    var target = event.detail.target;
    if (!target || !target.isConnected) target = document.getElementById(source.id) || document.body;
    var summary = target.matches && target.matches("[data-error-summary]")
      ? target
      : target.querySelector("[data-error-summary]");
    if (!summary) summary = target.querySelector('[aria-invalid="true"]');
    if (!summary) return;
    summary.focus({ preventScroll: true });
    summary.scrollIntoView({ block: "center" });
  });

  /* --- htmx errors become a visible, plain message instead of silence. --- */
  function banner(text) {
    var el = document.getElementById("htmx-problem");
    if (!el) {
      el = document.createElement("p");
      el.id = "htmx-problem";
      el.className = "alert alert-floating";
      el.setAttribute("role", "alert");
      document.body.appendChild(el);
    }
    el.textContent = text;
    clearTimeout(el._hide);
    el._hide = setTimeout(function () { el.remove(); }, 8000);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403) banner("You are not allowed to do that. Reload the page or sign in again.");
    else if (status === 404) banner("That item no longer exists. Reload the page.");
    else if (status === 503) banner("The service is temporarily unavailable; your swap is safe. Try again in a minute.");
    else banner("The server had a problem (" + status + "). Try again in a moment.");
  });
  document.addEventListener("htmx:sendError", function () {
    banner("No connection to the server. Check your signal; the page retries by itself.");
  });

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.detail.elt); });
  if (document.readyState !== "loading") enhance(document);
})();
