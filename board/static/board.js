// The supervisor's board: the snapshot from /supervision/datos at load, then every snapshot
// the live channel sends (EventSource, event "board"); while the stream is down, the snapshot
// is fetched every 2 s. Waits and times in state tick here between snapshots.
(function () {
  "use strict";
  var root = document.getElementById("tablero");
  if (!root) return;
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var base = root.dataset.base;
  var board = null;
  var offset = 0; // server clock - this clock, ms
  var poller = null;

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function mmss(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    var s = Math.max(0, Math.floor(seconds));
    var m = Math.floor(s / 60);
    var r = s % 60;
    if (m >= 60) return Math.floor(m / 60) + " h " + (m % 60) + " min";
    return m + ":" + (r < 10 ? "0" : "") + r;
  }
  function pct(v) { return v === null || v === undefined ? "–" : Math.round(v * 100) + " %"; }
  function set(id, text) { var e = document.getElementById(id); if (e) e.textContent = text; }
  function now() { return Date.now() + offset; }
  function button(label, action, data) {
    var b = el("button", label, "btn small sec");
    b.type = "button";
    b.dataset.accion = action;
    Object.keys(data).forEach(function (k) { b.dataset[k] = data[k]; });
    return b;
  }

  function renderAlerts(list) {
    var ul = document.getElementById("alertas");
    ul.replaceChildren();
    if (!list.length) { ul.appendChild(el("li", "Sin alertas.", "muted")); return; }
    list.forEach(function (a) {
      var li = el("li", a.message, "alerta");
      li.dataset.clave = a.key;
      li.dataset.tipo = a.kind;
      ul.appendChild(li);
    });
  }

  function renderLine(line) {
    set("cola-total", line.total);
    set("cola-sobre", line.sobre_limite);
    set("cola-limite", Math.round(line.limite_seg / 60));
    var c = line.por_clase, l = line.por_idioma;
    set("cola-resumen", "Preferencial " + c.preferencial + " · autoridad " + c.autoridad +
      " · general " + c.general + " — castellano " + (l.es || 0) + " · quechua " + (l.qu || 0) +
      " · aimara " + (l.ay || 0));
    var body = document.querySelector("#cola tbody");
    body.replaceChildren();
    line.llamantes.forEach(function (w) {
      var tr = el("tr");
      tr.id = "llamante-" + w.call_sid;
      tr.dataset.llegada = w.llegada_ms;
      tr.appendChild(el("td", w.puesto, "n"));
      tr.appendChild(el("td", w.clase));
      tr.appendChild(el("td", {es: "castellano", qu: "quechua", ay: "aimara"}[w.idioma] || w.idioma));
      tr.appendChild(el("td", "", "n espera"));
      tr.appendChild(el("td", w.call_sid.slice(-8), "muted"));
      var actions = el("td");
      var box = el("div", null, "row-actions");
      box.appendChild(button("Adelantar", "adelantar", {call: w.call_sid}));
      box.appendChild(button("Pasar a devolución", "devolucion", {call: w.call_sid}));
      if (w.resumen) box.appendChild(button("Escuchar resumen", "escuchar", {call: w.call_sid}));
      actions.appendChild(box);
      tr.appendChild(actions);
      body.appendChild(tr);
    });
    var more = document.getElementById("cola-mas");
    var hidden = line.total - line.llamantes.length;
    more.hidden = hidden <= 0;
    more.textContent = hidden > 0 ? "… y " + hidden + " más en espera." : "";
  }

  function renderAgents(list) {
    var body = document.querySelector("#agentes tbody");
    body.replaceChildren();
    list.forEach(function (a) {
      var tr = el("tr");
      tr.id = "agente-" + a.id;
      tr.dataset.desde = a.desde_ms;
      tr.dataset.estado = a.estado;
      tr.appendChild(el("td", a.nombre));
      var st = el("td");
      st.appendChild(el("span", a.estado_nombre, "estado " + a.estado));
      tr.appendChild(st);
      tr.appendChild(el("td", "", "n en-estado"));
      tr.appendChild(el("td", a.llamadas_hoy, "n"));
      tr.appendChild(el("td", mmss(a.aht_seg), "n"));
      var actions = el("td");
      var box = el("div", null, "row-actions");
      if (a.estado === "ringing") box.appendChild(button("Liberar", "liberar", {agente: a.id}));
      if (a.estado !== "available" && a.estado !== "on_call" && a.estado !== "ringing")
        box.appendChild(button("Disponible", "disponible", {agente: a.id}));
      if (a.estado === "available" || a.estado === "wrap_up")
        box.appendChild(button("No disponible", "no-disponible", {agente: a.id}));
      actions.appendChild(box);
      tr.appendChild(actions);
      body.appendChild(tr);
    });
  }

  function renderOrgans(list) {
    var body = document.querySelector("#organos tbody");
    body.replaceChildren();
    list.forEach(function (o) {
      var tr = el("tr");
      tr.id = "organo-" + o.sigla;
      tr.appendChild(el("td", o.sigla));
      ["tecnicas", "titular", "alterno", "plataforma"].forEach(function (k) {
        tr.appendChild(el("td", o[k], "n"));
      });
      tr.appendChild(el("td", o.perdidas.map(function (p) {
        return p.nombre + " (" + p.rol + "): " + p.llamadas;
      }).join("; ") || "—"));
      body.appendChild(tr);
    });
  }

  function tick() {
    if (!board) return;
    var t = now();
    document.querySelectorAll("#cola tbody tr").forEach(function (tr) {
      tr.querySelector(".espera").textContent = mmss((t - Number(tr.dataset.llegada)) / 1000);
      var over = (t - Number(tr.dataset.llegada)) / 1000 >= board.cola.limite_seg;
      tr.classList.toggle("sobre-limite", over);
    });
    document.querySelectorAll("#agentes tbody tr").forEach(function (tr) {
      var since = Number(tr.dataset.desde);
      tr.querySelector(".en-estado").textContent = since ? mmss((t - since) / 1000) : "–";
    });
  }

  function render(snapshot) {
    if (board && snapshot.ts < board.ts) return; // an older one, arrived late
    board = snapshot;
    offset = snapshot.ts - Date.now();
    set("hora", snapshot.hora);
    var h = snapshot.hoy;
    set("hoy-ofrecidas", h.ofrecidas);
    set("hoy-atendidas", h.atendidas);
    set("hoy-abandonadas", h.abandonadas);
    set("hoy-nivel", pct(h.nivel_servicio));
    set("hoy-objetivo", snapshot.objetivo.segundos);
    set("hoy-asa", h.asa_seg === null ? "–" : h.asa_seg + " s");
    set("hoy-devoluciones", h.devoluciones_hoy);
    set("hoy-vencidas", h.devoluciones_vencidas);
    set("hoy-mensajes", h.mensajes_pendientes);
    set("cola-max", mmss(snapshot.cola.espera_max_seg));
    set("agentes-disponibles", snapshot.disponibles);
    set("agentes-conectados", snapshot.conectados);
    renderAlerts(snapshot.alertas || []);
    renderLine(snapshot.cola);
    renderAgents(snapshot.agentes);
    renderOrgans(snapshot.organos);
    if (snapshot.graficos) {
      // server-drawn SVG (register/charts.py escapes every text): no script in it
      document.getElementById("grafico-llamadas").innerHTML = snapshot.graficos.llamadas;
      document.getElementById("grafico-agentes").innerHTML = snapshot.graficos.agentes;
    }
    tick();
  }

  function load() {
    return fetch(root.dataset.datos, {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) render(data); })
      .catch(function () {});
  }

  function startPolling() {
    if (!poller) poller = setInterval(load, 2000);
  }
  function stopPolling() {
    if (poller) { clearInterval(poller); poller = null; }
  }

  function connect() {
    var badge = document.getElementById("enlace");
    if (!window.EventSource || !root.dataset.live) { startPolling(); return; }
    var source = new EventSource(root.dataset.live + "/stream?ticket=" +
      encodeURIComponent(root.dataset.ticket));
    source.addEventListener("open", function () {
      badge.textContent = "en vivo";
      badge.className = "badge ok";
      stopPolling();
      load();
    });
    source.addEventListener("board", function (e) { render(JSON.parse(e.data)); });
    source.addEventListener("error", function () {
      badge.textContent = "sin conexión en vivo: se actualiza cada 2 s";
      badge.className = "badge vencido";
      startPolling();
    });
  }

  function say(text, ok) {
    var box = document.getElementById("aviso");
    box.hidden = false;
    box.className = "flash " + (ok ? "info" : "error");
    box.textContent = text;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body || {})
    }).then(function (r) { return r.json().catch(function () { return {ok: false, error: "Error " + r.status}; }); });
  }

  root.addEventListener("click", function (event) {
    var b = event.target.closest("button[data-accion]");
    if (!b) return;
    var action = b.dataset.accion;
    var request;
    if (action === "liberar" || action === "no-disponible") {
      request = post(base + "/agentes/" + b.dataset.agente + "/estado",
        {estado: action === "liberar" ? "offline" : "paused"});
    } else if (action === "disponible") {
      request = post(base + "/agentes/" + b.dataset.agente + "/estado", {estado: "available"});
    } else if (action === "adelantar" || action === "devolucion" || action === "escuchar") {
      request = post(base + "/llamadas/" + b.dataset.call + "/" + action);
    } else {
      return;
    }
    b.disabled = true;
    request.then(function (result) {
      b.disabled = false;
      if (!result.ok) { say(result.error || "No se pudo.", false); return; }
      if (action === "escuchar") {
        var player = document.getElementById("reproductor");
        player.hidden = false;
        player.src = result.audio;
        player.play().catch(function () {});
        say("Reproduciendo el resumen.", true);
      } else {
        say(result.mensaje || "Hecho.", true);
        load();
      }
    });
  });

  setInterval(tick, 1000);
  load().then(connect);
})();
