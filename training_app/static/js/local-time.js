/* Times the server wrote in UTC (<time data-local="time|datetime|date">) shown in the reader's
   own time zone and language. Without this script the page keeps saying the UTC time. */
(function () {
  "use strict";
  var lang = document.documentElement.lang || undefined;
  var styles = {
    time: { hour: "2-digit", minute: "2-digit", timeZoneName: "short" },
    datetime: { dateStyle: "medium", timeStyle: "short" },
    date: { dateStyle: "medium" }
  };
  var moments = document.querySelectorAll("time[data-local]");
  for (var i = 0; i < moments.length; i++) {
    var element = moments[i];
    var when = new Date(element.getAttribute("datetime"));
    var style = styles[element.getAttribute("data-local")];
    if (isNaN(when.getTime()) || !style) { continue; }
    try {
      element.textContent = new Intl.DateTimeFormat(lang, style).format(when);
      element.title = element.getAttribute("datetime");
    } catch (ignored) { /* an old browser keeps the UTC text */ }
  }
})();
