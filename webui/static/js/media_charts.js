/* Media tab: localtrack.plot preset charts, drawn natively — uPlot for lines, points, curves and
 * histograms (hover shows values, drag zooms, double-click resets), a canvas for bars and the
 * confusion matrix (hover shows the cell). */
(function () {
  "use strict";
  const { h, clear, urls, getJSON, ApiError, fmtInt, fmtNum, PALETTE } = window.LT;
  const COLORS = PALETTE || ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
  const W = 460, H = 280;

  /* {name: [xs, ys]} -> uPlot data on one sorted x (uPlot.join), with null gaps. */
  function joined(series) {
    const names = Object.keys(series);
    const tables = names.map((n) => {
      const [xs, ys] = series[n], order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
      return [order.map((i) => xs[i]), order.map((i) => ys[i])];
    });
    return { names, data: window.uPlot.join(tables) };
  }
  function groupBy(cols, by, x, y) {
    const out = {};
    cols[x].forEach((xv, i) => {
      const k = by ? String(cols[by][i]) : y;
      (out[k] = out[k] || [[], []])[0].push(Number(xv)); out[k][1].push(Number(cols[y][i]));
    });
    return out;
  }
  function linePlot(el, series, xLabel, yLabel, points) {
    const { names, data } = joined(series);
    const opts = {
      width: W, height: H, legend: { show: true, live: true }, cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false } },
      axes: [{ label: xLabel }, { label: yLabel }],
      series: [{ label: xLabel, value: (u, v) => (v == null ? "—" : fmtNum(v)) }].concat(names.map((n, i) => ({
        label: n, stroke: COLORS[i % COLORS.length], spanGaps: true, width: points ? 0 : 1.5,
        paths: points ? () => null : undefined, points: { show: points, size: 5, fill: COLORS[i % COLORS.length] },
        value: (u, v) => (v == null ? "—" : fmtNum(v)),
      }))),
    };
    return new window.uPlot(opts, data, el);
  }
  function barsPlot(el, xs, ys, xLabel, yLabel) {
    const opts = {
      width: W, height: H, legend: { show: true, live: true }, cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false } }, axes: [{ label: xLabel }, { label: yLabel }],
      series: [{ label: xLabel, value: (u, v) => (v == null ? "—" : fmtNum(v)) },
        { label: yLabel, stroke: COLORS[0], fill: COLORS[0] + "99", paths: window.uPlot.paths.bars({ size: [0.9, 100] }), points: { show: false } }],
    };
    return new window.uPlot(opts, [xs, ys], el);
  }
  /* Categories on a canvas: bars by label, or the confusion matrix as a heat grid. */
  function canvasPlot(el, draw, hit) {
    const dpr = window.devicePixelRatio || 1;
    const canvas = h("canvas", { width: W * dpr, height: H * dpr, class: "preset-canvas" });
    canvas.style.width = W + "px"; canvas.style.height = H + "px";
    const tip = h("div", { class: "muted small preset-tip", text: " " });
    el.append(canvas, tip);
    const g = canvas.getContext("2d"); g.scale(dpr, dpr); g.font = "11px system-ui, sans-serif";
    draw(g);
    canvas.addEventListener("mousemove", (e) => { tip.textContent = hit(e.offsetX, e.offsetY) || " "; });
    return canvas;
  }
  function barChart(el, labels, values, valueName) {
    const max = Math.max(0, ...values), min = Math.min(0, ...values), L = 40, B = 40, bw = (W - L - 8) / Math.max(1, labels.length);
    const y = (v) => 8 + (H - B - 8) * (1 - (v - min) / ((max - min) || 1));
    return canvasPlot(el, (g) => {
      g.strokeStyle = "#999"; g.beginPath(); g.moveTo(L, y(0)); g.lineTo(W, y(0)); g.stroke();
      g.fillStyle = "#666"; g.fillText(fmtNum(max), 2, 14); g.fillText(fmtNum(min), 2, H - B);
      labels.forEach((lab, i) => {
        g.fillStyle = COLORS[i % COLORS.length];
        const top = y(Math.max(0, values[i])), bottom = y(Math.min(0, values[i]));
        g.fillRect(L + i * bw + bw * 0.1, top, bw * 0.8, Math.max(1, bottom - top));
        g.fillStyle = "#444"; g.fillText(String(lab).slice(0, Math.max(2, Math.floor(bw / 7))), L + i * bw + 2, H - B + 14);
      });
    }, (x) => { const i = Math.floor((x - L) / bw); return i >= 0 && i < labels.length ? `${labels[i]}: ${valueName} ${fmtNum(values[i])}` : ""; });
  }
  function confusion(el, cols) {
    const names = [...new Set(cols.Actual.concat(cols.Predicted))], n = names.length, at = new Map();
    cols.Actual.forEach((a, i) => at.set(`${a}\u0000${cols.Predicted[i]}`, cols.nPredictions[i]));
    const max = Math.max(1, ...cols.nPredictions), L = 60, T = 8, cw = (W - L - 8) / n, ch = (H - T - 30) / n;
    return canvasPlot(el, (g) => {
      names.forEach((a, r) => names.forEach((p, c) => {
        const v = at.get(`${a}\u0000${p}`) || 0, t = v / max;
        g.fillStyle = `rgba(31,119,180,${0.08 + 0.92 * t})`; g.fillRect(L + c * cw, T + r * ch, cw - 1, ch - 1);
        if (cw > 24 && ch > 12) { g.fillStyle = t > 0.5 ? "#fff" : "#222"; g.fillText(fmtInt(v), L + c * cw + 3, T + r * ch + ch / 2 + 4); }
      }));
      g.fillStyle = "#444";
      names.forEach((a, r) => g.fillText(String(a).slice(0, 9), 2, T + r * ch + ch / 2 + 4));
      names.forEach((p, c) => g.fillText(String(p).slice(0, Math.max(2, Math.floor(cw / 7))), L + c * cw + 2, H - 14));
      g.fillText("predicted →", W - 80, H - 2);
    }, (x, y) => {
      const c = Math.floor((x - L) / cw), r = Math.floor((y - T) / ch);
      if (c < 0 || r < 0 || c >= n || r >= n) return "";
      return `actual ${names[r]}, predicted ${names[c]}: ${fmtInt(at.get(`${names[r]}\u0000${names[c]}`) || 0)}`;
    });
  }
  function drawPreset(el, d) {
    const { preset, fields } = d.chart, cols = d.columns;
    if (preset === "line" || preset === "scatter") return linePlot(el, groupBy(cols, null, fields.x, fields.y), fields.x, fields.y, preset === "scatter");
    if (preset === "line_series") return linePlot(el, groupBy(cols, "lineKey", "step", "lineVal"), d.chart.xname || "x", "", false);
    if (preset === "pr_curve" || preset === "roc_curve") return linePlot(el, groupBy(cols, fields.class, fields.x, fields.y), fields.x, fields.y, false);
    if (preset === "histogram") {
      const { edges, counts } = d.bins;
      return barsPlot(el, counts.map((_, i) => (edges[i] + edges[i + 1]) / 2), counts, fields.value, "count");
    }
    if (preset === "bar") return barChart(el, cols[fields.label], cols[fields.value].map(Number), fields.value);
    if (preset === "confusion_matrix") return confusion(el, cols);
    throw new Error(`unknown preset ${preset}`);
  }

  class PresetCard {
    constructor(runId, entry) {
      this.runId = runId; this.key = entry.key; this.step = null; this.seq = 0;
      this.box = h("div", { class: "preset-box" });
      this.title = h("span", { class: "muted" });
      this.stepSel = h("select", { class: "small", "aria-label": `Step of ${entry.key}` });
      this.msg = h("div", { class: "muted small", hidden: true });
      this.el = h("div", { class: "media-card preset-card", dataset: { key: entry.key, type: "chart" } },
        h("div", { class: "chart-title" }, h("span", { class: "key", title: entry.key, text: entry.key }), h("span", { class: "spacer" }), this.title, this.stepSel),
        this.box, this.msg);
      this.stepSel.addEventListener("change", () => { this.step = this.stepSel.value === "" ? null : Number(this.stepSel.value); this.load(); });
      this.update(entry);
    }
    update(entry) {
      const keep = this.stepSel.value;
      clear(this.stepSel).append(h("option", { value: "", text: "latest" }), ...entry.steps.slice().reverse().map((s) => h("option", { value: String(s), text: `step ${fmtInt(s)}` })));
      this.stepSel.value = keep; this.stepSel.hidden = entry.steps.length < 2;
      if (this.awake) this.load();
    }
    wake() { this.awake = true; this.load(); }
    async load() {
      const seq = ++this.seq;
      try {
        const { data } = await getJSON(urls.api.chart(this.runId, { key: this.key, step: this.step }));
        if (seq !== this.seq || !data) return;
        if (this.plot && this.plot.destroy) this.plot.destroy();
        clear(this.box);
        this.title.textContent = data.chart.title || "";
        this.plot = drawPreset(this.box, data);
        this.el.dataset.preset = data.chart.preset; this.el.dataset.drawn = "1";
      } catch (e) {
        this.msg.hidden = false; this.msg.textContent = e instanceof ApiError ? e.message : `Could not draw this chart: ${e.message}`;
      }
    }
  }

  Object.assign(window.LT, { PresetCard, drawPreset });
})();
