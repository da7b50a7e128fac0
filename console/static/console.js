/* The agent's console (/agente): presence, the offered caller's screen pop, the softphone,
 * call controls, transfers, wrap-up and callbacks. Plain browser JavaScript, no build step.
 *
 * State comes from GET /agente/api/estado at load (and after every reconnect), then from the
 * live process's server-sent events on the agent's topic: `state` (presence), `offer` (the
 * screen pop), `leg` (a transfer leg's progress) and `call` (the call's progress).
 *
 * THE TEST SEAM. The page creates its softphone only through
 *     window.RedSoftphone.createDevice(token, options)
 * which returns a Twilio Voice SDK Device (`new Twilio.Device(token, options)`). A test replaces
 * it with a double before this script runs (Playwright `page.add_init_script`), e.g.
 *     window.RedSoftphone = { createDevice: (token, options) => myFakeDevice };
 * The double must offer what the page uses of a Device: on(event, fn) for "registered",
 * "unregistered", "error", "incoming", "tokenWillExpire"; register(); updateToken(token);
 * connect({params}) → Promise<Call>; and calls with on("accept" | "disconnect" | "cancel" |
 * "reject" | "error", fn), accept(), reject(), disconnect(), mute(bool), isMuted(),
 * sendDigits(digits). Nothing else in the page touches the SDK.
 */
(function () {
  "use strict";

  window.RedSoftphone = window.RedSoftphone || {
    createDevice: function (token, options) {
      return new window.Twilio.Device(token, options);
    },
  };

  var D = JSON.parse(document.getElementById("consola-datos").textContent);
  var API = D.urls.api;
  var $ = function (id) { return document.getElementById(id); };

  var S = {
    presence: null,      // the `state` event's data
    clockSkew: 0,        // server ms - browser ms
    offer: null,         // the screen pop shown
    call: null,          // {call_sid, since, held, muted}
    deviceCall: null,    // the SDK Call of the softphone
    device: null,
    transfer: null,      // {organo, legs: {leg: {rol, estado}}}
    wrapPending: null,   // call_sid whose wrap-up form is open
    ringTimer: null,
    source: null,
  };

  // --- helpers -------------------------------------------------------------------------

  function now() { return Date.now() + S.clockSkew; }

  function mmss(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(r).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  function say(text, kind) {
    var box = $("aviso");
    if (!text) { box.hidden = true; box.textContent = ""; return; }
    box.className = "flash " + (kind || "error");
    box.textContent = text;
    box.hidden = false;
  }

  function text(id, value) { $(id).textContent = value == null || value === "" ? "—" : value; }

  function request(method, url, body) {
    var options = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": D.csrf },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (resp) {
      return resp.text().then(function (raw) {
        var data = null;
        try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
        if (!resp.ok) {
          var message = (data && data.error) || ("El servidor respondió " + resp.status + ".");
          var err = new Error(message);
          err.status = resp.status;
          throw err;
        }
        return data;
      });
    }, function () {
      throw new Error("Sin conexión con el servidor: revise la red e intente de nuevo.");
    });
  }

  function callApi(path, body) {
    if (!S.call && !S.offer) return Promise.reject(new Error("No hay una llamada en curso."));
    var sid = (S.call || S.offer).call_sid;
    return request("POST", API + "/llamada/" + encodeURIComponent(sid) + path, body || {});
  }

  function guarded(promise, done) {
    return promise.then(function (data) { say(""); if (done) done(data); return data; },
      function (err) { say(err.message); });
  }

  // --- presence ------------------------------------------------------------------------

  function applyPresence(p) {
    S.presence = p;
    var badge = $("estado-actual");
    badge.dataset.estado = p.estado;
    badge.textContent = D.estados[p.estado] || p.estado;
    var motivo = p.motivo ? (D.motivos[p.motivo] || p.motivo) : "";
    $("estado-motivo").textContent = motivo ? "(" + motivo + ")" : "";
    $("btn-disponible").disabled = p.estado === "available" || p.estado === "ringing" || p.estado === "on_call";
    $("btn-pausa").disabled = p.estado === "ringing" || p.estado === "on_call";
    $("btn-desconectar").disabled = p.estado === "ringing" || p.estado === "on_call" || p.estado === "offline";
    if (p.estado === "wrap_up" && S.call) endCall("cierre");
    if ((p.estado === "available" || p.estado === "offline" || p.estado === "paused") && S.offer && !S.call) {
      hideOffer();
    }
    tick();
  }

  function setState(estado, motivo) {
    guarded(request("POST", D.urls.estado, { estado: estado, motivo: motivo || null }), function (snap) {
      applySnapshot(snap);
    });
  }

  function tick() {
    var p = S.presence;
    if (p) {
      $("estado-tiempo").textContent = mmss(now() - p.desde_ms);
      var wrap = p.estado === "wrap_up" && p.fin_cierre_ms;
      $("cierre-cuenta").hidden = !wrap;
      if (wrap) {
        var left = Math.max(0, Math.ceil((p.fin_cierre_ms - now()) / 1000));
        $("cierre-seg").textContent = String(left);
        if (left === 0 && !S.refetching) {
          S.refetching = true;  // the engine makes the agent available: ask what it decided
          setTimeout(function () { S.refetching = false; loadSnapshot(); }, 1500);
        }
      }
    }
    if (S.offer && !S.call) {
      $("pop-espera").textContent = mmss(now() - S.offer.llegada_ms);
      if (S.offer.timbre_fin) {
        var ring = Math.max(0, Math.ceil((S.offer.timbre_fin - Date.now()) / 1000));
        $("oferta-timbre").textContent = ring > 0 ? "(timbra " + ring + " s más)" : "(sin respuesta)";
      }
    }
    if (S.call) $("llamada-tiempo").textContent = mmss(Date.now() - S.call.since);
  }

  // --- the screen pop ------------------------------------------------------------------

  function showOffer(o) {
    var fresh = !S.offer || S.offer.call_sid !== o.call_sid;
    S.offer = o;
    if (fresh) o.timbre_fin = Date.now() + (o.timbre_seg || D.timbre_seg) * 1000;
    else o.timbre_fin = S.offer.timbre_fin || Date.now() + (o.timbre_seg || D.timbre_seg) * 1000;
    $("oferta").hidden = false;
    $("oferta").dataset.callSid = o.call_sid;
    $("oferta-titulo").textContent = S.call ? "Usuario en línea" : "Llamada entrante";
    text("pop-telefono", o.telefono);
    text("pop-region", o.region);
    text("pop-idioma", o.idioma + (o.interprete ? " (con intérprete)" : ""));
    text("pop-tipo", o.tipo_usuario);
    var prioridad = o.preferencial ? "Preferencial: " + o.preferencial : (o.autoridad ? "Autoridad" : "Normal");
    text("pop-prioridad", prioridad);
    text("pop-consulta", o.consulta);
    text("pop-expediente", o.expediente);
    text("pop-organo", o.organo ? o.organo.sigla + (o.organo.nombre ? " · " + o.organo.nombre : "") : null);
    var ruta = $("pop-ruta");
    ruta.textContent = "";
    (o.ruta_menu || []).forEach(function (step) {
      var li = document.createElement("li"); li.textContent = step; ruta.appendChild(li);
    });
    $("pop-resumen").hidden = !o.tiene_resumen;
    if (o.tiene_resumen) {
      var src = D.urls.resumen.replace("__SID__", encodeURIComponent(o.call_sid));
      if ($("pop-audio").getAttribute("src") !== src) $("pop-audio").setAttribute("src", src);
    }
    var body = $("pop-previas").querySelector("tbody");
    body.textContent = "";
    (o.llamadas_previas || []).forEach(function (c) {
      var tr = document.createElement("tr");
      [c.fecha + " " + c.hora, c.tipo_consulta, c.detalle, c.resultado, c.atendido_por].forEach(function (v) {
        var td = document.createElement("td"); td.textContent = v || "—"; tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    $("pop-sin-previas").hidden = (o.llamadas_previas || []).length > 0;
    var dev = $("pop-devoluciones");
    dev.textContent = "";
    (o.devoluciones_pendientes || []).forEach(function (d) {
      var li = document.createElement("li");
      li.textContent = "Vence " + d.vence + " · " + d.estado + (d.vencida ? " (vencida)" : "") + (d.detalle ? " · " + d.detalle : "");
      dev.appendChild(li);
    });
    $("pop-sin-devoluciones").hidden = (o.devoluciones_pendientes || []).length > 0;
    $("autoridad").hidden = !o.autoridad;
    var softphone = D.agente.canal === "client";
    $("btn-contestar").hidden = !softphone || !!S.call;
    $("btn-rechazar").hidden = !!S.call;
    var aviso = $("oferta-telefono-aviso");
    aviso.hidden = softphone || !!S.call;
    aviso.textContent = softphone ? "" : "Conteste en su " + (D.agente.canal === "sip" ? "teléfono SIP" : "anexo " + D.agente.destino) + ".";
    $("btn-contestar").disabled = softphone && !S.deviceCall;
    if (!S.call && fresh) ring(true);
    tick();
  }

  function hideOffer() {
    ring(false);
    S.offer = null;
    $("oferta").hidden = true;
    $("pop-audio").removeAttribute("src");
  }

  // The ring: two tones by the Web Audio API (no sound file to fetch), until answered.
  var audio = { ctx: null, timer: null };
  function ring(on) {
    if (audio.timer) { clearInterval(audio.timer); audio.timer = null; }
    if (!on) return;
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try {
      audio.ctx = audio.ctx || new Ctx();
      var burst = function () {
        if (!S.offer || S.call || Date.now() > S.offer.timbre_fin) { ring(false); return; }
        [440, 480].forEach(function (f) {
          var o = audio.ctx.createOscillator(), g = audio.ctx.createGain();
          o.frequency.value = f; g.gain.value = 0.05;
          o.connect(g); g.connect(audio.ctx.destination);
          o.start(); o.stop(audio.ctx.currentTime + 1.2);
        });
      };
      burst();
      audio.timer = setInterval(burst, 3000);
    } catch (e) { /* a browser that refuses audio before a click: the card still shows */ }
  }

  // --- the call ------------------------------------------------------------------------

  function startCall(callSid) {
    ring(false);
    if (S.call && S.call.call_sid === callSid) return;
    S.call = { call_sid: callSid, since: Date.now(), held: false, muted: false };
    S.transfer = null;
    $("llamada").hidden = false;
    $("transferencia").hidden = true;
    $("llamada-estado").textContent = "conectada";
    $("btn-contestar").hidden = true;
    $("btn-rechazar").hidden = true;
    $("oferta-telefono-aviso").hidden = true;
    $("oferta-titulo").textContent = "Usuario en línea";
    $("oferta-timbre").textContent = "";
    var softphone = D.agente.canal === "client";
    $("btn-silencio").disabled = !softphone;
    $("btn-teclado").disabled = !softphone;
    $("cierre").hidden = true;
  }

  function endCall(why) {
    if (!S.call) return;
    var sid = S.call.call_sid;
    S.call = null;
    S.deviceCall = null;
    $("llamada").hidden = true;
    $("teclado").hidden = true;
    hideOffer();
    openWrapUp(sid, why);
  }

  function openWrapUp(callSid, why) {
    S.wrapPending = callSid;
    $("cierre").hidden = false;
    $("cierre").dataset.callSid = callSid;
    var handedToRed = S.transfer && (S.transfer.completed || Object.keys(S.transfer.legs).some(function (k) {
      return S.transfer.legs[k].estado === "accepted";
    }));
    $("cierre-resultado").value = handedToRed || why === "transferida" ? "derivada_red" : "absuelta";
    if (S.offer && S.offer.organo) $("cierre-tipo").value = "tecnica";
  }

  function applyCallEvent(c) {
    var estado = c.estado;
    if (!S.call && (estado === "conectada" || estado === "in-progress" || estado === "bridged" || estado === "answered")) {
      startCall(c.call_sid);
      return;
    }
    if (!S.call || S.call.call_sid !== c.call_sid) return;
    $("llamada-estado").textContent = estado.replace(/_/g, " ");
    if (estado === "en_espera" || estado === "held") setHeld(true);
    if (estado === "conectada" || estado === "retomada" || estado === "unheld") setHeld(false);
    if (estado === "terminada" || estado === "completed" || estado === "cierre" || estado === "transferida") endCall(estado);
  }

  function setHeld(held) {
    if (!S.call) return;
    S.call.held = held;
    $("btn-espera").setAttribute("aria-pressed", String(held));
    $("btn-espera").textContent = held ? "Retomar" : "Poner en espera";
  }

  // --- transfers -----------------------------------------------------------------------

  var FAILED = ["no-answer", "busy", "failed", "canceled", "rechazada", "no_contesta", "ocupado", "fallida", "not-accepted", "declined"];

  function searchOrganos() {
    var q = $("organo-buscar").value.trim();
    var list = $("organos");
    if (q.length < 2) { list.textContent = ""; return; }
    request("GET", API + "/organos?q=" + encodeURIComponent(q)).then(function (rows) {
      list.textContent = "";
      (rows || []).forEach(function (o) {
        var li = document.createElement("li");
        li.dataset.sigla = o.sigla;
        var name = document.createElement("span");
        name.textContent = o.sigla + " · " + o.nombre;
        li.appendChild(name);
        ["titular", "alterno"].forEach(function (rol) {
          var who = o[rol];
          var b = document.createElement("button");
          b.type = "button";
          b.className = "btn small" + (rol === "alterno" ? " sec" : "");
          b.dataset.rol = rol;
          b.disabled = !who;
          b.textContent = (rol === "titular" ? "Titular" : "Alterno") + (who ? ": " + who.nombre + " (anexo " + who.anexo + ")" : ": sin designar");
          b.addEventListener("click", function () { transferTo(o, rol); });
          li.appendChild(b);
        });
        list.appendChild(li);
      });
    }, function (err) { say(err.message); });
  }

  function transferTo(organo, rol) {
    guarded(callApi("/transferir", { organo: organo.sigla, rol: rol }), function (answer) {
      // the leg's first events may have come before this answer: keep them
      var known = S.transfer && (S.transfer.organo.sigla === organo.sigla || !S.transfer.organo.sigla);
      S.transfer = { organo: organo, legs: known ? S.transfer.legs : {}, rol: rol };
      if (answer && answer.leg && !S.transfer.legs[answer.leg]) {
        S.transfer.legs[answer.leg] = { rol: answer.rol || rol, estado: "initiated" };
      }
      $("transferencia").hidden = false;
      $("tr-organo").textContent = organo.sigla + " · " + organo.nombre;
      renderLegs();
    });
  }

  function applyLeg(l) {
    if (!S.call || l.call_sid !== S.call.call_sid) return;
    if (l.rol === "agente" || l.rol === "caller" || l.rol === "usuario") return;
    if (!S.transfer) S.transfer = { organo: { sigla: "", nombre: "" }, legs: {} };
    S.transfer.legs[l.leg] = { rol: l.rol, estado: l.estado };
    $("transferencia").hidden = false;
    renderLegs();
  }

  var LEG_WORDS = {
    initiated: "marcando", queued: "marcando", ringing: "timbrando", "in-progress": "en línea",
    answered: "contestó", accepted: "aceptó", completed: "terminó", "no-answer": "no contestó",
    busy: "ocupado", failed: "falló", canceled: "cancelada", "not-accepted": "no aceptó",
  };

  function renderLegs() {
    // "Llamar al alterno": once the titular did not answer, was busy or did not accept, and
    // until the alterno is called (whatever order the events and answers came in)
    var legs = Object.keys(S.transfer.legs).map(function (k) { return S.transfer.legs[k]; });
    var titularFailed = legs.some(function (l) { return l.rol === "titular" && FAILED.indexOf(l.estado) >= 0; });
    var alternoCalled = legs.some(function (l) { return l.rol === "alterno"; });
    var hasAlterno = !S.transfer.organo.sigla || S.transfer.organo.alterno !== null;
    $("btn-alterno").hidden = !(titularFailed && !alternoCalled && hasAlterno);
    var ul = $("tramos");
    ul.textContent = "";
    Object.keys(S.transfer.legs).forEach(function (leg) {
      var l = S.transfer.legs[leg];
      var li = document.createElement("li");
      li.dataset.rol = l.rol;
      li.dataset.estado = l.estado;
      li.textContent = (l.rol === "titular" ? "Titular" : l.rol === "alterno" ? "Alterno" : l.rol) + ": " + (LEG_WORDS[l.estado] || l.estado);
      ul.appendChild(li);
    });
  }

  // --- callbacks -----------------------------------------------------------------------

  function loadCallbacks() {
    request("GET", API + "/devoluciones").then(function (data) {
      var rows = Array.isArray(data) ? data : [];
      var body = $("devoluciones").querySelector("tbody");
      body.textContent = "";
      rows.forEach(function (d) {
        var tr = document.createElement("tr");
        tr.dataset.id = d.id;
        var kind = d.tipo === "mensaje" ? "Mensaje de voz" : "Devolución";
        [d.vence, d.telefono, kind, d.detalle, d.estado + (d.vencida ? " (vencida)" : "")].forEach(function (v) {
          var td = document.createElement("td"); td.textContent = v || "—"; tr.appendChild(td);
        });
        var td = document.createElement("td");
        td.className = "row-actions";
        var take = button("Llamar", "btn small", function () { dialCallback(d, td); });
        td.appendChild(take);
        tr.appendChild(td);
        body.appendChild(tr);
      });
      $("sin-devoluciones").hidden = rows.length > 0;
    }, function (err) {
      if (err.status === 404) { $("sin-devoluciones").hidden = false; return; }
      say(err.message);
    });
  }

  function button(label, cls, fn) {
    var b = document.createElement("button");
    b.type = "button"; b.className = cls; b.textContent = label;
    b.addEventListener("click", fn);
    return b;
  }

  // A callback or voice message: taken (only one agent works it), dialed from the softphone
  // through the TwiML App (POST /voice/agent/outbound with To and Devolucion), the outcome
  // recorded. An agent on an anexo dials the number from their phone and records the outcome.
  function dialCallback(d, cell) {
    guarded(request("POST", API + "/devoluciones/" + encodeURIComponent(d.id) + "/tomar", {}), function (taken) {
      var item = taken || d;
      cell.textContent = "";
      var status = document.createElement("span");
      status.className = "muted llamando";
      cell.appendChild(status);
      if (D.agente.canal === "client" && S.device) {
        status.textContent = "Llamando…";
        Promise.resolve(S.device.connect({ params: { To: item.telefono, Devolucion: String(item.id) } })).then(function (call) {
          S.outbound = call;
          var hang = button("Colgar", "btn small danger", function () { call.disconnect(); });
          cell.insertBefore(hang, status.nextSibling);
          call.on("accept", function () { status.textContent = "En llamada"; });
          call.on("disconnect", function () { status.textContent = "Terminada"; hang.remove(); S.outbound = null; });
          call.on("error", function (err) { say(deviceError(err)); });
        }, function (err) { say(deviceError(err)); });
      } else {
        status.textContent = "Marque " + (item.telefono || "el número") + " desde su teléfono.";
      }
      [["realizada", "Atendida"], ["no_contesta", "No contesta"], ["cancelada", "Cancelar"]].forEach(function (o) {
        cell.appendChild(button(o[1], "btn small sec", function () {
          guarded(request("POST", API + "/devoluciones/" + encodeURIComponent(d.id) + "/resultado", { resultado: o[0] }), function () {
            say("Devolución registrada: " + o[1].toLowerCase() + ".", "info");
            loadCallbacks();
          });
        }));
      });
    });
  }

  // --- the softphone -------------------------------------------------------------------

  function softphoneStatus(t) { $("softphone-estado").textContent = t; }

  function deviceError(err) {
    var code = err && (err.code || (err.twilioError && err.twilioError.code));
    var name = err && err.name;
    if (code === 31401 || code === 31208 || name === "NotAllowedError" || name === "PermissionDeniedError") {
      return "El navegador no tiene permiso para usar el micrófono. Permítalo (icono del candado junto a la dirección) y recargue la página.";
    }
    if (code === 31402 || name === "NotFoundError") {
      return "No se encontró un micrófono. Conecte uno (o sus audífonos con micrófono) y recargue la página.";
    }
    if (code === 20101 || code === 20104 || code === 31204 || code === 31205) {
      return "El permiso del teléfono del navegador venció o no es válido; se está pidiendo uno nuevo.";
    }
    if (code === 31005 || code === 31009 || code === 53000 || code === 31003 || (code >= 53000 && code < 54000)) {
      return "Se perdió la conexión del teléfono con Twilio (red). Revise su conexión a internet; la consola reintenta sola.";
    }
    return "Error del teléfono del navegador" + (code ? " (" + code + ")" : "") + ": " + ((err && err.message) || "desconocido") + ".";
  }

  function reportSoftphone(evento, detalle) {
    request("POST", D.urls.softphone, { evento: evento, detalle: detalle || "" }).then(applySnapshot, function () {});
  }

  function fetchToken() {
    return request("GET", D.urls.token).then(function (data) { return data.token; });
  }

  function startSoftphone() {
    if (D.agente.canal !== "client") return;
    if (!D.softphone) { softphoneStatus("no configurado"); return; }
    fetchToken().then(function (token) {
      var device;
      try {
        device = window.RedSoftphone.createDevice(token, {
          codecPreferences: ["opus", "pcmu"],
          closeProtection: "Tiene una llamada en curso: si cierra la página, se cortará.",
          tokenRefreshMs: 60000,
          logLevel: "warn",
        });
      } catch (e) {
        softphoneStatus("no disponible");
        say(window.Twilio ? deviceError(e) : "Falta el programa del teléfono del navegador (ejecute make para instalarlo).");
        return;
      }
      S.device = device;
      device.on("registered", function () { softphoneStatus("listo"); reportSoftphone("registered"); });
      device.on("unregistered", function () {
        softphoneStatus("sin registro");
        say("El teléfono del navegador perdió su registro: no le llegarán llamadas hasta que vuelva.");
        reportSoftphone("unregistered");
      });
      device.on("error", function (err) {
        softphoneStatus("con error");
        say(deviceError(err));
        var code = err && err.code;
        if (code === 20101 || code === 20104) refreshToken();
        else reportSoftphone("error", String(code || "") + " " + ((err && err.message) || ""));
      });
      device.on("tokenWillExpire", refreshToken);
      device.on("incoming", function (call) { watchDeviceCall(call); });
      softphoneStatus("registrando…");
      Promise.resolve(device.register()).catch(function (err) { say(deviceError(err)); });
    }, function (err) {
      softphoneStatus("no disponible");
      say(err.message);
    });
  }

  function refreshToken() {
    fetchToken().then(function (token) { if (S.device) S.device.updateToken(token); },
      function (err) { say("No se pudo renovar el permiso del teléfono: " + err.message); });
  }

  function watchDeviceCall(call) {
    S.deviceCall = call;
    $("btn-contestar").disabled = false;
    call.on("accept", function () { if (S.offer) startCall(S.offer.call_sid); });
    call.on("disconnect", function () { S.deviceCall = null; if (S.call) endCall("colgó"); });
    call.on("cancel", function () { S.deviceCall = null; if (!S.call) { $("btn-contestar").disabled = true; } });
    call.on("reject", function () { S.deviceCall = null; });
    call.on("error", function (err) { say(deviceError(err)); });
  }

  // --- the live channel ----------------------------------------------------------------

  function applySnapshot(snap) {
    if (!snap) return;
    if (snap.servidor_ms) S.clockSkew = snap.servidor_ms - Date.now();
    applyPresence(snap.presencia);
    var p = snap.presencia;
    if (snap.oferta && (p.estado === "ringing" || p.estado === "on_call")) {
      if (p.estado === "on_call") startCall(snap.oferta.call_sid);
      showOffer(snap.oferta);
    } else if (!S.call && S.offer) {
      hideOffer();
    }
  }

  function loadSnapshot() {
    return request("GET", D.urls.estado).then(applySnapshot, function (err) { say(err.message); });
  }

  function listen() {
    if (!window.EventSource) { $("vivo-estado").textContent = "este navegador no lo admite"; return; }
    var source = new EventSource(D.vivo);
    S.source = source;
    source.addEventListener("hello", function () {
      $("vivo-estado").textContent = "conectado";
      loadSnapshot();  // whatever happened while disconnected
    });
    source.addEventListener("state", function (e) { applyPresence(JSON.parse(e.data)); });
    source.addEventListener("offer", function (e) { showOffer(JSON.parse(e.data)); });
    source.addEventListener("leg", function (e) { applyLeg(JSON.parse(e.data)); });
    source.addEventListener("call", function (e) { applyCallEvent(JSON.parse(e.data)); });
    source.onerror = function () {
      $("vivo-estado").textContent = "reconectando…";
      if (source.readyState === EventSource.CLOSED) {
        // refused (a stale ticket): the page must be loaded again for a new one
        $("vivo-estado").textContent = "desconectado";
        say("Se perdió el canal en vivo. Recargue la página para seguir recibiendo llamadas.");
      }
    };
  }

  // --- wiring --------------------------------------------------------------------------

  $("btn-disponible").addEventListener("click", function () { setState("available"); });
  $("btn-pausa").addEventListener("click", function () { setState("paused", $("motivo-pausa").value); });
  $("btn-desconectar").addEventListener("click", function () { setState("offline"); });

  $("btn-contestar").addEventListener("click", function () {
    if (S.deviceCall) S.deviceCall.accept();
    else say("La llamada todavía no llegó al teléfono del navegador; espere un segundo.", "warn");
  });
  $("btn-rechazar").addEventListener("click", function () {
    var sid = S.offer && S.offer.call_sid;
    if (S.deviceCall) S.deviceCall.reject();
    S.deviceCall = null;
    if (sid) guarded(request("POST", API + "/llamada/" + encodeURIComponent(sid) + "/rechazar", {}), hideOffer);
  });
  $("btn-silencio").addEventListener("click", function () {
    if (!S.deviceCall || !S.call) return;
    S.call.muted = !S.call.muted;
    S.deviceCall.mute(S.call.muted);
    this.setAttribute("aria-pressed", String(S.call.muted));
    this.textContent = S.call.muted ? "Activar micrófono" : "Silenciar";
  });
  $("btn-espera").addEventListener("click", function () {
    if (!S.call) return;
    var held = !S.call.held;
    guarded(callApi("/espera", { en_espera: held }), function () { setHeld(held); });
  });
  $("btn-teclado").addEventListener("click", function () {
    var pad = $("teclado");
    pad.hidden = !pad.hidden;
    this.setAttribute("aria-expanded", String(!pad.hidden));
  });
  Array.prototype.forEach.call(document.querySelectorAll(".tecla"), function (b) {
    b.addEventListener("click", function () { if (S.deviceCall) S.deviceCall.sendDigits(b.dataset.digito); });
  });
  $("btn-colgar").addEventListener("click", function () {
    guarded(callApi("/colgar"), function () {
      if (S.deviceCall) S.deviceCall.disconnect();
      endCall("colgó");
    });
  });

  var searchTimer = null;
  $("organo-buscar").addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchOrganos, 200);
  });
  $("btn-alterno").addEventListener("click", function () {
    if (S.transfer) transferTo(S.transfer.organo, "alterno");
  });
  $("btn-completar").addEventListener("click", function () {
    guarded(callApi("/transferencia/completar"), function () {
      if (S.transfer) S.transfer.completed = true;
      if (S.deviceCall) S.deviceCall.disconnect();
      endCall("transferida");
    });
  });
  $("btn-cancelar-tr").addEventListener("click", function () {
    guarded(callApi("/transferencia/cancelar"), function () {
      S.transfer = null;
      $("transferencia").hidden = true;
    });
  });
  $("btn-conferencia").addEventListener("click", function () {
    guarded(callApi("/conferencia"), function () { $("llamada-estado").textContent = "conferencia a tres"; });
  });
  $("btn-fria").addEventListener("click", function () {
    var body = {};
    body[$("fria-tipo").value] = $("fria-destino").value.trim();
    guarded(callApi("/transferir-fria", body), function () {
      if (S.deviceCall) S.deviceCall.disconnect();
      endCall("transferida");
    });
  });
  $("btn-autoridad").addEventListener("click", function () {
    var decision = document.querySelector("input[name=decision]:checked").value;
    guarded(callApi("/autoridad", { decision: decision, dia: $("aut-dia").value, hora: $("aut-hora").value }), function () {
      say(decision === "presencial" ? "Visita registrada: se avisó al Módulo de Visitas." : "Decisión registrada: transfiera al servidor de la Red.", "info");
      if (decision === "presencial") $("cierre-resultado").value = "presencial";
    });
  });
  $("btn-guardar-cierre").addEventListener("click", function () {
    var sid = S.wrapPending;
    if (!sid) return;
    var body = {
      tipo_consulta: $("cierre-tipo").value,
      detalle: $("cierre-detalle").value.trim(),
      resultado: $("cierre-resultado").value,
    };
    guarded(request("POST", API + "/llamada/" + encodeURIComponent(sid) + "/cierre", body), function () {
      S.wrapPending = null;
      S.transfer = null;
      $("cierre").hidden = true;
      $("cierre-detalle").value = "";
      say("Cierre guardado en el registro.", "info");
    });
  });
  $("btn-devoluciones").addEventListener("click", loadCallbacks);

  // Closing the page: offline at once (the live process notices too, within seconds).
  window.addEventListener("pagehide", function () {
    var form = new FormData();
    form.append("csrf_token", D.csrf);
    if (navigator.sendBeacon) navigator.sendBeacon(D.urls.salir, form);
  });

  setInterval(tick, 1000);
  loadSnapshot().then(function () { listen(); startSoftphone(); loadCallbacks(); });
})();
