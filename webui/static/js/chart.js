/* Metric charts on uPlot: bucketed line + min/max band, drag to zoom (re-queried at full
 * resolution), smoothing (EMA, running average, gaussian) with the raw line faint behind, log y,
 * y range, outlier clipping, group mean with a min–max or std band, legend at the cursor,
 * CSV/Parquet download, and lazy creation as charts scroll into view. Chart data comes in
 * batches (one /charts request per group of charts on screen) as binary columns (chartbin.py). */
(function () {
  "use strict";
  const { h, clear, urls, getJSON, ApiError, fmtNum, fmtInt, fmtDuration, alpha } = window.LT;
  const HEIGHT = 200;
  const X_LABELS = { step: "step", wall_time: "wall time", relative_time: "relative time" };

  /* --- smoothing: the same definitions as docs/ui.md (and the tests' numpy twin) ---------- */
  /* running: mean of the last `n` finite values (n = window); gaussian: weights
   * exp(-d²/2σ²) over |d| ≤ 3σ, normalised over the finite neighbours. */
  function running(ys, n) {
    n = Math.max(1, Math.round(n));
    const out = new Array(ys.length), win = [];
    let sum = 0;
    for (let i = 0; i < ys.length; i++) {
      const v = ys[i];
      if (v === null || !isFinite(v)) { out[i] = null; continue; }
      win.push(v); sum += v;
      if (win.length > n) sum -= win.shift();
      out[i] = sum / win.length;
    }
    return out;
  }
  function gaussian(ys, sigma) {
    if (!(sigma > 0)) return ys;
    const r = Math.ceil(3 * sigma), w = [];
    for (let d = -r; d <= r; d++) w.push(Math.exp(-(d * d) / (2 * sigma * sigma)));
    const out = new Array(ys.length);
    for (let i = 0; i < ys.length; i++) {
      if (ys[i] === null || !isFinite(ys[i])) { out[i] = null; continue; }
      let s = 0, c = 0;
      for (let d = -r; d <= r; d++) {
        const v = ys[i + d];
        if (v === null || v === undefined || !isFinite(v)) continue;
        s += w[d + r] * v; c += w[d + r];
      }
      out[i] = s / c;
    }
    return out;
  }
  function smooth(ys, kind, amount) {
    if (kind === "ema") return ema(ys, amount);
    if (kind === "running") return amount > 1 ? running(ys, amount) : ys;
    if (kind === "gaussian") return gaussian(ys, amount);
    return ys;
  }
  /* Outlier clipping: the y range of the 1st–99th percentile of what is drawn, padded 10 %. */
  function clipRange(arrays) {
    const vals = [];
    for (const a of arrays) for (const v of a) if (v !== null && isFinite(v)) vals.push(v);
    if (vals.length < 10) return null;
    vals.sort((a, b) => a - b);
    const lo = vals[Math.floor(0.01 * (vals.length - 1))], hi = vals[Math.ceil(0.99 * (vals.length - 1))];
    const pad = (hi - lo) * 0.1 || Math.abs(hi) * 0.1 || 1;
    return [lo - pad, hi + pad];
  }

  /* --- binary chart columns (webui/chartbin.py) -------------------------------------------- */
  function decodeCharts(buf, lazy) {
    const dv = new DataView(buf);
    if (String.fromCharCode(dv.getUint8(0), dv.getUint8(1), dv.getUint8(2), dv.getUint8(3)) !== "LTC1") throw new ApiError("not a chart body");
    const size = dv.getUint32(4, true), base = 8 + size;
    const head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, size)));
    function column(c) {
      const out = new Array(c.n);
      if (c.type === "u16") {
        const q = new Uint16Array(buf, base + c.offset, c.n), k = (c.hi - c.lo) / 65534;
        for (let i = 0; i < c.n; i++) out[i] = q[i] === 65535 ? null : c.lo + q[i] * k;
      } else {
        const a = c.type === "f64" ? new Float64Array(buf, base + c.offset, c.n) : new Float32Array(buf, base + c.offset, c.n);
        for (let i = 0; i < c.n; i++) out[i] = Number.isNaN(a[i]) ? null : a[i];
      }
      return out;
    }
    function walk(node) {
      if (Array.isArray(node)) return node.map(walk);
      if (node && typeof node === "object") {
        if ("offset" in node && "type" in node && "n" in node) return column(node);
        const o = {};
        for (const [k, v] of Object.entries(node)) o[k] = walk(v);
        return o;
      }
      return node;
    }
    /* lazy: each chart's columns become arrays only when asked for (when it is drawn), so a
     * batch of many charts is not decoded in one task */
    return lazy ? head.charts.map((c) => ({ key: c.key, decode: () => walk(c) })) : walk(head).charts;
  }
  /* Page-wide pacing of chart drawing: a canvas is rasterised in the frame after it is drawn,
   * so charts drawn between two frames all land in that one frame's task. Each frame takes
   * charts up to FRAME_LINES lines (a band counts as a line), and always at least one: the
   * first screen's few-line charts paint together, 100-line charts one per frame. Waiters go
   * in order. */
  const FRAME_LINES = 120;
  let frameLines = 0, frameAsked = false;
  const drawWaiters = [];
  function afterFrame() {
    setTimeout(() => {
      frameLines = 0; frameAsked = false;
      while (drawWaiters.length && grant(drawWaiters[0].lines)) drawWaiters.shift().resolve();
    }, 0);
  }
  function grant(lines) {
    if (frameLines && frameLines + lines > FRAME_LINES) return false;
    frameLines += lines;
    if (!frameAsked) { frameAsked = true; requestAnimationFrame(afterFrame); }
    return true;
  }
  function drawSlot(lines) {
    if (!drawWaiters.length && grant(lines)) return Promise.resolve();
    return new Promise((resolve) => drawWaiters.push({ lines, resolve }));
  }
  function lineCount(data) {
    if (!data) return 1;
    const lines = data.groups && data.groups.length ? data.groups : data.runs || [];
    return lines.reduce((n, l) => n + (l.min && lines.length <= BAND_LINES ? 2 : 1), 0) || 1;
  }
  /* The reply to one /charts request: decoders by key and its ETag (byKey null: 304). */
  async function fetchCharts(url, init) {
    const resp = await fetch(url, init);
    if (resp.status === 304) return { byKey: null, tag: null };
    if (!resp.ok) { let m = resp.statusText; try { m = (await resp.json()).error.message; } catch (e) { /* not JSON */ } throw new ApiError(m); }
    const tag = (resp.headers.get("ETag") || "").replace(/^W\//, "").replace(/"/g, "");
    return { byKey: new Map(decodeCharts(await resp.arrayBuffer(), true).map((c) => [c.key, c.decode])), tag };
  }
  /* The page's preload link, rel=preload id=lt-first-charts (pages.first_charts): the first screen's
   * chart request, made from the <head> before the scripts arrived. Each of its charts is
   * served once, to the first chart asking for it with the same runs, x axis and resolution
   * (no grouping, no zoom); a chart it does not serve asks the server itself. */
  class Preload {
    constructor(link) {
      this.href = link ? link.href : null; this.reply = null; this.keys = new Set(); this.args = {};
      if (!link) return;
      const q = new URL(link.href).searchParams;
      this.keys = new Set((q.get("keys") || "").split(","));
      for (const k of q.keys()) if (k !== "keys" && k !== "format") this.args[k] = q.get(k);
      /* taken over at once (made as the <link> made it, or the browser does not reuse the
       * preloaded reply), so it is read while the page builds its charts, not after */
      this.reply = fetchCharts(this.href, { credentials: "same-origin" });
      this.reply.catch(() => { /* the charts that take it report it */ });
    }
    take(rest, item) {
      if (item.etag || !this.keys.has(item.params.key)) return null;
      const a = Object.keys(rest), b = Object.keys(this.args);
      if (a.length !== b.length || !a.every((k) => String(rest[k]) === this.args[k])) return null;
      this.keys.delete(item.params.key);
      return this.reply;
    }
  }
  let preload = null;
  const thePreload = () => preload || (preload = new Preload(document.getElementById("lt-first-charts")));
  thePreload();
  /* Collects the loads charts ask for within one tick and sends one request per set of
   * shared arguments (runs, x axis, buckets, grouping), up to BATCH keys each. The page's
   * first request holds FIRST charts, fewer of many runs (at most FIRST_LINES lines, and at
   * least one chart): = webui/pages.py's first_count. The later ones hold up to BATCH_LINES
   * lines, so a 100-run grid's charts come in several smaller replies that the server works
   * on side by side and that paint as each arrives. */
  const BATCH = 12, FIRST = 3, FIRST_LINES = 60, BATCH_LINES = 400;
  const perRequest = (most, lines, runs) => Math.max(1, Math.min(most, Math.floor(lines / Math.max(1, runs))));
  /* Until the charts of a feed's first request have drawn, its other requests wait (made at
   * once, a screen of 100-run charts would have the server work on all of them beside the
   * first, and the page decode them beside its first draw): the first panel first. */
  class ChartFeed {
    constructor() {
      this.queue = []; this.timer = null; this.bytes = 0;
      this.firstDrawn = new Promise((resolve) => { this.firstDone = resolve; });
    }
    request(params, etag) {
      return new Promise((resolve, reject) => {
        const item = { params, etag, resolve, reject };
        /* a chart the <head>'s preload holds is handed its reply at once, not a task later:
         * it draws as soon as the reply is read, before the browser paints the page around it */
        const rest = Object.assign({}, params); delete rest.key;
        const reply = thePreload().take(rest, item);
        if (reply) { this.started = true; this.deliver([item], reply, null, true); return; }
        this.queue.push(item);
        if (!this.timer) this.timer = setTimeout(() => this.flush(), 0);
      });
    }
    flush() {
      this.timer = null;
      const groups = new Map();
      for (const item of this.queue.splice(0)) {
        const rest = Object.assign({}, item.params); delete rest.key;
        const sig = JSON.stringify(rest);
        if (!groups.has(sig)) groups.set(sig, { rest, items: [] });
        groups.get(sig).items.push(item);
      }
      /* The page's first request carries only the first few charts (the top of the screen), so
       * they paint while the server works on the rest: the first screen first. */
      for (const { rest, items } of groups.values()) {
        const runs = String(rest.runs).split(",").length, batch = perRequest(BATCH, BATCH_LINES, runs);
        let i = 0;
        if (!this.started) {
          this.started = true;
          i = Math.min(perRequest(FIRST, FIRST_LINES, runs), items.length);
          this.send(rest, items.slice(0, i), true);
        }
        for (; i < items.length; i += batch) this.send(rest, items.slice(i, i + batch));
      }
    }
    send(rest, items, first) {
      const keys = [...new Set(items.map((it) => it.params.key))];
      const tags = new Set(items.map((it) => it.etag));
      const etag = tags.size === 1 ? [...tags][0] : null;
      const url = urls.api.charts(Object.assign({}, rest, { keys: keys.join(","), format: "bin" }));
      const init = { headers: etag ? { "If-None-Match": `"${etag}"` } : {}, cache: "no-store", credentials: "same-origin" };
      const reply = first ? fetchCharts(url, init) : this.firstDrawn.then(() => fetchCharts(url, init));
      this.deliver(items, reply, etag, first);
    }
    /* one chart decoded and drawn per task (its promise's continuation runs at once), and no
     * more per frame than drawSlot allows, so a batch never blocks the main thread long. Once
     * the page's first request has drawn its charts, the work that waited for them starts
     * (core.js afterFirstChart). */
    async deliver(items, reply, etag, first) {
      try {
        const { byKey, tag } = await reply;
        if (!byKey) { for (const it of items) it.resolve({ data: null, etag }); return; }
        for (const it of items) {
          const decode = byKey.get(it.params.key), data = decode ? decode() : null;
          await drawSlot(lineCount(data));
          it.resolve({ data, etag: tag });
          await new Promise((r) => setTimeout(r, 0)); /* it draws in this task, the next in another */
        }
      } catch (e) { for (const it of items) it.reject(e); }
      finally { if (first) { this.firstDone(); LT.firstChartPainted(); } }
    }
  }
  const defaultFeed = new ChartFeed();

  function ema(ys, w) {
    if (!(w > 0)) return ys;
    const out = new Array(ys.length);
    let s = 0, c = 0;
    for (let i = 0; i < ys.length; i++) {
      const v = ys[i];
      if (v === null || !isFinite(v)) { out[i] = null; continue; }
      s = w * s + (1 - w) * v; c = w * c + (1 - w);
      out[i] = s / c;
    }
    return out;
  }
  const positive = (ys) => ys && ys.map((v) => (v !== null && v > 0 ? v : null));
  function fmtTick(v) {
    if (v === null) return "";
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toPrecision(3) + "B";
    if (a >= 1e6) return (v / 1e6).toPrecision(3) + "M";
    if (a >= 1e4) return (v / 1e3).toPrecision(3) + "k";
    return fmtNum(v);
  }
  function fmtX(axis, v) {
    if (v === null || v === undefined) return "";
    if (axis === "wall_time") return new Date(v * 1000).toLocaleString();
    if (axis === "relative_time") return fmtDuration(v);
    if (axis === "step") return fmtTick(Math.round(v));
    return fmtTick(v);
  }

  /* Page-wide chart settings: x axis, log y, smoothing, key search. */
  class ChartControls {
    constructor(el, xChoices) {
      this.el = el; this.listeners = [];
      const saved = JSON.parse(localStorage.getItem("lt.chart") || "{}");
      this.x = "default"; this.logY = Boolean(saved.logY); this.smoothing = Number(saved.smoothing || 0); this.search = "";
      this.render(xChoices || []);
    }
    on(fn) { this.listeners.push(fn); }
    emit(what) {
      localStorage.setItem("lt.chart", JSON.stringify({ logY: this.logY, smoothing: this.smoothing }));
      for (const fn of this.listeners) fn(what);
    }
    render(metricKeys) {
      const search = h("input", { type: "search", id: "chart-search", placeholder: "Search charts…", "aria-label": "Search charts" });
      search.addEventListener("input", () => { this.search = search.value.trim().toLowerCase(); this.emit("search"); });
      const xSel = h("select", { id: "chart-x", "aria-label": "X axis" },
        /* "default": each chart's define_metric(step_metric=) axis where it has one, else step */
        [h("option", { value: "default", text: "default (define_metric)" })],
        Object.entries(X_LABELS).map(([v, l]) => h("option", { value: v, text: l })),
        metricKeys.length ? h("optgroup", { label: "metric" }, metricKeys.map((k) => h("option", { value: k, text: k }))) : null);
      xSel.addEventListener("change", () => { this.x = xSel.value; this.emit("x"); });
      const log = h("input", { type: "checkbox", id: "chart-logy", checked: this.logY });
      log.addEventListener("change", () => { this.logY = log.checked; this.emit("style"); });
      const smooth = h("input", { type: "range", id: "chart-smoothing", min: "0", max: "0.99", step: "0.01", value: String(this.smoothing) });
      const shown = h("span", { class: "mono", text: this.smoothing.toFixed(2) });
      smooth.addEventListener("input", () => { this.smoothing = Number(smooth.value); shown.textContent = this.smoothing.toFixed(2); this.emit("style"); });
      clear(this.el).append(search,
        h("label", { class: "ctl" }, "X axis", xSel),
        h("label", { class: "ctl" }, log, "log y"),
        h("label", { class: "ctl", title: "Exponential moving average, applied in the browser; the raw line stays faint behind" }, "smoothing", smooth, shown));
    }
  }

  /* Hover dots only on the drawn lines (not band edges or faint raw lines), and none at all past
   * CURSOR_LINES lines (the legend gives the values): each dot is an element, and hundreds per
   * chart made a grid of 100-run charts slow to lay out and composite. */
  const CURSOR_LINES = 20, LEGEND_MAX = 20; /* the legend lists the first 20 lines, then "+N more" */
  /* Past this many lines the min/max bands are not drawn: a hundred overlapping translucent
   * bands hide the lines and were most of a chart's drawing time. Group runs to see spread. */
  const BAND_LINES = 30; /* = webui/chartbin.py's BAND_LINES (the binary body leaves them out) */
  function cursorPoint(series) {
    const lines = series.filter((s) => s.label).length;
    return (u, si) => {
      if (lines > CURSOR_LINES || !series[si] || !series[si].label) return null;
      const pt = document.createElement("div");
      Object.assign(pt.style, { width: "5px", height: "5px", marginLeft: "-2.5px", marginTop: "-2.5px" });
      return pt;
    };
  }

  class Chart {
    /* opts: {runIds, names, colors, key, controls, groupBy, project} */
    constructor(card, opts) {
      this.card = card; this.opts = opts; this.key = opts.key; this.controls = opts.controls;
      this.range = null; this.data = null; this.etag = null; this.plot = null; this.loading = false;
      this.build();
    }
    build() {
      this.zoomBtn = h("button", { type: "button", text: "reset zoom", hidden: true, on: { click: () => this.zoom(null) } });
      this.csv = h("a", { text: "CSV", download: "" });
      this.parquet = h("a", { text: "Parquet", download: "" });
      this.plotEl = h("div", { class: "chart-plot" }, h("div", { class: "chart-msg", text: "Loading…" }));
      this.label = h("span", { class: "sample" });
      this.legend = h("div", { class: "chart-legend" });
      clear(this.card).append(
        h("div", { class: "chart-title" }, h("span", { class: "key", title: this.key, text: this.key }), h("span", { class: "spacer" }), this.zoomBtn, this.csv, this.parquet),
        this.plotEl, h("div", { class: "chart-foot" }, this.label), this.legend);
      this.card.dataset.chart = "ready";
    }
    /* System metrics count samples, not training steps: they are drawn against time. */
    xAxis() {
      const x = this.controls.x;
      return (x === "step" || x === "default") && this.key.startsWith("system/") ? "relative_time" : x;
    }
    params(extra) {
      const p = { runs: this.opts.runIds.join(","), key: this.key, x: this.xAxis() };
      if (this.range) { p.x0 = this.range[0]; p.x1 = this.range[1]; }
      return Object.assign(p, extra || {});
    }
    /* about one bucket per two pixels (min/max bands keep every spike), in steps of 50 so the
     * charts of a grid share one value and so one request */
    buckets() { return Math.max(100, Math.min(1000, Math.round((this.card.clientWidth || 600) / 100) * 50)); }
    async load(force) {
      if (this.loading) { this.pending = true; return; }
      this.loading = true;
      const params = this.params({ buckets: this.buckets(), group_by: this.opts.groupBy || null });
      for (const k of Object.keys(params)) if (params[k] === null || params[k] === undefined || params[k] === "") delete params[k];
      const url = JSON.stringify(params);
      if (url !== this.url) { this.url = url; this.etag = null; }
      try {
        const { data, etag } = await (this.opts.feed || defaultFeed).request(params, force ? null : this.etag);
        if (data !== null) { this.etag = etag; this.data = data; this.draw(); }
      } catch (e) {
        this.message(e instanceof ApiError ? e.message : "Could not reach the server.", true);
      } finally {
        this.loading = false;
        if (this.pending) { this.pending = false; this.load(); }
      }
      this.csv.href = urls.api.exportChart(this.params({ format: "csv" }));
      this.parquet.href = urls.api.exportChart(this.params({ format: "parquet" }));
    }
    message(text, err) {
      if (this.plot) { this.plot.destroy(); this.plot = null; }
      clear(this.plotEl).appendChild(h("div", { class: "chart-msg" + (err ? " err" : ""), text }));
    }
    zoom(range) { this.range = range; this.zoomBtn.hidden = !range; this.load(); }
    lines() {
      /* One entry per drawn line: {id, name, color, last, min, max}. */
      const d = this.data, colors = this.opts.colors;
      if (d.groups) {
        const gc = LT.assignColors(d.groups.map((g) => g.value));
        const std = this.controls.band === "std", none = this.controls.band === "none";
      const off = (m, s, sign) => m.map((v, i) => (v === null || s[i] === null ? null : v + sign * s[i]));
      return d.groups.map((g) => ({ id: g.value, name: `${g.value} (mean of ${g.run_ids.length})`, color: gc[g.value], last: g.mean,
        min: none ? null : std && g.std ? off(g.mean, g.std, -1) : g.min, max: none ? null : std && g.std ? off(g.mean, g.std, 1) : g.max }));
      }
      return d.runs.map((r) => ({ id: r.id, name: r.name, color: colors[r.id] || "#3b5bdb", last: r.last, min: r.min, max: r.max }));
    }
    draw() {
      if (this.asleep) return; /* wake() draws it, with the settings of then */
      const d = this.data;
      if (!d.x.length) { this.message(this.range ? "No points in this range." : "No points yet."); this.label.textContent = d.label; return; }
      const c = this.controls, log = this.opts.logY !== undefined ? this.opts.logY : c.logY, w = c.smoothing;
      const kind = c.smoothKind || "ema";
      const data = [d.x], series = [{ value: (u, v) => fmtX(d.x_axis, v) }], bands = [], legend = [];
      /* past BAND_LINES lines: 1 px lines, which the canvas rasterises as hairlines, several
       * times faster than wider strokes (a 100-line chart: about 60 → 15 ms of CPU) */
      const lines = this.lines(), banded = lines.length <= BAND_LINES, thin = !banded;
      for (const line of lines) {
        const tr = (ys) => (log ? positive(ys) : ys);
        if (banded && line.min && line.max) {
          data.push(tr(line.max), tr(line.min));
          series.push({ stroke: "rgba(0,0,0,0)", width: 0, points: { show: false }, spanGaps: true },
            { stroke: "rgba(0,0,0,0)", width: 0, points: { show: false }, spanGaps: true });
          bands.push({ series: [data.length - 2, data.length - 1], fill: alpha(line.color, 0.14) });
        }
        if (w > 0) {
          data.push(tr(line.last));
          series.push({ stroke: alpha(line.color, 0.28), width: 1, points: { show: false }, spanGaps: true });
        }
        data.push(tr(smooth(line.last, kind, w)));
        /* one or two samples make no visible line: draw them as points */
        const sparse = line.last.filter((v) => v !== null).length <= 2;
        series.push({ label: line.name, stroke: line.color, width: thin ? 1 : 1.5, points: { show: sparse, size: 7, fill: line.color }, spanGaps: true });
        legend.push({ line, idx: data.length - 1 });
      }
      this.legendItems = legend;
      this.log = log;
      this.yRange = [c.yMin, c.yMax];
      if (c.clip) { const r = clipRange(legend.map((l) => data[l.idx])); if (r) this.yRange = [c.yMin ?? r[0], c.yMax ?? r[1]]; }
      this.render(data, series, bands);
      const one = d.x.length === 1 ? (this.key.startsWith("system/") ? "1 sample" : "1 point") : null;
      this.label.textContent = (one || d.label) + (this.range ? " · zoomed (double-click to reset)" : "");
      this.label.title = d.runs.map((r) => `${r.name}: ${fmtInt(r.shown_points)} of ${fmtInt(r.points_in_range)}`).join("\n");
      this.updateLegend(null);
      this.card.dataset.painted = "true";
      if (!this.marked) { this.marked = true; performance.mark(`lt:painted:${this.key}`); }
    }
    render(data, series, bands) {
      if (this.plot) this.plot.destroy();
      clear(this.plotEl);
      const self = this, xAxis = this.data.x_axis;
      const opts = {
        width: Math.max(200, this.plotEl.clientWidth || this.card.clientWidth - 20), height: HEIGHT,
        legend: { show: false },
        cursor: { drag: { x: true, y: false, setScale: false }, sync: { key: "lt-" + xAxis }, points: { size: 5, show: cursorPoint(series) } },
        scales: { x: { time: xAxis === "wall_time" }, y: this.yScale() },
        axes: [
          { stroke: "#6b7180", grid: { stroke: "#eef0f4" }, ticks: { stroke: "#e2e4ea" },
            values: xAxis === "wall_time" ? undefined : (u, vals) => vals.map((v) => fmtX(xAxis, v)) },
          { stroke: "#6b7180", size: 52, grid: { stroke: "#eef0f4" }, ticks: { stroke: "#e2e4ea" }, values: (u, vals) => vals.map(fmtTick) },
        ],
        series, bands,
        hooks: {
          setSelect: [(u) => {
            if (u.select.width < 4) return;
            const x0 = u.posToVal(u.select.left, "x"), x1 = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            self.zoom([x0, x1]);
          }],
          setCursor: [(u) => self.updateLegend(u.cursor.idx)],
        },
      };
      this.plot = new uPlot(opts, data, this.plotEl);
      this.plot.over.addEventListener("dblclick", () => { if (this.range) this.zoom(null); });
    }
    yScale() {
      const [lo, hi] = this.yRange || [];
      const fixed = (lo !== null && lo !== undefined) || (hi !== null && hi !== undefined);
      const y = { distr: this.log ? 3 : 1 };
      if (fixed) y.range = (u, mn, mx) => [lo ?? mn, hi ?? mx];
      return y;
    }
    /* Values at the cursor; away from the plot, each line's last value. */
    updateLegend(idx) {
      if (!this.plot || !this.legendItems) return;
      const data = this.plot.data, xs = data[0];
      const hover = idx !== null && idx !== undefined;
      const lastOf = (ys) => { for (let i = ys.length - 1; i >= 0; i--) if (ys[i] !== null && ys[i] !== undefined) return i; return -1; };
      const xLabel = X_LABELS[this.data.x_axis] || this.data.x_axis;
      const items = [h("span", { class: "item muted", text: hover ? `${xLabel} ${fmtX(this.data.x_axis, xs[idx])}` : `last ${xLabel}` })];
      for (const { line, idx: s } of this.legendItems.slice(0, LEGEND_MAX)) {
        const at = hover ? idx : lastOf(data[s]);
        const sw = h("span", { class: "swatch" });
        sw.style.background = line.color;
        items.push(h("span", { class: "item", title: line.name }, sw, h("span", { class: "name", text: line.name }),
          h("span", { class: "v", text: at >= 0 ? fmtNum(data[s][at]) : "—" })));
      }
      const more = this.legendItems.length - LEGEND_MAX;
      if (more > 0) items.push(h("span", { class: "item muted", text: `+${more} more`, title: this.legendItems.slice(LEGEND_MAX).map((l) => l.line.name).join("\n") }));
      clear(this.legend).append(...items);
    }
    resize() { if (this.plot) this.plot.setSize({ width: Math.max(200, this.plotEl.clientWidth), height: HEIGHT }); }
    destroy() { if (this.plot) this.plot.destroy(); this.plot = null; }
    /* Far off screen: the canvas and its elements go, the data and the card's height stay, so
     * a page of many charts keeps only those near the screen alive (what a frame lays out,
     * paints and layerizes grows with them); wake() draws it again, paced like a new one. */
    sleep() {
      if (!this.plot) return;
      this.plotEl.style.height = `${HEIGHT}px`;
      this.destroy();
      this.asleep = true;
    }
    async wake() {
      if (!this.asleep) return;
      this.asleep = false;
      if (!this.data) return;
      await drawSlot(lineCount(this.data));
      if (!this.asleep && !this.plot) { this.draw(); this.plotEl.style.height = ""; }
    }
  }

  /* Sections of chart cards; a chart is created when its card scrolls into view. */
  class ChartGrid {
    constructor(el, controls, makeOpts) {
      this.el = el; this.controls = controls; this.makeOpts = makeOpts;
      this.cards = new Map(); this.charts = new Map(); this.visible = new Set(); this.sections = new Map();
      this.io = new IntersectionObserver((entries) => this.onIntersect(entries), { rootMargin: "300px 0px" });
      this.ro = new ResizeObserver(() => { for (const c of this.charts.values()) c.resize(); });
      this.ro.observe(el);
      controls.on((what) => this.onControls(what));
    }
    update(sections) {
      for (const s of sections) {
        let sec = this.sections.get(s.name);
        if (!sec) {
          const grid = h("div", { class: "chart-grid" });
          const count = h("span", { class: "count" });
          const det = h("details", { class: "chart-section", open: true, dataset: { section: s.name } }, h("summary", {}, s.name, " ", count), grid);
          this.el.appendChild(det);
          sec = { det, grid, count, keys: [] };
          this.sections.set(s.name, sec);
        }
        for (const key of s.keys) {
          if (this.cards.has(key)) continue;
          const card = h("div", { class: "chart-card", dataset: { key } }, h("div", { class: "chart-title" }, h("span", { class: "key", text: key })), h("div", { class: "chart-msg", text: "" }));
          sec.grid.appendChild(card); sec.keys.push(key);
          this.cards.set(key, card); this.io.observe(card);
        }
        sec.count.textContent = sec.keys.length;
      }
      /* keep sections in the server's order when a live run adds one (appendChild moves) */
      const want = sections.map((s) => this.sections.get(s.name).det);
      const have = [...this.el.children].filter((c) => c.classList.contains("chart-section"));
      if (want.some((d, i) => have[i] !== d)) for (const d of want) this.el.appendChild(d);
      this.applySearch();
    }
    onIntersect(entries) {
      const start = []; /* loaded after every new card is built: one layout for all, not one each */
      for (const e of entries) {
        const key = e.target.dataset.key;
        if (!e.isIntersecting) { this.visible.delete(key); continue; }
        this.visible.add(key);
        let chart = this.charts.get(key);
        if (!chart) { chart = new Chart(e.target, Object.assign({ key, controls: this.controls }, this.makeOpts())); this.charts.set(key, chart); start.push(chart); }
        else if (chart.stale) { chart.stale = false; start.push(chart); }
      }
      for (const chart of start) chart.load();
    }
    onControls(what) {
      if (what === "search") return this.applySearch();
      for (const [key, chart] of this.charts) {
        if (what === "x") { chart.range = null; chart.zoomBtn.hidden = true; }
        if (what === "style") { if (chart.data) chart.draw(); continue; }
        if (this.visible.has(key)) chart.load(); else chart.stale = true;
      }
    }
    applySearch() {
      const q = this.controls.search;
      for (const sec of this.sections.values()) {
        let shown = 0;
        for (const key of sec.keys) {
          const hit = !q || key.toLowerCase().includes(q);
          this.cards.get(key).classList.toggle("hidden", !hit);
          shown += hit ? 1 : 0;
        }
        sec.det.hidden = shown === 0;
      }
    }
    /* Data landed: refetch visible charts now (304 if theirs did not change), others later. */
    refresh(opts) {
      for (const [key, chart] of this.charts) {
        if (opts) Object.assign(chart.opts, opts);
        if (this.visible.has(key)) chart.load(); else chart.stale = true;
      }
    }
  }

  Object.assign(window.LT, { Chart, ChartGrid, ChartControls, ChartFeed, ema, running, gaussian, smooth, clipRange, decodeCharts, fmtX, X_LABELS });
})();
