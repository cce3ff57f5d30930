/* A section with data-poll="URL" re-reads itself from URL every 2 seconds and replaces its
   content in place (its status line is a live region, so a screen reader hears the progress), until
   the fresh copy no longer asks to be polled. Without this script the page offers a link that
   reloads it. */
(function () {
  "use strict";
  var section = document.querySelector("[data-poll]");
  if (!section || !window.fetch || !window.DOMParser) { return; }
  function poll() {
    fetch(section.getAttribute("data-poll"), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(section.id);
        if (!fresh) { return; }
        section.innerHTML = fresh.innerHTML;
        if (fresh.hasAttribute("data-poll")) { window.setTimeout(poll, 2000); }
        else { section.removeAttribute("data-poll"); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 2000);
})();
