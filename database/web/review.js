// Correction editor of the defect detail (issue 18): a quality engineer's review becomes a label.
// Confirm / false positive / change class are one click; "paint" edits the capture's class mask with a
// brush, an eraser or a polygon on top of the capture, with a channel switch, and saves it as a mask
// correction. Each correction is stored server-side with who, when and which model; the history is
// listed under the editor. Also shows the family's "retrain / redesign recommended" flag.
// Plain JS and canvas, no libraries; values from the API go in with textContent only.
"use strict";

const reviewEditor = (() => {
  const COLOURS = [[0, 0, 0], [214, 39, 40], [31, 119, 180], [44, 160, 44], [255, 127, 14], [148, 103, 189],
    [140, 86, 75], [227, 119, 194], [23, 190, 207]];
  const ed = { defect: null, classes: [], labels: null, w: 0, h: 0, image: null, tool: "brush", polygon: [],
    painting: false, dirty: false };
  const q = (sel) => document.querySelector(sel);

  async function call(path, options = {}) {
    return api(path, options); // app.js: adds the key, turns errors into messages
  }

  function post(path, body) {
    return call(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  function loadImage(blob) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("the image could not be decoded"));
      img.src = URL.createObjectURL(blob);
    });
  }

  async function loadLabel(id) {
    const response = await call(`/defects/${id}/label.png`);
    ed.classes = (response.headers.get("X-Label-Classes") || "").split(",").filter(Boolean);
    const img = await loadImage(await response.blob());
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    ed.w = canvas.width; ed.h = canvas.height;
    ed.labels = new Uint8Array(ed.w * ed.h);
    for (let i = 0; i < ed.labels.length; i++) ed.labels[i] = px[4 * i];
    URL.revokeObjectURL(img.src);
  }

  async function loadChannel() {
    const channel = q("#ed-channel").value;
    const blob = await (await call(`/defects/${ed.defect.id}/capture.png?channel=${encodeURIComponent(channel)}`)).blob();
    if (ed.image) URL.revokeObjectURL(ed.image.src);
    ed.image = await loadImage(blob);
    draw();
    q("#ed-canvas").dataset.channel = channel;
  }

  function draw() {
    const canvas = q("#ed-canvas");
    canvas.width = ed.w; canvas.height = ed.h;
    const ctx = canvas.getContext("2d");
    if (ed.image) ctx.drawImage(ed.image, 0, 0, ed.w, ed.h);
    const base = ctx.getImageData(0, 0, ed.w, ed.h);
    const alpha = Number(q("#ed-opacity").value);
    for (let i = 0; i < ed.labels.length; i++) {
      const k = ed.labels[i];
      if (!k) continue;
      const c = COLOURS[k % COLOURS.length];
      for (let j = 0; j < 3; j++) base.data[4 * i + j] = (1 - alpha) * base.data[4 * i + j] + alpha * c[j];
    }
    ctx.putImageData(base, 0, 0);
    if (ed.polygon.length) {
      ctx.strokeStyle = "#ff0"; ctx.lineWidth = 1; ctx.beginPath();
      ed.polygon.forEach(([x, y], n) => (n ? ctx.lineTo(x + 0.5, y + 0.5) : ctx.moveTo(x + 0.5, y + 0.5)));
      ctx.stroke();
    }
  }

  function pixelOf(event) {
    const canvas = q("#ed-canvas");
    const r = canvas.getBoundingClientRect();
    return [Math.floor(((event.clientX - r.left) / r.width) * ed.w), Math.floor(((event.clientY - r.top) / r.height) * ed.h)];
  }

  function paintClass() { return ed.tool === "eraser" ? 0 : Number(q("#ed-class").value); }

  function dab([cx, cy]) {
    const radius = Number(q("#ed-size").value) / 2, value = paintClass();
    for (let y = Math.max(0, Math.floor(cy - radius)); y <= Math.min(ed.h - 1, cy + radius); y++) {
      for (let x = Math.max(0, Math.floor(cx - radius)); x <= Math.min(ed.w - 1, cx + radius); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= radius * radius) ed.labels[y * ed.w + x] = value;
      }
    }
    ed.dirty = true;
  }

  function fillPolygon() {
    if (ed.polygon.length < 3) return;
    const path = new Path2D();
    ed.polygon.forEach(([x, y], n) => (n ? path.lineTo(x + 0.5, y + 0.5) : path.moveTo(x + 0.5, y + 0.5)));
    path.closePath();
    const ctx = document.createElement("canvas").getContext("2d");
    const value = Number(q("#ed-class").value);
    for (let y = 0; y < ed.h; y++) for (let x = 0; x < ed.w; x++) {
      if (ctx.isPointInPath(path, x + 0.5, y + 0.5)) ed.labels[y * ed.w + x] = value;
    }
    ed.polygon = [];
    ed.dirty = true;
    draw();
  }

  function maskBase64() {
    // The browser writes RGBA PNGs; the server accepts one whose R = G = B (the class index), alpha opaque.
    const canvas = document.createElement("canvas");
    canvas.width = ed.w; canvas.height = ed.h;
    const ctx = canvas.getContext("2d");
    const out = ctx.createImageData(ed.w, ed.h);
    for (let i = 0; i < ed.labels.length; i++) {
      out.data[4 * i] = out.data[4 * i + 1] = out.data[4 * i + 2] = ed.labels[i];
      out.data[4 * i + 3] = 255;
    }
    ctx.putImageData(out, 0, 0);
    return canvas.toDataURL("image/png").split(",")[1];
  }

  async function history() {
    const rows = await (await call(`/defects/${ed.defect.id}/corrections`)).json();
    const list = q("#ed-history");
    list.replaceChildren();
    for (const c of rows) {
      const what = c.kind === "class_change" ? `class → ${c.to_class}` : c.kind.replace("_", " ");
      list.append(el("li", `${c.created_at.slice(0, 19)} ${c.created_by || "?"}: ${what} (${c.changed_pixels} px changed; model ${c.model_version || "–"})`));
    }
  }

  async function correct(body) {
    // true when the correction was stored (the detail is then reloaded with the new label)
    const id = ed.defect ? ed.defect.id : state.selected;
    try {
      await post(`/defects/${id}/corrections`, body);
    } catch (err) {
      showError(err.message);
      return false;
    }
    ed.dirty = false;
    showError("");
    await showDetail(id, document.querySelector(`#results tbody tr[data-id="${id}"]`));
    return true;
  }

  async function flag(family) {
    const box = q("#model-flag");
    try {
      const h = await (await call(`/model-life/health?part_family=${encodeURIComponent(family)}`)).json();
      box.hidden = h.level === "ok";
      box.className = h.level;
      box.replaceChildren(el("strong", `${family} ${h.model_version}: ${h.level.replace("_", " ")}`));
      const list = el("ul");
      for (const r of h.reasons) list.append(el("li", r));
      box.append(list);
    } catch (_) {
      box.hidden = true; // no assessment recorded yet
    }
  }

  async function open(defect) {
    ed.defect = defect; ed.polygon = []; ed.dirty = false;
    delete q("#review-editor").dataset.defect;
    await flag(defect.part_family);
    try {
      await loadLabel(defect.id);
      const channel = q("#ed-channel");
      channel.replaceChildren(...defect.channels.map((c) => el("option", c.channel, { value: c.channel })));
      const cls = q("#ed-class");
      cls.replaceChildren(...ed.classes.slice(1).map((name, k) => el("option", name, { value: String(k + 1) })));
      const change = q("#ed-to-class");
      change.replaceChildren(...ed.classes.slice(1).filter((n) => n !== defect.defect_class).map((n) => el("option", n, { value: n })));
      q("#review-editor").hidden = false;
      await loadChannel();
      await history();
      q("#ed-unavailable").textContent = "";
      q("#review-editor").dataset.defect = String(defect.id); // the editor shows this defect now
    } catch (err) {
      q("#review-editor").hidden = true;
      q("#ed-unavailable").textContent = `The label of this capture cannot be edited: ${err.message}`;
    }
  }

  function install() {
    const canvas = q("#ed-canvas");
    canvas.addEventListener("pointerdown", (e) => {
      if (ed.tool === "polygon") { ed.polygon.push(pixelOf(e)); draw(); return; }
      ed.painting = true; canvas.setPointerCapture(e.pointerId); dab(pixelOf(e)); draw();
    });
    canvas.addEventListener("pointermove", (e) => { if (ed.painting) { dab(pixelOf(e)); draw(); } });
    canvas.addEventListener("pointerup", () => { ed.painting = false; });
    canvas.addEventListener("dblclick", fillPolygon);
    for (const tool of ["brush", "eraser", "polygon"]) {
      q(`#ed-${tool}`).addEventListener("click", () => {
        ed.tool = tool; ed.polygon = [];
        document.querySelectorAll("#ed-tools button").forEach((b) => b.classList.toggle("active", b.id === `ed-${tool}`));
        draw();
      });
    }
    q("#ed-close-polygon").addEventListener("click", fillPolygon);
    q("#ed-channel").addEventListener("change", () => loadChannel().catch((err) => showError(err.message)));
    q("#ed-opacity").addEventListener("input", draw);
    q("#ed-reset").addEventListener("click", () => open(ed.defect));
    q("#ed-save").addEventListener("click", () => correct({ kind: "mask_edit", mask_png: maskBase64() }));
    q("#ed-change-class").addEventListener("click", () => correct({ kind: "class_change", to_class: q("#ed-to-class").value }));
  }

  return { open, install, correct, flag };
})();

document.addEventListener("DOMContentLoaded", () => reviewEditor.install());
