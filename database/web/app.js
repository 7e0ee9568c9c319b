// BladeCell defect records: search form -> results table -> detail with overlay, trend chart, CSV.
// Plain JS, no libraries (the plant network has no internet). Every value from the API is put into the
// page with textContent, never innerHTML, so a serial like "<script>" stays text.
"use strict";

const API = "/api/v1";
const state = { key: sessionStorage.getItem("bladecell-key") || "", cursor: null, query: null, selected: null };
const $ = (sel) => document.querySelector(sel);
const { describeError, el, svg: svgEl } = BC; // common.js: one implementation for every page
const CLASS_COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

function showError(message) {
  const banner = $("#error-banner");
  banner.textContent = message;
  banner.hidden = !message;
}

async function api(path, options = {}) {
  const response = await fetch(API + path, {
    ...options,
    headers: { "X-API-Key": state.key, ...(options.headers || {}) },
  });
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    throw new Error(describeError(response.status, body));
  }
  return response;
}

function formQuery(includePaging) {
  const params = new URLSearchParams();
  const value = (id) => $(id).value.trim();
  const plain = [["#f-serial", "blade_serial"], ["#f-family", "part_family"], ["#f-min-area", "min_area_mm2"],
    ["#f-max-area", "max_area_mm2"], ["#f-min-conf", "min_confidence"], ["#f-cell", "cell"],
    ["#f-model", "model_version"], ["#f-review", "review_status"]];
  for (const [id, name] of plain) if (value(id)) params.append(name, value(id));
  for (const cls of value("#f-class").split(",").map((s) => s.trim()).filter(Boolean)) params.append("defect_class", cls);
  if (value("#f-from")) params.append("detected_from", value("#f-from") + "T00:00:00Z");
  if (value("#f-to")) params.append("detected_to", value("#f-to") + "T00:00:00Z");
  params.append("sort", value("#f-sort"));
  if (includePaging) params.append("limit", value("#f-limit"));
  return params;
}

async function signIn(event) {
  if (event) event.preventDefault();
  state.key = $("#api-key").value.trim() || state.key;
  try {
    const me = await (await api("/me")).json();
    sessionStorage.setItem("bladecell-key", state.key);
    $("#whoami").textContent = `signed in as ${me.username} (${me.role})`;
    showError("");
    await loadFamilies();
    await runSearch();
  } catch (err) {
    $("#whoami").textContent = "";
    showError(err.message);
  }
}

async function loadFamilies() {
  const families = await (await api("/part-families")).json();
  const select = $("#f-family");
  select.replaceChildren(el("option", "any", { value: "" }));
  for (const f of families) select.append(el("option", f.code, { value: f.code }));
}

async function runSearch(event, append = false) {
  if (event) event.preventDefault();
  try {
    if (!append) { state.query = formQuery(true); state.cursor = null; }
    const params = new URLSearchParams(state.query);
    if (append && state.cursor) params.append("cursor", state.cursor);
    if (!append) params.append("include_total", "true");
    const page = await (await api("/defects?" + params)).json();
    renderRows(page, append);
    showError("");
    if (!append) await drawTrend();
  } catch (err) {
    showError(err.message);
  }
}

function renderRows(page, append) {
  const body = $("#results tbody");
  if (!append) body.replaceChildren();
  for (const d of page.items) {
    const row = el("tr", undefined, { "data-id": d.id });
    const cells = [d.id, d.detected_at.replace("T", " ").slice(0, 19), d.blade_serial, d.part_family, d.defect_class,
      d.confidence.toFixed(2), d.area_mm2.toFixed(3), d.cell, d.model_version || "", d.review_status];
    for (const c of cells) row.append(el("td", c));
    row.addEventListener("click", () => showDetail(d.id, row));
    body.append(row);
  }
  if (page.total !== null && page.total !== undefined) $("#result-count").textContent = `(${page.total} found)`;
  state.cursor = page.next_cursor;
  $("#next-page").hidden = !page.next_cursor;
}

async function showDetail(id, row) {
  try {
    const d = await (await api(`/defects/${id}`)).json();
    document.querySelectorAll("#results tbody tr.selected").forEach((r) => r.classList.remove("selected"));
    if (row) row.classList.add("selected");
    state.selected = d.id;
    $("#detail-id").textContent = `#${d.id}`;
    const fields = $("#detail-fields");
    fields.replaceChildren();
    const items = [["Blade", d.blade_serial], ["Part family", d.part_family], ["Class", d.defect_class],
      ["Confidence", d.confidence.toFixed(3)], ["Area", `${d.area_mm2.toFixed(3)} mm² (${d.pixel_area} px)`],
      ["Bounding box", d.bbox.join(", ")], ["Location (mm)", d.location_mm ? d.location_mm.join(", ") : "–"],
      ["Region", d.blade_region || "–"], ["Viewpoint", d.viewpoint_index], ["Cell", d.cell],
      ["Cycle verdict", d.verdict], ["Model", d.model_version || "–"], ["Detected", d.detected_at],
      ["Channels", d.channels.map((c) => c.channel).join(", ")], ["Review", d.review_status]];
    for (const [k, v] of items) { fields.append(el("dt", k)); fields.append(el("dd", v, { "data-field": k })); }
    const mapLink = el("a", "show on the blade map", { id: "blade-map-link",
      href: `blademap.html?serial=${encodeURIComponent(d.blade_serial)}&cycle=${d.cycle_id}&defect=${d.id}` });
    const mapCell = el("dd");
    mapCell.append(mapLink);
    fields.append(el("dt", "Blade map"), mapCell);
    const blob = await (await api(`/defects/${id}/overlay.png`)).blob();
    const img = $("#overlay-img");
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(blob);
    $("#detail").hidden = false;
    showError("");
    if (typeof reviewEditor !== "undefined") await reviewEditor.open(d); // review.js: corrections editor
  } catch (err) {
    showError(err.message);
  }
}

async function review(status) {
  // A review is a correction (review.js): the capture's label changes with it, for retraining. A model
  // registered before corrections existed has no class list: then only the review status is kept.
  if (!state.selected) return;
  const row = document.querySelector(`#results tbody tr[data-id="${state.selected}"]`);
  const stored = await reviewEditor.correct({ kind: status === "confirmed" ? "confirm" : "false_positive" });
  try {
    if (!stored) {
      const reason = $("#error-banner").textContent;
      await api(`/defects/${state.selected}/review`, {
        method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ review_status: status }),
      });
      await showDetail(state.selected, row);
      showError(`review saved, but no label: ${reason}`);
    }
    if (row) row.lastChild.textContent = status;
  } catch (err) {
    showError(err.message);
  }
}

async function downloadCsv() {
  try {
    const response = await api("/defects/export.csv?" + formQuery(false));
    const blob = await response.blob();
    const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
    const link = el("a", undefined, { href: URL.createObjectURL(blob), download: match ? match[1] : "defects.csv" });
    document.body.append(link);
    link.click();
    setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
  } catch (err) {
    showError(err.message);
  }
}

async function drawTrend() {
  const params = formQuery(false);
  params.delete("sort");
  const stats = await (await api("/stats/defects-per-week?" + params)).json();
  const box = $("#trend-chart");
  const W = 560, H = 240, L = 40, R = 110, T = 10, B = 30;
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "data-weeks": stats.weeks.length });
  svg.append(svgEl("title", {}, `defects per week: ${stats.total} in total`));
  if (!stats.weeks.length) {
    svg.append(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no defects in this period"));
    box.replaceChildren(svg);
    return;
  }
  const maxCount = Math.max(1, ...stats.classes.flatMap((c) => stats.counts[c]));
  const n = stats.weeks.length;
  const x = (i) => L + (n === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
  const y = (v) => H - B - (v / maxCount) * (H - T - B);
  svg.append(svgEl("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  svg.append(svgEl("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  for (const v of [0, Math.round(maxCount / 2), maxCount]) {
    svg.append(svgEl("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" }, v));
  }
  const step = Math.max(1, Math.ceil(n / 6));
  stats.weeks.forEach((w, i) => {
    if (i % step === 0) svg.append(svgEl("text", { x: x(i), y: H - B + 14, "text-anchor": "middle" }, w.slice(5)));
  });
  stats.classes.forEach((cls, k) => {
    const colour = CLASS_COLOURS[k % CLASS_COLOURS.length];
    const points = stats.counts[cls].map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    svg.append(svgEl("polyline", { points, fill: "none", stroke: colour, "stroke-width": 2, "data-class": cls }));
    stats.counts[cls].forEach((v, i) => svg.append(svgEl("circle", { cx: x(i), cy: y(v), r: 2.5, fill: colour })));
    svg.append(svgEl("rect", { x: W - R + 10, y: T + k * 16, width: 10, height: 10, fill: colour }));
    svg.append(svgEl("text", { x: W - R + 24, y: T + k * 16 + 9 }, cls));
  });
  box.replaceChildren(svg);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#key-form").addEventListener("submit", signIn);
  $("#search-form").addEventListener("submit", (e) => runSearch(e, false));
  $("#next-page").addEventListener("click", () => runSearch(null, true));
  $("#csv-btn").addEventListener("click", downloadCsv);
  $("#review-confirm").addEventListener("click", () => review("confirmed"));
  $("#review-fp").addEventListener("click", () => review("false_positive"));
  if (state.key) { $("#api-key").value = state.key; signIn(); }
});
