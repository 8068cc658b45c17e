/* localtrack UI core: element builder, formatting, URLs, colours, and ETag polling.
 * Everything user-supplied goes into the DOM as text (textContent), never as HTML. */
(function () {
  "use strict";
  const body = document.body;
  const ROOT = body.dataset.root || "";
  const POLL_MS = Number(body.dataset.pollMs || 0);

  /* h("a", {href, class, text, on: {click}}, child, ...) -> element; strings become text nodes. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k in el && typeof v !== "string") el[k] = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  /* --- formatting ------------------------------------------------------------------------ */
  /* intl_deferred.js (loaded before uPlot) deferred uPlot's formatter; the real one is back */
  if (window.LT_NUMBER_FORMAT) { Intl.NumberFormat = window.LT_NUMBER_FORMAT; delete window.LT_NUMBER_FORMAT; }
  /* Whole numbers are grouped by hand (en-US: 12,345): a page's first Intl formatter costs
   * about 30 ms of CPU, which a chart's first paint would pay for its point counts. */
  let intFmt = null;
  function fmtInt(n) {
    if (n === null || n === undefined) return "—";
    if (Number.isInteger(n) && Math.abs(n) < 1e15) {
      const digits = String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
      return n < 0 ? "-" + digits : digits;
    }
    return (intFmt || (intFmt = new Intl.NumberFormat("en-US"))).format(n);
  }
  function fmtNum(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v !== "number") return String(v);
    if (!isFinite(v)) return String(v);
    if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3).replace(/\.?0+e/, "e");
    return String(Number(v.toPrecision(6)));
  }
  function fmtValue(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return fmtNum(v);
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  function fmtTime(ts, seconds) {
    if (ts === null || ts === undefined) return "—";
    const d = new Date(ts * 1000);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}` + (seconds ? `:${pad(d.getSeconds())}` : "");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
  }
  /* The twin of localtrack/humanize.py format_duration: same text for the same seconds. */
  function fmtDuration(s) {
    if (s === null || s === undefined || !isFinite(s)) return "—";
    const tenths = Math.floor(Math.max(0, s) * 10 + 0.5);
    if (tenths < 600) return `${Math.floor(tenths / 10)}.${tenths % 10}s`;
    let m = Math.floor(tenths / 600);
    if (m < 60) return `${m}m ${pad(Math.floor(tenths / 10) % 60)}s`;
    const hr = Math.floor(m / 60); m %= 60;
    if (hr < 48) return `${hr}h ${pad(m)}m`;
    return `${Math.floor(hr / 24)}d ${pad(hr % 24)}h`;
  }
  function fmtAgo(ts) {
    if (!ts) return "—";
    const s = Date.now() / 1000 - ts;
    if (s < 90) return "just now";
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400 * 2) return `${Math.round(s / 3600)} h ago`;
    return fmtTime(ts);
  }

  /* --- URLs: every internal address the scripts use is built here ------------------------- */
  const enc = encodeURIComponent;
  function qs(params) {
    const parts = [];
    for (const [k, v] of Object.entries(params || {})) {
      if (v === null || v === undefined || v === "") continue;
      for (const item of Array.isArray(v) ? v : [v]) parts.push(`${enc(k)}=${enc(item)}`);
    }
    return parts.length ? "?" + parts.join("&") : "";
  }
  /* The URL templates come from the server's route registry (webui/routes.py), as the JSON
   * block #lt-urls: name -> "/runs/<run_id>/media/<name>". */
  const URLS = JSON.parse((document.getElementById("lt-urls") || {}).textContent || "{}");
  function url(name, args, params) {
    const tpl = URLS[name];
    if (tpl === undefined) throw new Error(`no URL named ${name}`);
    return ROOT + tpl.replace(/<([^<>]+)>/g, (_, k) => enc(args[k])) + qs(params);
  }
  const urls = {
    projects: () => url("projects", {}),
    project: (p) => url("project", { project: p }),
    run: (id) => url("run", { run_id: id }),
    compare: (p, ids, keys) => url("compare", { project: p }, { runs: ids.join(","), keys: keys && keys.length ? keys.join(",") : null }),
    workspace: (p) => url("workspace", { project: p }),
    api: {
      projects: () => url("api.projects", {}),
      runs: (p, params) => url("api.runs", { project: p }, params),
      run: (id) => url("api.run", { run_id: id }),
      compare: (p, ids, keys) => url("api.compare", { project: p }, { runs: ids.join(","), keys: keys && keys.length ? keys.join(",") : null }),
      compareMedia: (p, ids, params) => url("api.compareMedia", { project: p }, Object.assign({ runs: ids.join(",") }, params)),
      series: (params) => url("api.series", {}, params),
      charts: (params) => url("api.charts", {}, params),
      workspace: (p) => url("api.workspace", { project: p }),
      views: (p) => url("api.views", { project: p }),
      view: (p, name) => url("api.view", { project: p, name }),
      exportChart: (params) => url("api.exportChart", {}, params),
      media: (id) => url("api.media", { run_id: id }),
      mediaFile: (id, name) => url("api.mediaFile", { run_id: id, name }),
      table: (id, params) => url("api.table", { run_id: id }, params),
      histograms: (id, params) => url("api.histograms", { run_id: id }, params),
      histogram: (id, params) => url("api.histogram", { run_id: id }, params),
      chart: (id, params) => url("api.chart", { run_id: id }, params),
      cloud: (id, name, params) => url("api.cloud", { run_id: id, name }, params),
      console: (id, params) => url("api.console", { run_id: id }, params),
      environment: (id) => url("api.environment", { run_id: id }),
      runFile: (id, name) => url("api.runFile", { run_id: id, name }),
    },
  };

  /* --- colours: distinct, and stable for a run across pages ------------------------------- */
  /* Ten strongly distinct colours first, then ten more; a run's id hashes into the first ten,
   * and only a set of more than ten runs spills into the second. */
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#4d4d4d", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#9edae5", "#dbdb8d", "#a0a0a0"];
  const CORE = 10;
  function hash(s) { let x = 2166136261; for (let i = 0; i < s.length; i++) { x ^= s.charCodeAt(i); x = Math.imul(x, 16777619); } return x >>> 0; }
  /* Colour per run id: stable (its hash picks the slot) and distinct within one set (a clash
   * probes to the next free slot, in sorted id order so every page agrees). */
  function assignColors(ids) {
    const used = new Set(), out = {};
    for (const id of [...ids].sort()) {
      const tier = used.size < CORE ? 0 : used.size < PALETTE.length ? CORE : -1;
      let slot = hash(id) % CORE + Math.max(tier, 0);
      if (tier >= 0) while (used.has(slot)) slot = tier + ((slot - tier + 1) % CORE);
      used.add(slot);
      out[id] = PALETTE[slot];
    }
    return out;
  }
  function alpha(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
  }

  /* --- fetching and polling --------------------------------------------------------------- */
  const live = document.getElementById("live");
  if (live && !POLL_MS) live.hidden = true; /* a page that does not poll is not live */
  /* Server-rendered times are in the server's zone: show them in the browser's. */
  for (const t of document.querySelectorAll("time[data-ts]")) t.textContent = fmtTime(Number(t.dataset.ts), true);
  function setLive(state, text) {
    if (!live) return;
    live.classList.toggle("on", state === "on");
    live.classList.toggle("error", state === "error");
    live.textContent = text;
  }
  class ApiError extends Error {}
  async function readError(resp) {
    try { const j = await resp.json(); return (j.error && j.error.message) || resp.statusText; }
    catch (e) { return `${resp.status} ${resp.statusText}`; }
  }
  /* GET JSON. With an etag, a 304 resolves to null (nothing changed). */
  async function getJSON(url, etag) {
    const headers = etag ? { "If-None-Match": `"${etag}"` } : {};
    const resp = await fetch(url, { headers, cache: "no-store", credentials: "same-origin" });
    if (resp.status === 304) return { data: null, etag };
    if (!resp.ok) throw new ApiError(await readError(resp));
    const tag = (resp.headers.get("ETag") || "").replace(/^W\//, "").replace(/"/g, "");
    return { data: await resp.json(), etag: tag };
  }

  /* Poll a URL with If-None-Match every POLL_MS; onData runs on the first reply and on change. */
  class Poller {
    constructor(url, onData, onError) {
      this.url = url; this.onData = onData; this.onError = onError || toast;
      this.etag = null; this.timer = null; this.busy = false; this.failures = 0;
      document.addEventListener("visibilitychange", () => { if (!document.hidden) this.kick(); });
    }
    setUrl(url) { if (url !== this.url) { this.url = url; this.etag = null; } return this.kick(); }
    start() { this.kick(); return this; }
    schedule() {
      clearTimeout(this.timer);
      if (POLL_MS > 0) this.timer = setTimeout(() => this.kick(), POLL_MS);
    }
    async kick() {
      if (this.busy) { this.again = true; return; }
      if (document.hidden && this.etag) { this.schedule(); return; }
      this.busy = true; this.again = false;
      const url = this.url;
      try {
        const { data, etag } = await getJSON(url, this.etag);
        if (url === this.url) {
          this.failures = 0;
          setLive("on", "live");
          if (data !== null) { this.etag = etag; await this.onData(data); }
        }
      } catch (e) {
        this.failures++;
        if (e instanceof ApiError) { this.etag = null; this.onError(e.message); setLive("on", "live"); }
        else setLive("error", "server unreachable");
      } finally {
        this.busy = false;
        if (this.again) this.kick(); else this.schedule();
      }
    }
  }

  let toastTimer = null;
  function toast(message) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = message; el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 6000);
  }

  /* A run-page tab that loads when first opened and refreshes when data lands while it is
   * open (or when it is opened again after data landed). Subclasses implement refresh(). */
  class TabPanel {
    constructor(el, runId) {
      this.el = el; this.runId = runId;
      this.active = false; this.running = false; this.loaded = false; this.stale = false; this.busy = false;
    }
    setActive(on, running) {
      this.active = on; this.running = running;
      if (on && (!this.loaded || this.stale)) this.kick();
    }
    changed(running) {
      this.running = running;
      if (this.active) this.kick(); else if (this.loaded) this.stale = true;
    }
    async kick() {
      if (this.busy) { this.again = true; return; }
      this.busy = true; this.again = false; this.stale = false;
      try { await this.refresh(); this.loaded = true; }
      catch (e) { this.failed(e instanceof ApiError ? e.message : "Could not reach the server."); }
      finally { this.busy = false; if (this.again) this.kick(); }
    }
    failed(message) { toast(message); }
  }

  function fmtBytes(n) {
    if (n === null || n === undefined) return "—";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let i = 0, v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(v < 10 ? 1 : 0) : String(v)) + " " + units[i];
  }

  /* Work the first screen does not need (the media tab's count, the run's artifacts, the
   * compare page's plots and media) waits until the charts of the page's first chart request
   * have painted (chart.js calls firstChartPainted), so it does not compete with them for the
   * server and the main thread; at most DEFER_MS. Pages that preload no chart data run it at
   * once. */
  const DEFER_MS = 1500;
  let released = !document.getElementById("lt-first-charts");
  const deferred = [];
  function firstChartPainted() {
    if (released) return;
    released = true;
    for (const fn of deferred.splice(0)) setTimeout(fn, 0);
  }
  function afterFirstChart() {
    return new Promise((resolve) => { if (released) resolve(); else deferred.push(resolve); });
  }
  if (!released) setTimeout(firstChartPainted, DEFER_MS);

  function stateBadge(state) { return h("span", { class: `badge state-${state}`, dataset: { state }, text: state }); }
  function tags(list) { return (list || []).map((t) => h("span", { class: "tag", text: t })); }

  window.LT = {
    h, append, clear, fmtInt, fmtNum, fmtValue, fmtTime, fmtDuration, fmtAgo, urls, qs,
    assignColors, alpha, PALETTE, getJSON, Poller, ApiError, toast, stateBadge, tags, setLive, POLL_MS,
    TabPanel, fmtBytes, afterFirstChart, firstChartPainted,
  };
})();
