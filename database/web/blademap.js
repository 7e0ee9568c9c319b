// The blade map: the part family's blade in 3D with every defect at its recorded blade-frame location
// (colour = class, size = area), the scan's viewpoints as camera frusta, a 2D unwrapped view (span ×
// chord, each side of the blade) for printing, and the blade's history side by side. three.js is
// vendored (vendor/three-0.181.0, MIT); the turning and zooming below is our own (pointer events, so
// touch works too; nothing depends on hover).
import * as THREE from "./vendor/three-0.181.0/three.module.min.js";

const $ = (sel) => document.querySelector(sel);
const T0 = performance.now(); // since navigation start: what the render-time target measures
const map = { ready: false, markers: [], renderMs: null, data: null, model: null, cycle: null };
window.__blademap = map; // tests read marker positions and timings here

function fail(message) {
  const banner = $("#error-banner");
  banner.textContent = message;
  banner.hidden = !message;
}

// ------------------------------------------------------------------------------------- mesh file
function decodeMesh(buffer) {
  const magic = new TextDecoder().decode(new Uint8Array(buffer, 0, 8));
  if (magic !== "BCMESH1\n") throw new Error("the blade mesh file is not in the BladeCell format");
  const length = new DataView(buffer).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 12, length)));
  const offset = 12 + length;
  const vertices = new Float32Array(buffer, offset, header.vertex_count * 3);
  const faces = new Uint32Array(buffer, offset + header.vertex_count * 12, header.face_count * 3);
  return { header, vertices, faces };
}

// ------------------------------------------------------------------------------------------ scene
const canvas = $("#scene");
const renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
renderer.setPixelRatio(1);
renderer.setSize(canvas.clientWidth, canvas.clientHeight, false);
const scene = new THREE.Scene();
scene.background = new THREE.Color(0x1d232b);
const camera = new THREE.PerspectiveCamera(35, canvas.clientWidth / canvas.clientHeight, 1, 5000);
camera.up.set(0, 0, 1); // the blade frame: span along +z
scene.add(new THREE.HemisphereLight(0xffffff, 0x303030, 2.2));
const sun = new THREE.DirectionalLight(0xffffff, 1.6);
scene.add(sun);
const bladeGroup = new THREE.Group();
const markerGroup = new THREE.Group();
const frustumGroup = new THREE.Group();
scene.add(bladeGroup, markerGroup, frustumGroup);
const view = { target: new THREE.Vector3(), radius: 200, azimuth: -0.9, elevation: 0.35 };

function placeCamera() {
  const { target, radius, azimuth, elevation } = view;
  camera.position.set(
    target.x + radius * Math.cos(elevation) * Math.cos(azimuth),
    target.y + radius * Math.cos(elevation) * Math.sin(azimuth),
    target.z + radius * Math.sin(elevation),
  );
  camera.lookAt(target);
  sun.position.copy(camera.position);
  camera.updateMatrixWorld();
}

function render() {
  placeCamera();
  renderer.render(scene, camera);
  updateScreenPositions();
}

function updateScreenPositions() {
  const rect = canvas.getBoundingClientRect();
  for (const m of map.markers) {
    const p = new THREE.Vector3(...m.position).project(camera);
    m.screen = [rect.left + (p.x + 1) / 2 * rect.width, rect.top + (1 - p.y) / 2 * rect.height];
  }
}

// Turning and zooming with pointers: one pointer turns, two pinch, the wheel zooms; a tap picks.
const pointers = new Map();
let dragged = 0;
canvas.addEventListener("pointerdown", (e) => {
  canvas.setPointerCapture(e.pointerId);
  pointers.set(e.pointerId, [e.clientX, e.clientY]);
  dragged = 0;
});
canvas.addEventListener("pointermove", (e) => {
  if (!pointers.has(e.pointerId)) return;
  const [x0, y0] = pointers.get(e.pointerId);
  if (pointers.size === 1) {
    view.azimuth -= (e.clientX - x0) * 0.01;
    view.elevation = Math.max(-1.5, Math.min(1.5, view.elevation + (e.clientY - y0) * 0.01));
  } else if (pointers.size === 2) {
    const [other] = [...pointers.entries()].filter(([id]) => id !== e.pointerId).map(([, p]) => p);
    const before = Math.hypot(x0 - other[0], y0 - other[1]);
    const after = Math.hypot(e.clientX - other[0], e.clientY - other[1]);
    if (after > 0) view.radius *= before / after;
  }
  dragged += Math.abs(e.clientX - x0) + Math.abs(e.clientY - y0);
  pointers.set(e.pointerId, [e.clientX, e.clientY]);
  render();
});
canvas.addEventListener("pointerup", (e) => {
  pointers.delete(e.pointerId);
  if (dragged < 6) pick(e.clientX, e.clientY);
});
canvas.addEventListener("pointercancel", (e) => pointers.delete(e.pointerId));
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  view.radius *= Math.exp(e.deltaY * 0.001);
  render();
}, { passive: false });

const raycaster = new THREE.Raycaster();
function pick(clientX, clientY) {
  const rect = canvas.getBoundingClientRect();
  const ndc = new THREE.Vector2((clientX - rect.left) / rect.width * 2 - 1, -((clientY - rect.top) / rect.height) * 2 + 1);
  raycaster.setFromCamera(ndc, camera);
  const hit = raycaster.intersectObjects(markerGroup.children, false)[0];
  if (hit) showDefect(hit.object.userData.defect, hit.object.userData.cycle);
}

// ------------------------------------------------------------------------------------- contents
function buildBlade(mesh) {
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute("position", new THREE.BufferAttribute(mesh.vertices, 3));
  geometry.setIndex(new THREE.BufferAttribute(mesh.faces, 1));
  geometry.computeVertexNormals();
  geometry.computeBoundingBox();
  bladeGroup.clear();
  bladeGroup.add(new THREE.Mesh(geometry, new THREE.MeshStandardMaterial({ color: 0xb8bec6, metalness: 0.3, roughness: 0.55 })));
  const box = geometry.boundingBox;
  box.getCenter(view.target);
  view.radius = 1.7 * box.getSize(new THREE.Vector3()).length();
  return geometry;
}

const sphere = new THREE.SphereGeometry(1, 14, 10);
const materials = new Map();
function material(cls) {
  if (!materials.has(cls)) materials.set(cls, new THREE.MeshBasicMaterial({ color: BC.classColour(cls) }));
  return materials.get(cls);
}
const radiusOf = (area) => Math.min(5, Math.max(0.5, Math.sqrt(Math.max(area, 0) / Math.PI)));

function buildMarkers(cycle) {
  markerGroup.clear();
  map.markers = [];
  for (const d of cycle.defects) {
    if (!d.location_mm) continue; // no pose when it was recorded: listed in the history table only
    const marker = new THREE.Mesh(sphere, material(d.defect_class));
    const r = radiusOf(d.area_mm2);
    marker.scale.setScalar(r);
    marker.position.set(...d.location_mm);
    marker.userData = { defect: d, cycle };
    markerGroup.add(marker);
    map.markers.push({ id: d.id, cycle_id: cycle.cycle_id, defect_class: d.defect_class, position: d.location_mm,
      radius_mm: r, colour: BC.classColour(d.defect_class), screen: null });
  }
  const classes = [...new Set(cycle.defects.map((d) => d.defect_class))].sort();
  $("#legend").replaceChildren(...classes.map((c) => {
    const n = cycle.defects.filter((d) => d.defect_class === c).length;
    const item = BC.el("span", `${c} (${n})`);
    item.style.setProperty("--c", BC.classColour(c));
    return item;
  }));
}

function buildFrusta(cycle) {
  frustumGroup.clear();
  const model = map.model;
  if (!model || !model.camera) return;
  const captured = new Set(cycle.viewpoints);
  const { fov_x_deg, fov_y_deg, distance_mm } = model.camera;
  const tx = Math.tan((fov_x_deg * Math.PI) / 360) * distance_mm;
  const ty = Math.tan((fov_y_deg * Math.PI) / 360) * distance_mm;
  const points = [];
  for (const v of model.viewpoints) {
    if (captured.size && !captured.has(v.index)) continue;
    const p = new THREE.Vector3(...v.position);
    const f = new THREE.Vector3(...v.forward);
    const up = new THREE.Vector3(...v.up);
    const right = new THREE.Vector3().crossVectors(f, up);
    const centre = p.clone().addScaledVector(f, distance_mm);
    const corners = [[1, 1], [1, -1], [-1, -1], [-1, 1]].map(([a, b]) =>
      centre.clone().addScaledVector(right, a * tx).addScaledVector(up, b * ty));
    for (let i = 0; i < 4; i++) points.push(p, corners[i], corners[i], corners[(i + 1) % 4]);
  }
  const geometry = new THREE.BufferGeometry().setFromPoints(points);
  frustumGroup.add(new THREE.LineSegments(geometry, new THREE.LineBasicMaterial({ color: 0x7fd4ff, transparent: true, opacity: 0.55 })));
  frustumGroup.userData.count = points.length / 16;
}

// --------------------------------------------------------------------------------- detail panel
async function showDefect(d, cycle) {
  $("#detail-id").textContent = `#${d.id}`;
  const fields = [
    ["Class", d.defect_class], ["Area (mm²)", d.area_mm2.toFixed(2)], ["Confidence", d.confidence.toFixed(2)],
    ["Location (mm)", d.location_mm ? d.location_mm.map((v) => v.toFixed(2)).join(", ") : "not located"],
    ["Side", d.location_mm ? sideOf(d.location_mm) : "–"], ["Region", d.blade_region || "–"],
    ["Viewpoint", d.viewpoint_index], ["Cycle", `${cycle.cycle_id} (${cycle.started_at.slice(0, 10)})`],
    ["Review", d.review_status],
  ];
  $("#detail-fields").replaceChildren(...fields.flatMap(([k, v]) => [BC.el("dt", k), BC.el("dd", v, { "data-field": k })]));
  const img = $("#overlay-img");
  $("#overlay-note").textContent = "loading the overlay…";
  img.hidden = true;
  try {
    const blob = await (await BC.api(`/defects/${d.id}/overlay.png`)).blob();
    if (img.dataset.url) URL.revokeObjectURL(img.dataset.url);
    img.dataset.url = URL.createObjectURL(blob);
    img.src = img.dataset.url;
    img.hidden = false;
    $("#overlay-note").textContent = "";
  } catch (err) {
    $("#overlay-note").textContent = err.status === 403
      ? "The overlay image needs the engineer role."
      : `No overlay: ${err.message}`;
  }
}

// ------------------------------------------------------------------------------- 2D unwrapped
// Span = z, chord = x of the blade frame; a point's side is the sign of the surface normal's y at the
// nearest mesh vertex (+y: suction side, -y: pressure side, for blades modelled with camber toward +y).
let normals = null;
let vertices = null;
function sideOf(p) {
  let best = 0; let bestD = Infinity;
  for (let i = 0; i < vertices.length; i += 3) {
    const d = (vertices[i] - p[0]) ** 2 + (vertices[i + 1] - p[1]) ** 2 + (vertices[i + 2] - p[2]) ** 2;
    if (d < bestD) { bestD = d; best = i; }
  }
  return normals[best + 1] >= 0 ? "suction" : "pressure";
}

// A side's silhouette in (chord, span): the narrowest and widest chord position in each of 40 span
// bands, so the airfoil, the platform and the root keep their own widths.
function silhouette(points, bands = 40) {
  if (!points.length) return [];
  const zs = points.map((p) => p[1]);
  const z0 = Math.min(...zs); const z1 = Math.max(...zs);
  const step = (z1 - z0) / bands || 1;
  const lo = new Array(bands).fill(Infinity); const hi = new Array(bands).fill(-Infinity);
  for (const [x, z] of points) {
    const k = Math.min(bands - 1, Math.floor((z - z0) / step));
    lo[k] = Math.min(lo[k], x); hi[k] = Math.max(hi[k], x);
  }
  const left = []; const right = [];
  for (let k = 0; k < bands; k++) {
    if (lo[k] === Infinity) continue;
    left.push([lo[k], z0 + k * step], [lo[k], z0 + (k + 1) * step]);
    right.push([hi[k], z0 + k * step], [hi[k], z0 + (k + 1) * step]);
  }
  return left.concat(right.reverse());
}

let outlines = null;
function sideOutlines() {
  const sides = { pressure: [], suction: [] };
  for (let i = 0; i < vertices.length; i += 3) {
    sides[normals[i + 1] >= 0 ? "suction" : "pressure"].push([vertices[i], vertices[i + 2]]);
  }
  return { pressure: silhouette(sides.pressure), suction: silhouette(sides.suction) };
}

function unwrappedSvg(cycle, width, withLabels) {
  const b = map.mesh.header.bounds;
  const [x0, , z0] = b[0]; const [x1, , z1] = b[1];
  const pad = withLabels ? 26 : 6;
  const panelW = (width - 3 * pad) / 2;
  const scale = panelW / (x1 - x0);
  const height = (z1 - z0) * scale + 2 * pad + (withLabels ? 14 : 0);
  const root = BC.svg("svg", { width, height: Math.round(height), viewBox: `0 0 ${width} ${Math.round(height)}`,
    "data-cycle": cycle.cycle_id });
  const top = pad + (withLabels ? 14 : 0);
  ["pressure", "suction"].forEach((side, k) => {
    const left = pad + k * (panelW + pad);
    const tx = (x) => left + (x - x0) * scale;
    const tz = (z) => top + (z1 - z) * scale;
    root.append(BC.svg("polygon", { points: outlines[side].map(([x, z]) => `${tx(x).toFixed(1)},${tz(z).toFixed(1)}`).join(" "),
      fill: "#eef1f4", stroke: "#9aa3ad" }));
    if (withLabels) {
      root.append(BC.svg("text", { x: left, y: 12 }, `${side} side (chord → x, span ↑ z, mm)`));
      root.append(BC.svg("text", { x: left, y: height - 4 }, `x ${x0.toFixed(0)} … ${x1.toFixed(0)}`));
    }
    for (const d of cycle.defects) {
      if (!d.location_mm || sideOf(d.location_mm) !== side) continue;
      const c = BC.svg("circle", { cx: tx(d.location_mm[0]).toFixed(2), cy: tz(d.location_mm[2]).toFixed(2),
        r: Math.max(1.5, radiusOf(d.area_mm2) * scale).toFixed(2), fill: BC.classColour(d.defect_class),
        "fill-opacity": 0.8, stroke: "#222", "stroke-width": 0.5, "data-defect": d.id });
      c.append(BC.svg("title", {}, `#${d.id} ${d.defect_class} ${d.area_mm2.toFixed(2)} mm²`));
      c.addEventListener("click", () => showDefect(d, cycle));
      root.append(c);
    }
  });
  return root;
}

const GROWTH_ROWS = 20;
function match(cycle, d) {
  let best = null; let bestD = 3;
  for (const e of cycle.defects) {
    if (!e.location_mm || e.defect_class !== d.defect_class) continue;
    const dist = Math.hypot(...e.location_mm.map((v, i) => v - d.location_mm[i]));
    if (dist <= bestD) { bestD = dist; best = e; }
  }
  return best;
}
function firstArea(cycle, d) { const m = match(cycle, d); return m ? m.area_mm2 : null; }

function drawHistory(data) {
  const panels = data.cycles.map((c) => {
    const fig = BC.el("figure");
    fig.append(unwrappedSvg(c, 260, false), BC.el("figcaption", `${c.started_at.slice(0, 10)} · ${c.verdict} · ${c.defects.length} defect(s)`));
    return fig;
  });
  $("#history-panels").replaceChildren(...panels);
  // Growth: each defect of the newest cycle, matched to the nearest defect of the same class within
  // 3 mm in every earlier cycle, with its area there.
  const newest = data.cycles.at(-1);
  const head = BC.el("tr");
  head.append(BC.el("th", "class"), BC.el("th", "location (mm)"), ...data.cycles.map((c) => BC.el("th", c.started_at.slice(0, 10))));
  $("#growth thead").replaceChildren(head);
  const rows = [];
  for (const d of newest ? newest.defects : []) {
    if (!d.location_mm) continue;
    const row = BC.el("tr", null, { "data-defect": d.id });
    row.append(BC.el("td", d.defect_class), BC.el("td", d.location_mm.map((v) => v.toFixed(1)).join(", ")));
    for (const c of data.cycles) {
      const best = match(c, d);
      row.append(BC.el("td", best ? `${best.area_mm2.toFixed(2)} mm²` : "–"));
    }
    rows.push([row, d.area_mm2 - (firstArea(data.cycles[0], d) ?? d.area_mm2)]);
  }
  rows.sort((a, b) => b[1] - a[1]); // the fastest-growing first
  $("#growth tbody").replaceChildren(...rows.slice(0, GROWTH_ROWS).map(([row]) => row));
  $("#growth-note").textContent = rows.length > GROWTH_ROWS
    ? `the ${GROWTH_ROWS} fastest-growing of ${rows.length} defects` : `${rows.length} defect(s)`;
}

// ------------------------------------------------------------------------------------ loading
function selectCycle(cycleId) {
  const cycle = map.data.cycles.find((c) => c.cycle_id === cycleId) || map.data.cycles.at(-1);
  map.cycle = cycle;
  buildMarkers(cycle);
  buildFrusta(cycle);
  frustumGroup.visible = $("#frusta").checked;
  $("#unwrapped-cycle").textContent = `cycle ${cycle.cycle_id}, ${cycle.started_at.slice(0, 10)}, ${cycle.verdict}`;
  $("#unwrapped-svg").replaceChildren(unwrappedSvg(cycle, 900, true));
  render();
}

async function open(serial) {
  fail("");
  map.ready = false;
  const data = await BC.json(`/blades/${encodeURIComponent(serial)}/defect-map`);
  map.data = data;
  $("#title").textContent = `${data.blade_serial} · ${data.part_family}`;
  if (!data.cycles.length) throw new Error(`blade ${data.blade_serial} has no recorded cycle yet`);
  let model;
  try {
    model = await BC.json(`/part-families/${encodeURIComponent(data.part_family)}/blade-model`);
  } catch (err) {
    if (err.status === 404) throw new Error(`part family ${data.part_family} has no blade model recorded yet: the cell registers it when it first inspects a blade of the family`);
    throw err;
  }
  map.model = model;
  const buffer = await (await BC.api(model.mesh_url.replace(/^\/api\/v1/, ""))).arrayBuffer();
  map.mesh = decodeMesh(buffer);
  const geometry = buildBlade(map.mesh);
  vertices = map.mesh.vertices;
  normals = geometry.getAttribute("normal").array;
  outlines = sideOutlines();
  const select = $("#cycle");
  select.replaceChildren(...data.cycles.map((c) => BC.el("option", `${c.started_at.slice(0, 16).replace("T", " ")} · ${c.verdict} · ${c.defects.length}`, { value: c.cycle_id })));
  const wanted = Number(new URLSearchParams(location.search).get("cycle")) || data.cycles.at(-1).cycle_id;
  select.value = String(wanted);
  selectCycle(wanted);
  drawHistory(data);
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  map.renderMs = performance.now() - T0;
  map.ready = true;
  const defectId = Number(new URLSearchParams(location.search).get("defect"));
  const chosen = defectId && map.cycle.defects.find((d) => d.id === defectId);
  if (chosen) showDefect(chosen, map.cycle);
}

$("#open-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const typed = $("#api-key").value.trim();
  if (typed) BC.setKey(typed);
  const serial = $("#serial").value.trim();
  history.replaceState(null, "", `?serial=${encodeURIComponent(serial)}`);
  open(serial).catch((err) => fail(err.message));
});
$("#cycle").addEventListener("change", (e) => selectCycle(Number(e.target.value)));
$("#frusta").addEventListener("change", (e) => { frustumGroup.visible = e.target.checked; render(); });
$("#print-btn").addEventListener("click", () => window.print());
map.project = () => { updateScreenPositions(); return map.markers; };
map.frustaShown = () => (frustumGroup.visible ? frustumGroup.userData.count || 0 : 0);

const initial = new URLSearchParams(location.search).get("serial");
if (initial) {
  $("#serial").value = initial;
  if (BC.key()) open(initial).catch((err) => fail(err.message));
  else fail("Sign in: enter your API key above and press Open.");
}
