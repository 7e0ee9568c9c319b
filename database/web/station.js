// The technician's station: scan a serial, pick the family, start; follow the cell live (Server-Sent
// Events, resumed after the last event on reconnect); the verdict; e-stop, reset and resume through
// the cell link of this server. No polling loop: the page changes when an event arrives.
"use strict";

const $ = (sel) => document.querySelector(sel);
const ACTIVE = new Set(["LOADING", "SCANNING", "DESIGNING", "DETECTING", "RECORDING", "UNLOADING"]);
const station = { config: null, families: new Map(), current: null, faulted: null, stream: null, events: [],
  ticker: null, tickBase: null };
window.__station = station; // tests read the events the page received

function say(text, ok = false) {
  const box = $("#message");
  box.textContent = text || "";
  box.hidden = !text;
  box.classList.toggle("ok", ok);
}

async function signIn(event) {
  if (event) event.preventDefault();
  const typed = $("#api-key").value.trim();
  if (typed) BC.setKey(typed);
  if (!BC.key()) { say("Sign in with your API key first."); return; }
  try {
    const me = await BC.json("/me");
    $("#whoami").textContent = `${me.username} (${me.role})`;
    $("#api-key").value = "";
    $("#key-form").hidden = true; // the key is kept for this tab; the space goes to the cell
    station.config = await BC.json("/station/config");
    await Promise.all([loadFamilies(), loadCell(), loadQueue()]);
    say("");
    startStream();
    $("#serial").focus();
  } catch (err) {
    say(err.message);
  }
}

async function loadFamilies() {
  const families = await BC.json("/station/families");
  const select = $("#family");
  select.replaceChildren();
  station.families.clear();
  for (const f of families) {
    station.families.set(f.code, f);
    const label = f.deployed_model ? `${f.code}` : `${f.code} (no model yet)`;
    select.append(BC.el("option", label, { value: f.code }));
  }
  if (!families.length) select.append(BC.el("option", "no part families registered", { value: "" }));
  familyChanged();
}

function familyChanged() {
  const f = station.families.get($("#family").value);
  const note = $("#family-note");
  const needsDesign = Boolean(f && !f.deployed_model);
  note.hidden = !needsDesign;
  note.textContent = needsDesign
    ? `${f.code} has no deployed model: its first cycle designs one (AutoNAD), which takes much longer than an inspection. Use "Start with first-time design".`
    : "";
  $("#design-btn").hidden = !needsDesign;
  $("#start-btn").hidden = needsDesign;
}

async function loadCell() {
  const cell = await BC.json("/cell");
  const badge = $("#cell-link");
  badge.textContent = cell.linked ? `cell linked${cell.state ? ": " + cell.state : ""}` : "no cell link";
  badge.classList.toggle("bad", !cell.linked);
  badge.title = cell.detail;
  station.linked = cell.linked;
  if (cell.estop) $("#estop").classList.add("pressed");
}

async function loadQueue() {
  const rows = await BC.json("/cycles?limit=100");
  const waiting = rows.filter((r) => ["queued", "claimed"].includes(r.state)).reverse(); // oldest first
  const list = $("#queue");
  list.replaceChildren(...waiting.map((r) => BC.el("li",
    `${r.blade_serial} · ${r.part_family} · ${r.state}${r.requested_by ? " · " + r.requested_by : ""}`,
    { "data-serial": r.blade_serial })));
  $("#queue-count").textContent = `(${waiting.length})`;
}

async function start(event, firstTimeDesign = false) {
  if (event) event.preventDefault();
  const raw = $("#serial").value;
  const serial = raw.normalize("NFKC").replace(/[\u200b-\u200f\u2060\ufeff\u00ad]/g, "").trim().toUpperCase();
  const family = $("#family").value;
  if (!serial) { say("Scan or type the blade serial."); return; }
  if (station.config && !new RegExp(station.config.serial_pattern).test(serial)) {
    say(`"${raw}" is not a serial format this station knows (letters, digits and - . _ /, e.g. ${station.config.serial_example}). Scan the blade's label again.`);
    $("#serial").select();
    return;
  }
  if (!family) { say("Choose the part family."); return; }
  try {
    const request = await BC.post("/station/cycles", { blade_serial: serial, part_family: family, first_time_design: firstTimeDesign });
    say(`Queued ${request.blade_serial} (${request.part_family}).`, true);
    $("#serial").value = "";
    await loadQueue();
  } catch (err) {
    if (err.status === 409 && err.message.includes("no deployed model")) {
      $("#design-btn").hidden = false;
    }
    say(err.message);
  }
  $("#serial").focus();
}

function startStream() {
  if (station.stream) station.stream.stop();
  station.stream = BC.streamEvents("/cycles/events", onEvent, (status, detail) => {
    const badge = $("#stream-state");
    badge.textContent = status === "live" ? "events: live" : status === "reconnecting" ? "events: reconnecting…" : "events: stopped";
    badge.classList.toggle("bad", status !== "live");
    badge.classList.toggle("good", status === "live");
    badge.dataset.status = status;
    if (status === "reconnecting" || status === "stopped") say(detail);
    else if (detail && $("#message").textContent.startsWith("event stream lost")) say(detail, true);
  });
}

function onEvent(ev) {
  ev.received_at = Date.now(); // the lag benchmark compares it with the row's created_at
  station.events.push(ev);
  station.current = ev;
  const stateBox = $("#state");
  stateBox.textContent = ev.state;
  stateBox.className = `state ${ev.state}`;
  $("#blade-line").textContent = ev.blade_serial ? `${ev.blade_serial} · ${ev.part_family}` : "";
  $("#viewpoint").textContent = ev.viewpoint_count ? `${ev.viewpoint_index} of ${ev.viewpoint_count}` : "–";
  $("#bar-fill").style.width = `${Math.round(100 * ev.fraction)}%`;
  $("#cell-message").textContent = ev.message;
  station.tickBase = { at: performance.now(), elapsed: ev.elapsed_s, eta: ev.eta_s, running: ACTIVE.has(ev.state) };
  tick();
  if (ev.preview_url) showPreview(ev);
  $("#estop").classList.toggle("pressed", ev.estop);
  const badge = $("#cell-link");
  if (station.linked) badge.textContent = `cell linked: ${ev.state}`;

  if (ACTIVE.has(ev.state)) {
    $("#verdict-box").hidden = true;
    $("#fault-actions").hidden = true;
  }
  if (ev.state === "FAULTED") {
    station.faulted = ev.blade_serial;
    $("#fault-actions").hidden = false;
  }
  if (ev.kind === "end") showEnd(ev);
  if (ev.kind !== "progress") loadQueue().catch(() => {});
}

async function showPreview(ev) {
  try {
    const blob = await (await BC.api(ev.preview_url.replace(/^\/api\/v1/, ""))).blob();
    const img = $("#preview");
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    img.dataset.url = URL.createObjectURL(blob);
    img.src = img.dataset.url;
    $("#preview-caption").textContent = `viewpoint ${ev.viewpoint_index} of ${ev.viewpoint_count}, channel ${ev.preview_channel}`;
    $("#preview-box").hidden = false;
  } catch (_) { /* a preview is a nicety; the progress figures are already shown */ }
}

function tick() {
  const base = station.tickBase;
  if (!base) return;
  const gone = base.running ? (performance.now() - base.at) / 1000 : 0;
  $("#elapsed").textContent = BC.duration(base.elapsed + gone);
  $("#eta").textContent = base.eta === null ? "–" : BC.duration(Math.max(0, base.eta - gone));
}

function showEnd(ev) {
  const box = $("#verdict-box");
  const verdict = $("#verdict");
  const word = ev.state === "DONE" ? (ev.verdict || "").toUpperCase() : ev.state;
  verdict.textContent = word;
  verdict.className = `verdict ${ev.state === "DONE" ? ev.verdict : "incomplete"}`;
  $("#verdict-blade").textContent = ev.state === "DONE"
    ? `${ev.blade_serial} · ${ev.message}`
    : `${ev.blade_serial}: ${ev.message}`;
  const list = $("#rejecting");
  list.replaceChildren(...(ev.rejecting || []).map((d) => BC.el("li", d.reason, { "data-class": d.defect_class })));
  $("#map-link").href = `blademap.html?serial=${encodeURIComponent(ev.blade_serial)}`;
  $("#map-link").hidden = ev.state !== "DONE";
  box.hidden = false;
  if (ev.state === "DONE") $("#fault-actions").hidden = true;
}

async function cellAction(path, body) {
  try {
    const out = await BC.post(path, body);
    say(out.message, out.ok);
    return out;
  } catch (err) {
    say(err.message);
    return null;
  }
}

function estop() {
  $("#estop").classList.add("pressed");
  const running = station.current && ACTIVE.has(station.current.state);
  cellAction("/cell/estop").then((out) => {
    if (!out) $("#estop").classList.toggle("pressed", Boolean(station.current && station.current.estop));
    else if (!running && out.ok) $("#fault-actions").hidden = false;
  });
}

function resume() {
  const serial = station.faulted || (station.current && station.current.blade_serial);
  if (!serial) { say("No faulted cycle to resume."); return; }
  cellAction("/cell/resume", { blade_serial: serial });
}

document.addEventListener("DOMContentLoaded", () => {
  $("#key-form").addEventListener("submit", signIn);
  $("#start-form").addEventListener("submit", (e) => start(e, false));
  $("#design-btn").addEventListener("click", () => start(null, true));
  $("#family").addEventListener("change", familyChanged);
  $("#estop").addEventListener("click", estop);
  $("#reset-btn").addEventListener("click", () => cellAction("/cell/reset-estop"));
  $("#resume-btn").addEventListener("click", resume);
  setInterval(tick, 1000); // the clock on screen, between events; no request
  if (BC.key()) signIn();
});
