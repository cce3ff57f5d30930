/* LTI helpers. Pages work without this script where they can; it only adds what needs JavaScript:
   LTI Platform Storage (lti.put_data / lti.get_data postMessages), auto-submitting forms, and the
   dynamic registration close message. */
(function () {
  "use strict";

  function storageFrame(target) {
    if (!target || target === "_parent") { return window.parent; }
    try { return window.parent.frames[target] || window.parent; } catch (e) { return window.parent; }
  }

  function ask(target, origin, message, timeoutMs) {
    return new Promise(function (resolve, reject) {
      var id = "postwise-" + Math.random().toString(36).slice(2);
      var timer = setTimeout(function () { cleanup(); reject(new Error("timeout")); }, timeoutMs || 3000);
      function listener(event) {
        if (event.origin !== origin || !event.data || event.data.message_id !== id) { return; }
        cleanup();
        if (event.data.error) { reject(new Error(event.data.error.message || "error")); } else { resolve(event.data); }
      }
      function cleanup() { clearTimeout(timer); window.removeEventListener("message", listener); }
      window.addEventListener("message", listener);
      message.message_id = id;
      storageFrame(target).postMessage(message, origin);
    });
  }

  function showFallback() {
    var fallback = document.getElementById("storage-fallback");
    if (fallback) { fallback.hidden = false; }
    var waiting = document.getElementById("storage-waiting");
    if (waiting) { waiting.hidden = true; }
  }

  var put = document.querySelector("[data-lti-storage-put]");
  if (put) {
    var data = put.dataset;
    ask(data.target, data.origin, { subject: "lti.put_data", key: "state_" + data.state, value: data.state })
      .then(function () { window.location.href = data.next; })
      .catch(function () { window.location.href = data.next; });  /* the cookie may still work */
  }

  var get = document.querySelector("[data-lti-storage-get]");
  if (get) {
    var g = get.dataset;
    ask(g.target, g.origin, { subject: "lti.get_data", key: "state_" + g.state })
      .then(function (answer) {
        if (answer.value === g.state) { get.submit(); } else { showFallback(); }
      })
      .catch(showFallback);
  }

  var autosubmit = document.querySelector("form[data-autosubmit]");
  if (autosubmit) { autosubmit.submit(); }

  var close = document.querySelector("[data-lti-close]");
  if (close) {
    (window.opener || window.parent).postMessage({ subject: "org.imsglobal.lti.close" }, "*");
  }
})();
