/* Histograms over steps: a heatmap (x: step, y: value, colour: share of that step's counts, like
 * TensorBoard's distributions) and the bars of one step, chosen with a slider or by clicking the
 * heatmap. Both are drawn on canvases; the data comes from /histograms and /histogram. */
(function () {
  "use strict";
  const { h, clear, urls, getJSON, ApiError, fmtNum, fmtInt } = window.LT;
  const HEIGHT = 220;
  const PAD = { left: 54, right: 10, top: 8, bottom: 24 };
  const AXIS = "#6b7180", GRID = "#eef0f4", MARK = "#ff7a45", BAR = "#3b5bdb";
  /* light to dark blue: empty bins stay the card's white */
  const STOPS = [[238, 242, 255], [182, 199, 252], [110, 140, 236], [59, 91, 219], [26, 35, 126]];

  function shade(t) {
    const x = Math.max(0, Math.min(1, t)) * (STOPS.length - 1);
    const i = Math.min(STOPS.length - 2, Math.floor(x)), f = x - i;
    return STOPS[i].map((c, k) => Math.round(c + (STOPS[i + 1][k] - c) * f));
  }
  function maxOf(values) { let m = 0; for (const v of values) if (v > m) m = v; return m; }
  /* About n round numbers covering [lo, hi]. */
  function ticks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
    return out;
  }
  function short(v) {
    const a = Math.abs(v);
    if (a >= 1e6 || (a > 0 && a < 1e-3)) return v.toExponential(1).replace(/\.0e/, "e");
    if (a >= 1e4) return (v / 1e3).toPrecision(3) + "k";
    return String(Number(v.toPrecision(4)));
  }
  /* A canvas sized to its box in CSS pixels, drawn at the screen's resolution. */
  function sized(canvas, width) {
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * dpr); canvas.height = Math.round(HEIGHT * dpr);
    canvas.style.width = width + "px"; canvas.style.height = HEIGHT + "px";
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = "11px system-ui, sans-serif";
    return ctx;
  }
  function axes(ctx, w, xTicks, yTicks, xPos, yPos, xFmt, yFmt) {
    ctx.fillStyle = AXIS; ctx.strokeStyle = GRID; ctx.lineWidth = 1;
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const v of yTicks) { const y = Math.round(yPos(v)) + 0.5; ctx.fillText(yFmt(v), PAD.left - 6, y); }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    let lastRight = -Infinity;
    for (const v of xTicks) {
      const x = xPos(v), label = xFmt(v), half = ctx.measureText(label).width / 2;
      if (x - half < lastRight + 6 || x + half > w) continue;
      ctx.fillText(label, x, HEIGHT - PAD.bottom + 6); lastRight = x + half;
    }
  }

  /* The heatmap: one column per (merged) step, one row per bin, each column scaled to its max. */
  function drawHeatmap(canvas, data, width, selected) {
    const ctx = sized(canvas, width);
    const cols = data.steps.length, rows = data.edges.length - 1;
    const pw = width - PAD.left - PAD.right, ph = HEIGHT - PAD.top - PAD.bottom;
    const img = new ImageData(cols, rows);
    data.counts.forEach((col, i) => {
      const max = maxOf(col);
      col.forEach((c, j) => {
        if (!(c > 0) || !(max > 0)) return;
        const o = ((rows - 1 - j) * cols + i) * 4, rgb = shade(Math.sqrt(c / max));
        img.data[o] = rgb[0]; img.data[o + 1] = rgb[1]; img.data[o + 2] = rgb[2]; img.data[o + 3] = 255;
      });
    });
    const off = document.createElement("canvas");
    off.width = cols; off.height = rows;
    off.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, PAD.left, PAD.top, pw, ph);
    ctx.strokeStyle = "#d9dce4"; ctx.strokeRect(PAD.left - 0.5, PAD.top - 0.5, pw + 1, ph + 1);
    const lo = data.edges[0], hi = data.edges[rows];
    const yPos = (v) => PAD.top + ph - ((v - lo) / (hi - lo || 1)) * ph;
    const first = data.step_from[0], last = data.steps[cols - 1];
    const colOf = (step) => { let i = data.steps.findIndex((s) => s >= step); return i < 0 ? cols - 1 : i; };
    const xPos = (step) => PAD.left + (colOf(step) + 0.5) * (pw / cols);
    axes(ctx, width, ticks(first, last, 6).filter((s) => Number.isInteger(s)), ticks(lo, hi, 6), xPos, yPos, (v) => fmtInt(v), short);
    if (selected !== null && selected !== undefined) {
      const x = Math.round(xPos(selected)) + 0.5;
      ctx.strokeStyle = MARK; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(x, PAD.top); ctx.lineTo(x, PAD.top + ph); ctx.stroke();
    }
    return { col: (px) => Math.max(0, Math.min(cols - 1, Math.floor((px - PAD.left) / (pw / cols)))),
      row: (py) => Math.max(0, Math.min(rows - 1, rows - 1 - Math.floor((py - PAD.top) / (ph / rows)))) };
  }

  /* One step's bars on its own bins. */
  function drawBars(canvas, edges, counts, width) {
    const ctx = sized(canvas, width);
    const pw = width - PAD.left - PAD.right, ph = HEIGHT - PAD.top - PAD.bottom;
    const lo = edges[0], hi = edges[edges.length - 1], top = maxOf(counts) || 1;
    const xPos = (v) => PAD.left + ((v - lo) / (hi - lo || 1)) * pw;
    const yPos = (v) => PAD.top + ph - (v / top) * ph;
    const yTicks = ticks(0, top, 4);
    ctx.strokeStyle = GRID;
    for (const v of yTicks) { const y = Math.round(yPos(v)) + 0.5; ctx.beginPath(); ctx.moveTo(PAD.left, y); ctx.lineTo(PAD.left + pw, y); ctx.stroke(); }
    ctx.fillStyle = BAR;
    counts.forEach((c, i) => {
      if (!(c > 0)) return;
      const x0 = xPos(edges[i]), x1 = xPos(edges[i + 1]);
      ctx.fillRect(x0, yPos(c), Math.max(1, x1 - x0 - (x1 - x0 > 3 ? 1 : 0)), PAD.top + ph - yPos(c));
    });
    axes(ctx, width, ticks(lo, hi, 5), yTicks, xPos, yPos, short, short);
  }

  class HistogramCard {
    constructor(runId, entry) {
      this.runId = runId; this.key = entry.key; this.data = null; this.etag = null; this.index = -1; this.seq = 0;
      this.heat = h("canvas", { class: "heatmap", "aria-label": `Histograms of ${entry.key} over steps` });
      this.bars = h("canvas", { class: "bars", "aria-label": `Histogram of ${entry.key} at the chosen step` });
      this.slider = h("input", { type: "range", min: "0", max: "0", value: "0", "aria-label": `Step of ${entry.key}` });
      this.label = h("span", { class: "step-label mono" });
      this.tip = h("div", { class: "tip", hidden: true });
      this.note = h("span", { class: "muted" });
      this.msg = h("div", { class: "hist-msg muted", text: "Loading…" });
      this.el = h("div", { class: "media-card hist-card", dataset: { key: entry.key, type: "histogram" } },
        h("div", { class: "chart-title" }, h("span", { class: "key", title: entry.key, text: entry.key }), h("span", { class: "spacer" }), this.note),
        h("div", { class: "hist-row" },
          h("div", { class: "hist-heat" }, this.msg, this.heat, this.tip),
          h("div", { class: "hist-bars" }, this.bars)),
        h("div", { class: "slider-row" }, this.slider, this.label));
      this.slider.addEventListener("input", () => this.choose(Number(this.slider.value)));
      this.heat.addEventListener("mousemove", (e) => this.hover(e));
      this.heat.addEventListener("mouseleave", () => { this.tip.hidden = true; });
      this.heat.addEventListener("click", (e) => {
        if (!this.map) return;
        const col = this.map.col(e.offsetX), step = this.data.steps[col];
        this.choose(this.data.all_steps.indexOf(step));
      });
      this.ro = new ResizeObserver(() => this.draw());
      this.ro.observe(this.el);
    }
    wake() { this.awake = true; this.update(); }
    update() {
      if (this.awake) this.load().catch((e) => LT.toast(e instanceof ApiError ? e.message : "Could not reach the server."));
    }
    async load() {
      const url = urls.api.histograms(this.runId, { key: this.key });
      const { data, etag } = await getJSON(url, this.etag);
      if (data === null) return;
      const atEnd = !this.data || this.index === this.data.all_steps.length - 1;
      this.data = data; this.etag = etag; this.msg.hidden = true;
      this.slider.max = String(data.all_steps.length - 1);
      this.note.textContent = data.merged ? `${fmtInt(data.total_steps)} steps, shown in ${data.steps.length} columns` : `${fmtInt(data.total_steps)} steps`;
      this.choose(atEnd ? data.all_steps.length - 1 : this.index, true);
    }
    widths() {
      const row = this.el.querySelector(".hist-row").clientWidth || 600;
      const barW = Math.max(200, Math.min(360, Math.round(row * 0.36)));
      return [Math.max(240, row - barW - 12), barW];
    }
    draw() {
      if (!this.data) return;
      const [hw] = this.widths();
      this.map = drawHeatmap(this.heat, this.data, hw, this.data.all_steps[this.index]);
      this.heat.dataset.painted = "true";
      if (this.one) this.drawOne();
    }
    drawOne() { drawBars(this.bars, this.one.edges, this.one.counts, this.widths()[1]); this.bars.dataset.painted = "true"; }
    async choose(index, force) {
      if (index < 0 || !this.data) return;
      const changed = index !== this.index;
      this.index = index; this.slider.value = String(index);
      const step = this.data.all_steps[index];
      this.label.textContent = `step ${fmtInt(step)}`;
      this.draw();
      if (!changed && !force) return;
      const seq = ++this.seq;
      try {
        const { data } = await getJSON(urls.api.histogram(this.runId, { key: this.key, step }));
        if (seq === this.seq && data) { this.one = data; this.drawOne(); }
      } catch (e) { if (seq === this.seq) LT.toast(e instanceof ApiError ? e.message : "Could not reach the server."); }
    }
    hover(e) {
      if (!this.map || !this.data) return;
      const col = this.map.col(e.offsetX), row = this.map.row(e.offsetY), d = this.data;
      const from = d.step_from[col], to = d.steps[col];
      const steps = from === to ? `step ${fmtInt(to)}` : `steps ${fmtInt(from)}–${fmtInt(to)}`;
      this.tip.textContent = `${steps} · [${fmtNum(d.edges[row])}, ${fmtNum(d.edges[row + 1])}) · count ${fmtNum(d.counts[col][row])}`;
      this.tip.hidden = false;
      this.tip.style.left = Math.min(e.offsetX + 12, this.heat.clientWidth - 200) + "px";
      this.tip.style.top = Math.max(0, e.offsetY - 28) + "px";
    }
    destroy() { this.ro.disconnect(); }
  }

  Object.assign(window.LT, { HistogramCard, drawHeatmap, drawBars });
})();
