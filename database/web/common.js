// Helpers shared by every page (the search page, the station and the blade map). Values from the API go into the page with textContent only, never innerHTML.
"use strict";

const BC = (() => {
  const API = "/api/v1";
  const KEY = "bladecell-key"; // the same key the search page stores, so one sign-in serves every page

  function describeError(status, body) {
    if (body && Array.isArray(body.detail)) {
      return `${status}: ` + body.detail.map((d) => `${(d.loc || []).slice(1).join(".") || "input"}: ${d.msg}`).join("\n");
    }
    return `${status}: ${body && body.detail ? body.detail : "request failed"}`;
  }

  async function api(path, options = {}) {
    const response = await fetch(API + path, {
      ...options,
      headers: { "X-API-Key": key(), ...(options.headers || {}) },
    });
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch (_) { /* not JSON */ }
      const error = new Error(describeError(response.status, body));
      error.status = response.status;
      throw error;
    }
    return response;
  }

  const json = async (path, options) => (await api(path, options)).json();
  const post = (path, body) => json(path, {
    method: "POST", body: JSON.stringify(body || {}), headers: { "Content-Type": "application/json" },
  });

  function key() { return sessionStorage.getItem(KEY) || ""; }
  function setKey(value) { sessionStorage.setItem(KEY, value); }

  function el(tag, text, attrs = {}) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // One colour per defect class, the same on every page (the search page's palette).
  const PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  const KNOWN = ["crack", "nick", "dent", "pitting", "coating_loss", "burn"];
  function classColour(name) {
    let i = KNOWN.indexOf(name);
    if (i < 0) { i = 0; for (const c of name) i = (i * 31 + c.charCodeAt(0)) >>> 0; i = KNOWN.length + (i % 2); }
    return PALETTE[i % PALETTE.length];
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.max(0, Math.round(seconds));
    return s >= 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s` : `${s} s`;
  }

  // Server-Sent Events read with fetch (EventSource cannot send the API key header). Calls onEvent
  // for each event, resumes after the last id seen (Last-Event-ID) when the stream drops, and tells
  // onStatus("live" | "reconnecting" | "stopped", detail) how the stream is.
  function streamEvents(path, onEvent, onStatus) {
    let lastId = null;
    let stopped = false;
    let controller = null;
    async function run() {
      while (!stopped) {
        controller = new AbortController();
        try {
          const headers = { "X-API-Key": key() };
          if (lastId !== null) headers["Last-Event-ID"] = String(lastId);
          const response = await fetch(API + path, { headers, signal: controller.signal, cache: "no-store" });
          if (!response.ok) {
            let body = null;
            try { body = await response.json(); } catch (_) { /* not JSON */ }
            if (response.status === 401 || response.status === 403) {
              onStatus("stopped", describeError(response.status, body));
              return;
            }
            throw new Error(describeError(response.status, body));
          }
          onStatus("live", lastId === null ? "" : `caught up after event ${lastId}`);
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += decoder.decode(value, { stream: true });
            let cut;
            while ((cut = buffer.indexOf("\n\n")) >= 0) {
              const block = buffer.slice(0, cut);
              buffer = buffer.slice(cut + 2);
              let id = null; let data = "";
              for (const line of block.split("\n")) {
                if (line.startsWith("id: ")) id = Number(line.slice(4));
                else if (line.startsWith("data: ")) data += line.slice(6);
              }
              if (data) {
                if (id !== null) lastId = id;
                onEvent(JSON.parse(data), id);
              }
            }
          }
          throw new Error("the server closed the stream");
        } catch (err) {
          if (stopped) return;
          onStatus("reconnecting", `event stream lost (${err.message}); reconnecting…`);
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      }
    }
    run();
    return {
      stop() { stopped = true; if (controller) controller.abort(); },
      drop() { if (controller) controller.abort(); }, // lose the connection (the page reconnects)
      get lastId() { return lastId; },
    };
  }

  return { api, json, post, key, setKey, el, svg, classColour, duration, streamEvents, describeError };
})();
