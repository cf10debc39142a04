// Portal enhancements; every page works without them. Loaded from 'self' (strict CSP).
(function () {
  "use strict";

  function human(seconds) {
    if (seconds <= 0) { return "expired"; }
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var parts = [];
    if (h) { parts.push(h + " h"); }
    if (h || m) { parts.push(m + " min"); }
    parts.push(s + " s");
    return parts.join(" ") + " left";
  }

  // Live expiry countdowns: <span data-expires="epoch seconds">.
  function tick() {
    var now = Math.floor(Date.now() / 1000);
    document.querySelectorAll("[data-expires]").forEach(function (el) {
      var left = parseInt(el.getAttribute("data-expires"), 10) - now;
      el.textContent = human(left);
      el.classList.toggle("expired", left <= 0);
      el.classList.toggle("expiring", left > 0 && left < 300);
    });
  }

  // Copy buttons: <button class="copy" data-copy="element id" hidden>.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "offscreen";
      document.body.appendChild(area);
      area.select();
      var ok = document.execCommand("copy");
      document.body.removeChild(area);
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  function setUpCopy() {
    var status = document.getElementById("copy-status");
    document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy"));
        if (!target) { return; }
        var label = button.getAttribute("aria-describedby");
        var name = label ? document.getElementById(label).textContent : "Text";
        copyText(target.textContent).then(function () {
          button.textContent = "Copied";
          if (status) { status.textContent = name + " copied to the clipboard."; }
          setTimeout(function () { button.textContent = "Copy"; }, 2000);
        }, function () {
          if (status) { status.textContent = "Copying failed: select the text and copy it."; }
        });
      });
    });
  }

  // Live role filter; the same form works without JavaScript as a GET query.
  function setUpFilter() {
    var input = document.getElementById("role-filter");
    var status = document.getElementById("filter-status");
    if (!input) { return; }
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      var shown = 0;
      document.querySelectorAll("tr.role").forEach(function (row) {
        var match = !q || (row.getAttribute("data-search") || "").indexOf(q) !== -1;
        row.hidden = !match;
        if (match) { shown += 1; }
      });
      document.querySelectorAll("section.account").forEach(function (section) {
        section.hidden = !section.querySelector("tr.role:not([hidden])");
      });
      if (status) {
        status.textContent = q ? shown + (shown === 1 ? " role matches." : " roles match.") : "";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpCopy();
    setUpFilter();
    if (document.querySelector("[data-expires]")) {
      tick();
      setInterval(tick, 1000);
    }
  });
})();
