/* A page that answers a POST (the LMS's launch) takes its own address in the browser's history,
   so a reload or the Back button reads the page with GET instead of resending the launch, which
   the tool refuses (a launch is used once). Without this script the page works the same; only a
   reload would show "open the training again from your LMS". */
(function () {
  "use strict";
  var script = document.currentScript;
  var address = script && script.getAttribute("data-address");
  if (address && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", address);
  }
})();
