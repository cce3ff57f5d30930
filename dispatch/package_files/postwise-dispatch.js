/* Postwise dispatch package: the page an LMS opens as the course's SCO (SCORM 1.2 / 2004) or AU
 * (cmi5). It finds the LMS's runtime, asks the training service for a launch signed with this
 * package's secret, opens the training, and reports the tool's result back to the LMS.
 *
 * The tool's own records are the truth: this page only copies the result the server holds to the
 * LMS (score, passed or failed, completed), and sends it again on the next launch if the LMS did
 * not take it. No framework, no build step; modern browsers (fetch, WebCrypto, Promise).
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("postwise-config").textContent);
  var SIGNED = "postwise-dispatch-launch-v1";
  var CMI5 = "https://w3id.org/xapi/cmi5/context/categories/cmi5";
  var MOVE_ON = "https://w3id.org/xapi/cmi5/context/categories/moveon";
  var MASTERY = "https://w3id.org/xapi/cmi5/context/extensions/masteryscore";
  var VERBS = "http://adlnet.gov/expapi/verbs/";

  var TEXTS = {
    en: {
      connecting: "Connecting to the training…",
      noApi:
        "This course must be opened from your company's learning platform (LMS). This page could not " +
        "find the LMS's SCORM connection, so it cannot open the training or record your progress. " +
        "Go back to your LMS and open the course there.",
      noStart: "Your LMS's SCORM connection did not start. Close this course and open it again from your LMS.",
      noLearner:
        "Your LMS did not say who you are (its learner id is empty), so the training cannot record " +
        "anything for you. Ask your LMS administrator to check the course's settings.",
      noCmi5:
        "This course must be launched by your LMS: the cmi5 launch parameters are missing. " +
        "Go back to your LMS and open the course there.",
      cmi5Refused: "Your LMS refused to start this course (cmi5). Close it and open it again from your LMS.",
      unreachable: "The training service could not be reached. Check your connection and open the course again.",
      noCrypto:
        "This page needs a secure (https) connection to open the training. Ask your LMS administrator " +
        "to serve courses over https.",
      inFrame:
        "Your training is open below. Your LMS receives your result when you finish; keep this page open until then.",
      inWindow:
        "The training opens in a new window. Keep this page open: your LMS receives your result from here when you finish.",
      open: "Open the training",
      openElsewhere: "Open in a new window instead",
      popupBlocked: "Your browser blocked the new window. Allow pop-ups for this site and click the button again.",
      passed: "Done: you passed with %s/100. Your LMS has your result.",
      failed: "Your result, %s/100, was sent to your LMS.",
      notTaken: "Your LMS did not accept your result. It is sent again the next time you open this course.",
      ended: "This launch has ended. Open the course again from your LMS.",
      frameTitle: "Training",
    },
    es: {
      connecting: "Conectando con la capacitación…",
      noApi:
        "Este curso se abre desde la plataforma de aprendizaje (LMS) de tu empresa. Esta página no " +
        "encontró la conexión SCORM del LMS, así que no puede abrir la capacitación ni registrar tu " +
        "avance. Vuelve a tu LMS y abre el curso desde allí.",
      noStart: "La conexión SCORM de tu LMS no se inició. Cierra este curso y vuelve a abrirlo desde tu LMS.",
      noLearner:
        "Tu LMS no indicó quién eres (su identificador de participante está vacío), así que la " +
        "capacitación no puede registrar nada a tu nombre. Pide a la persona que administra tu LMS " +
        "que revise la configuración del curso.",
      noCmi5:
        "Este curso lo abre tu LMS: faltan los parámetros de inicio cmi5. Vuelve a tu LMS y abre el curso desde allí.",
      cmi5Refused: "Tu LMS no permitió iniciar este curso (cmi5). Ciérralo y vuelve a abrirlo desde tu LMS.",
      unreachable:
        "No se pudo conectar con el servicio de capacitación. Revisa tu conexión y vuelve a abrir el curso.",
      noCrypto:
        "Esta página necesita una conexión segura (https) para abrir la capacitación. Pide a la persona " +
        "que administra tu LMS que publique los cursos con https.",
      inFrame:
        "Tu capacitación está abierta abajo. Tu LMS recibe tu resultado cuando termines; mantén esta página abierta hasta entonces.",
      inWindow:
        "La capacitación se abre en una ventana nueva. Mantén esta página abierta: tu LMS recibe tu resultado desde aquí cuando termines.",
      open: "Abrir la capacitación",
      openElsewhere: "Abrir en una ventana nueva",
      popupBlocked:
        "Tu navegador bloqueó la ventana nueva. Permite las ventanas emergentes de este sitio y vuelve a hacer clic en el botón.",
      passed: "Listo: aprobaste con %s/100. Tu LMS ya tiene tu resultado.",
      failed: "Tu resultado, %s/100, se envió a tu LMS.",
      notTaken: "Tu LMS no aceptó tu resultado. Se enviará de nuevo la próxima vez que abras este curso.",
      ended: "Este inicio ya terminó. Vuelve a abrir el curso desde tu LMS.",
      frameTitle: "Capacitación",
    },
  };
  var language = "en";

  function chooseLanguage(preferred) {
    var candidates = [preferred || ""].concat(navigator.languages || [navigator.language || ""]);
    for (var i = 0; i < candidates.length; i += 1) {
      var base = String(candidates[i]).toLowerCase().split(/[-_]/)[0];
      if (TEXTS[base]) {
        language = base;
        return;
      }
    }
  }

  function t(key, value) {
    var text = TEXTS[language][key] || TEXTS.en[key];
    return value === undefined ? text : text.replace("%s", String(value));
  }

  // ---- the page ----------------------------------------------------------------------------

  var statusLine = document.getElementById("pw-status");
  var problemLine = document.getElementById("pw-problem");
  var actions = document.getElementById("pw-actions");
  var openButton = document.getElementById("pw-open");
  var trainingArea = document.getElementById("pw-training");

  function say(text) {
    statusLine.textContent = text;
    document.body.setAttribute("data-state", "working");
  }

  function refuse(text) {
    statusLine.hidden = true;
    problemLine.textContent = text;
    problemLine.hidden = false;
    actions.hidden = true;
    document.body.setAttribute("data-state", "refused");
  }

  function finished(text) {
    statusLine.textContent = text;
    document.body.setAttribute("data-state", "reported");
  }

  // ---- the training service ------------------------------------------------------------------

  function call(method, path, token, body, keepalive) {
    var headers = { Accept: "application/json" };
    if (body) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(config.server + path, {
      method: method,
      headers: headers,
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
      mode: "cors",
      keepalive: Boolean(keepalive),
    }).then(
      function (response) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (answer) {
            return { ok: response.ok, status: response.status, body: answer || {} };
          });
      },
      function () {
        throw new Error(t("unreachable"));
      }
    );
  }

  function base64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = "";
    for (var i = 0; i < bytes.length; i += 1) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function randomNonce() {
    var bytes = new Uint8Array(18);
    crypto.getRandomValues(bytes);
    return base64url(bytes.buffer);
  }

  function hmac(secret, text) {
    var encoder = new TextEncoder();
    return crypto.subtle
      .importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
      .then(function (key) {
        return crypto.subtle.sign("HMAC", key, encoder.encode(text));
      })
      .then(base64url);
  }

  function ancestorOrigins() {
    var origins = [location.origin];
    if (location.ancestorOrigins) {
      for (var i = 0; i < location.ancestorOrigins.length; i += 1) origins.push(location.ancestorOrigins[i]);
    } else if (document.referrer) {
      try {
        origins.push(new URL(document.referrer).origin);
      } catch (ignored) {}
    }
    return origins;
  }

  // Ask for a launch, signed with the package's secret. A learner whose clock is wrong gets one
  // more try with the server's time (the server says it when it refuses a stale timestamp).
  function requestLaunch(learnerId, learnerName, registration) {
    if (!window.crypto || !crypto.subtle || !window.TextEncoder) return Promise.reject(new Error(t("noCrypto")));
    function attempt(offset, retried) {
      var timestamp = String(Math.floor(Date.now() / 1000) + offset);
      var nonce = randomNonce();
      var text = [SIGNED, config.dispatchId, learnerId, learnerName, timestamp, nonce].join("\n");
      return hmac(config.secret, text)
        .then(function (signature) {
          return call("POST", "/dispatch/api/launches", null, {
            dispatch_id: config.dispatchId,
            learner_id: learnerId,
            learner_name: learnerName,
            timestamp: timestamp,
            nonce: nonce,
            signature: signature,
            registration: registration || null,
            frame_origins: ancestorOrigins(),
          });
        })
        .then(function (answer) {
          if (answer.ok) return answer.body;
          var serverTime = answer.body.errors && answer.body.errors.server_time;
          if (answer.body.code === "stale_launch" && serverTime && !retried) {
            return attempt(serverTime - Math.floor(Date.now() / 1000), true);
          }
          throw new Error(answer.body.message || t("unreachable"));
        });
    }
    return attempt(0, false);
  }

  // ---- opening the training and following its result -----------------------------------------

  function openTraining(launch, onResult) {
    var follower = follow(launch, onResult);
    openButton.onclick = function () {
      openInWindow(launch);
    };
    actions.hidden = false;
    if (config.opensIn === "window") {
      openButton.textContent = t("open");
      say(t("inWindow"));
      return;
    }
    openButton.textContent = t("openElsewhere");
    openButton.className = "secondary";
    var frame = document.createElement("iframe");
    frame.id = "pw-frame";
    frame.title = t("frameTitle");
    frame.allow = "fullscreen";
    frame.src = launch.enter_url;
    frame.addEventListener("load", follower.now); // each page the learner opens: the result may be there
    trainingArea.appendChild(frame);
    say(t("inFrame"));
  }

  function openInWindow(launch) {
    var opened = window.open("", "postwise-training"); // now, while the click allows a window
    if (!opened) {
      say(t("popupBlocked"));
      return;
    }
    call("POST", "/dispatch/api/launch/enter", launch.token).then(
      function (answer) {
        if (!answer.ok) {
          opened.close();
          refuse(answer.body.message || t("ended"));
          return;
        }
        opened.location.href = answer.body.enter_url;
        var frame = document.getElementById("pw-frame");
        if (frame) frame.remove();
        say(t("inWindow"));
      },
      function (error) {
        opened.close();
        refuse(error.message);
      }
    );
  }

  function follow(launch, onResult) {
    var busy = false;
    var stopped = false;
    var timer = null;

    function schedule() {
      clearTimeout(timer);
      if (!stopped) timer = setTimeout(check, config.pollSeconds * 1000);
    }

    function check() {
      if (busy || stopped) return;
      busy = true;
      call("GET", "/dispatch/api/launch", launch.token)
        .then(function (answer) {
          if (answer.ok) {
            if (answer.body.result) onResult(answer.body.result);
          } else if (answer.status === 401 || answer.status === 410) {
            stopped = true;
            refuse(answer.body.message || t("ended"));
          }
        })
        .catch(function () {}) // offline for a moment: the next check tries again
        .then(function () {
          busy = false;
          schedule();
        });
    }

    window.addEventListener("focus", check);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") check();
    });
    schedule();
    return { now: check };
  }

  function acknowledge(launch, result) {
    return call("POST", "/dispatch/api/launch/reported", launch.token, { completion_id: result.completion_id });
  }

  function secondsSince(start) {
    return Math.max(0, Math.round((Date.now() - start) / 1000));
  }

  // ---- SCORM ---------------------------------------------------------------------------------

  // The standard search (ADL's): this window and its parents, then the opener and its parents.
  function findApi(name) {
    function scan(win) {
      try {
        for (var tries = 0; win && tries < 500; tries += 1) {
          if (win[name]) return win[name];
          if (!win.parent || win.parent === win) return null;
          win = win.parent;
        }
      } catch (ignored) {} // another site's window: the search stops there
      return null;
    }
    var api = scan(window);
    if (!api && window.opener) api = scan(window.opener);
    if (!api) {
      try {
        if (window.top.opener) api = scan(window.top.opener);
      } catch (ignored) {}
    }
    return api;
  }

  function pad(number, width) {
    var text = String(number);
    while (text.length < width) text = "0" + text;
    return text;
  }

  function scorm12(api) {
    var runtime = {
      start: function () {
        return String(api.LMSInitialize("")) === "true";
      },
      get: function (element) {
        return String(api.LMSGetValue(element) || "");
      },
      set: function (element, value) {
        return String(api.LMSSetValue(element, String(value))) === "true";
      },
      commit: function () {
        return String(api.LMSCommit("")) === "true";
      },
      finish: function () {
        api.LMSFinish("");
      },
      learner: function () {
        return { id: runtime.get("cmi.core.student_id"), name: runtime.get("cmi.core.student_name") };
      },
      language: function () {
        return runtime.get("cmi.student_preference.language");
      },
      markStarted: function () {
        var status = runtime.get("cmi.core.lesson_status");
        if (status === "" || status === "not attempted" || status === "browsed") {
          runtime.set("cmi.core.lesson_status", "incomplete");
        }
        return runtime.commit();
      },
      report: function (result, seconds) {
        var ok =
          runtime.set("cmi.core.score.min", 0) &&
          runtime.set("cmi.core.score.max", 100) &&
          runtime.set("cmi.core.score.raw", result.score) &&
          runtime.set("cmi.core.lesson_status", result.passed ? "passed" : "failed");
        runtime.set("cmi.core.session_time", sessionTime12(seconds));
        return runtime.commit() && ok;
      },
      close: function (done, seconds) {
        runtime.set("cmi.core.session_time", sessionTime12(seconds));
        runtime.set("cmi.core.exit", done ? "" : "suspend");
        runtime.commit();
        runtime.finish();
      },
    };
    return runtime;
  }

  function sessionTime12(seconds) {
    var hours = Math.min(9999, Math.floor(seconds / 3600));
    return pad(hours, 2) + ":" + pad(Math.floor(seconds / 60) % 60, 2) + ":" + pad(seconds % 60, 2);
  }

  function scorm2004(api) {
    var runtime = {
      start: function () {
        return String(api.Initialize("")) === "true";
      },
      get: function (element) {
        return String(api.GetValue(element) || "");
      },
      set: function (element, value) {
        return String(api.SetValue(element, String(value))) === "true";
      },
      commit: function () {
        return String(api.Commit("")) === "true";
      },
      finish: function () {
        api.Terminate("");
      },
      learner: function () {
        return { id: runtime.get("cmi.learner_id"), name: runtime.get("cmi.learner_name") };
      },
      language: function () {
        return runtime.get("cmi.learner_preference.language");
      },
      markStarted: function () {
        var status = runtime.get("cmi.completion_status");
        if (status === "" || status === "unknown" || status === "not attempted") {
          runtime.set("cmi.completion_status", "incomplete");
        }
        return runtime.commit();
      },
      report: function (result, seconds) {
        var ok =
          runtime.set("cmi.score.min", 0) &&
          runtime.set("cmi.score.max", 100) &&
          runtime.set("cmi.score.raw", result.score) &&
          runtime.set("cmi.score.scaled", result.score / 100) &&
          runtime.set("cmi.success_status", result.passed ? "passed" : "failed") &&
          runtime.set("cmi.completion_status", "completed");
        runtime.set("cmi.session_time", duration(seconds));
        return runtime.commit() && ok;
      },
      close: function (done, seconds) {
        runtime.set("cmi.session_time", duration(seconds));
        runtime.set("cmi.exit", done ? "normal" : "suspend");
        runtime.commit();
        runtime.finish();
      },
    };
    return runtime;
  }

  function duration(seconds) {
    return "PT" + Math.floor(seconds / 3600) + "H" + (Math.floor(seconds / 60) % 60) + "M" + (seconds % 60) + "S";
  }

  function runScorm() {
    var api = findApi(config.format === "scorm12" ? "API" : "API_1484_11");
    if (!api) return refuse(t("noApi"));
    var lms = config.format === "scorm12" ? scorm12(api) : scorm2004(api);
    if (!lms.start()) return refuse(t("noStart"));
    var started = Date.now();
    var reportedId = null;
    var closed = false;
    chooseLanguage(lms.language());
    say(t("connecting"));
    var learner = lms.learner();
    if (!learner.id.trim()) {
      lms.finish();
      return refuse(t("noLearner"));
    }

    function report(launch, result) {
      if (result.completion_id === reportedId) return;
      reportedId = result.completion_id;
      if (!lms.report(result, secondsSince(started))) return say(t("notTaken"));
      acknowledge(launch, result);
      finished(t(result.passed ? "passed" : "failed", result.score));
    }

    window.addEventListener("pagehide", function () {
      if (closed) return;
      closed = true;
      lms.close(reportedId !== null, secondsSince(started));
    });

    requestLaunch(learner.id.trim(), learner.name, null).then(
      function (launch) {
        openTraining(launch, function (result) {
          report(launch, result);
        });
        if (launch.result) report(launch, launch.result); // sent again: the LMS may have missed it
        else lms.markStarted();
      },
      function (error) {
        closed = true;
        lms.finish(); // nothing was reported
        refuse(error.message);
      }
    );
  }

  // ---- cmi5 ----------------------------------------------------------------------------------

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map
      .call(bytes, function (b) {
        return pad(b.toString(16), 2);
      })
      .join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  function cmi5Session(params, actor) {
    var token = null;
    var launchData = {};
    var started = Date.now();
    var headers = function () {
      return {
        Authorization: "Basic " + token,
        "X-Experience-API-Version": "1.0.3",
        "Content-Type": "application/json",
      };
    };
    var endpoint = params.endpoint.replace(/\/?$/, "/");

    function statement(verb, result, moveOn) {
      var context = JSON.parse(JSON.stringify(launchData.contextTemplate || {}));
      context.registration = params.registration;
      context.contextActivities = context.contextActivities || {};
      var category = (context.contextActivities.category || []).slice();
      category.push({ id: CMI5, objectType: "Activity" });
      if (moveOn) category.push({ id: MOVE_ON, objectType: "Activity" });
      context.contextActivities.category = category;
      if (moveOn && typeof launchData.masteryScore === "number") {
        context.extensions = context.extensions || {};
        context.extensions[MASTERY] = launchData.masteryScore;
      }
      var made = {
        id: uuid(),
        timestamp: new Date().toISOString(),
        actor: actor,
        verb: { id: VERBS + verb, display: { "en-US": verb } },
        object: { id: params.activityId, objectType: "Activity" },
        context: context,
      };
      if (result) made.result = result;
      return made;
    }

    var session = {
      start: function () {
        return fetch(params.fetch, { method: "POST", credentials: "omit" })
          .then(function (response) {
            return response.json();
          })
          .then(function (answer) {
            if (!answer || !answer["auth-token"]) throw new Error(t("cmi5Refused"));
            token = answer["auth-token"];
            var query = new URLSearchParams({
              stateId: "LMS.LaunchData",
              activityId: params.activityId,
              agent: JSON.stringify(actor),
              registration: params.registration,
            });
            return fetch(endpoint + "activities/state?" + query.toString(), { headers: headers() });
          })
          .then(function (response) {
            if (!response.ok) throw new Error(t("cmi5Refused"));
            return response.json();
          })
          .then(function (data) {
            launchData = data || {};
          })
          .catch(function (error) {
            throw new Error(error && error.message && error.message.indexOf(" ") > 0 ? error.message : t("cmi5Refused"));
          });
      },
      send: function (verb, result, moveOn, keepalive) {
        return fetch(endpoint + "statements", {
          method: "POST",
          headers: headers(),
          body: JSON.stringify(statement(verb, result, moveOn)),
          keepalive: Boolean(keepalive),
        }).then(function (response) {
          return response.ok;
        });
      },
      normalMode: function () {
        return (launchData.launchMode || "Normal") === "Normal";
      },
      elapsed: function () {
        return duration(secondsSince(started));
      },
      // The tool passed or failed the learner: passed (or failed, under the LMS's mastery score)
      // with the score, then completed for a pass; nothing outside Normal mode (Browse, Review).
      report: function (result) {
        if (!session.normalMode()) return Promise.resolve(true);
        var scaled = result.score / 100;
        var mastery = launchData.masteryScore;
        var passed = result.passed && (typeof mastery !== "number" || scaled >= mastery);
        var score = { scaled: scaled, raw: result.score, min: 0, max: 100 };
        var outcome = { success: passed, score: score, duration: session.elapsed() };
        return session.send(passed ? "passed" : "failed", outcome, true).then(function (ok) {
          if (!ok || !passed) return ok;
          return session.send("completed", { completion: true, duration: session.elapsed() }, true);
        });
      },
    };
    return session;
  }

  function runCmi5() {
    var query = new URLSearchParams(location.search);
    var params = {};
    var names = ["endpoint", "fetch", "actor", "registration", "activityId"];
    for (var i = 0; i < names.length; i += 1) {
      params[names[i]] = query.get(names[i]);
      if (!params[names[i]]) return refuse(t("noCmi5"));
    }
    var actor;
    try {
      actor = JSON.parse(params.actor);
    } catch (ignored) {
      return refuse(t("noCmi5"));
    }
    var learnerId = (actor && actor.account && actor.account.name) || "";
    var learnerName = (actor && actor.name) || "";
    var lrs = cmi5Session(params, actor);
    var reportedId = null;
    var initialized = false;
    var terminated = false;
    say(t("connecting"));

    function report(launch, result) {
      if (result.completion_id === reportedId) return;
      reportedId = result.completion_id;
      lrs.report(result).then(function (ok) {
        if (!ok) return say(t("notTaken"));
        acknowledge(launch, result);
        finished(t(result.passed ? "passed" : "failed", result.score));
      });
    }

    window.addEventListener("pagehide", function () {
      if (!initialized || terminated) return;
      terminated = true;
      lrs.send("terminated", { duration: lrs.elapsed() }, false, true);
    });

    lrs
      .start()
      .then(function () {
        if (!learnerId.trim()) throw new Error(t("noLearner"));
        return requestLaunch(learnerId.trim(), learnerName, params.registration);
      })
      .then(function (launch) {
        return lrs.send("initialized").then(function () {
          initialized = true;
          openTraining(launch, function (result) {
            report(launch, result);
          });
          if (!launch.result) return;
          if (!launch.reported) return report(launch, launch.result); // a result the LMS has not had
          reportedId = launch.result.completion_id; // this registration has it: no second statement
          finished(t(launch.result.passed ? "passed" : "failed", launch.result.score));
        });
      })
      .catch(function (error) {
        refuse(error.message);
      });
  }

  chooseLanguage(document.documentElement.lang === "en" ? "" : document.documentElement.lang);
  say(t("connecting"));
  if (config.format === "cmi5") runCmi5();
  else runScorm();
})();
