/* Draws a report's blocks (webui/report_data.py) into an element: sanitised markdown HTML and
 * panels drawn by the UI's own code — line charts by chart.js's Chart, fed from the report's
 * embedded columns (zoom narrows them in the browser), tables, scatter, bars and parallel
 * coordinates by panels.js / plots.js, preset charts by media_charts.js. Used by the report
 * pages and, inlined, by an exported report file (data from #report-data). */
(function () {
  "use strict";
  const { h, clear, urls, fmtValue, fmtInt, assignColors } = window.LT;

  /* A chart feed answering from a chart's embedded data, narrowed to [x0, x1] on zoom. */
  function slice(arr, keep) { return arr ? arr.filter((_, i) => keep[i]) : arr; }
  function narrowed(d, x0, x1) {
    if (x0 === undefined || x1 === undefined) return d;
    const keep = d.x.map((x) => x !== null && x >= x0 && x <= x1);
    const cut = (r) => Object.assign({}, r, { last: slice(r.last, keep), min: slice(r.min, keep), max: slice(r.max, keep) });
    return Object.assign({}, d, { x: slice(d.x, keep), runs: d.runs.map(cut),
      groups: d.groups && d.groups.map((g) => Object.assign({}, g, { mean: slice(g.mean, keep), min: slice(g.min, keep), max: slice(g.max, keep), std: slice(g.std, keep) })) });
  }
  /* `data` is replaced when the report's data changes (live), then the chart reloads: a zoomed
   * chart stays zoomed. */
  function staticFeed(chart) {
    return { data: chart, request(params) { return Promise.resolve({ data: narrowed(this.data, params.x0, params.x1), etag: null }); } };
  }

  function lineCharts(el, panel, colors, live) {
    const spec = panel.spec || {};
    const controls = { x: spec.x || "default", logY: Boolean(spec.log_y), smoothing: Number(spec.smoothing || 0), smoothKind: "ema", band: "minmax", clip: false, yMin: null, yMax: null };
    const grid = h("div", { class: "chart-grid report-charts" });
    el.append(grid);
    for (const data of panel.charts || []) {
      const card = h("div", { class: "chart-card", dataset: { key: data.key } });
      grid.append(card);
      const feed = staticFeed(data);
      const chart = new window.LT.Chart(card, { key: data.key, runIds: panel.runs.map((r) => r.id), colors, controls, feed });
      live.set(data.key, { chart, feed });
      chart.load();
    }
  }

  function mediaGrid(el, panel) {
    const names = Object.fromEntries(panel.runs.map((r) => [r.id, r.name]));
    el.append(h("div", { class: "report-media" }, (panel.images || []).map((img) => {
      const src = img.src || (img.src === undefined ? urls.api.mediaFile(img.run, img.file) : null);
      return h("figure", { class: "report-image" },
        src ? h("img", { src, alt: img.caption || img.key }) : h("div", { class: "muted", text: "(not embedded)" }),
        h("figcaption", { text: `${names[img.run] || img.run} · ${img.key} · step ${fmtInt(img.step)}${img.caption ? " · " + img.caption : ""}` }));
    })));
  }

  function presets(el, panel) {
    for (const p of panel.presets || []) {
      const box = h("div", { class: "preset-box" });
      el.append(h("div", { class: "media-card preset-card", dataset: { key: p.data.key } },
        h("div", { class: "chart-title" }, h("span", { class: "key", text: `${p.data.key} · ${p.name}` })), box));
      try { window.LT.drawPreset(box, p.data); el.lastChild.dataset.drawn = "1"; }
      catch (e) { box.append(h("p", { class: "muted", text: `Could not draw this chart: ${e.message}` })); }
    }
  }

  function compareTable(el, panel) {
    el.append(h("div", { class: "table-wrap scroll-both" }, h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, h("th", { text: "field" }), panel.runs.map((r) => h("th", { text: r.name })))),
      h("tbody", {}, (panel.compare || []).map((row) => h("tr", {}, h("td", { class: "mono", text: row.field }), row.values.map((v) => h("td", { text: fmtValue(v) }))))))));
  }

  function drawPanel(el, panel, live) {
    const colors = assignColors(panel.runs.map((r) => r.id));
    const spec = panel.spec || {};
    const ctx = { runs: panel.runs, colors, fields: panel.fields || [], groupBy: spec.group_by || "", update: () => {} };
    const body = h("div", { class: "report-panel-body" });
    el.append(body);
    const type = panel.type;
    if (!panel.runs.length) return;
    if (type === "line") lineCharts(body, panel, colors, live);
    else if (type === "media") mediaGrid(body, panel);
    else if (type === "preset") presets(body, panel);
    else if (type === "compare") compareTable(body, panel);
    else if (type === "scatter" && spec.x && spec.y) { const plot = h("div", { class: "plot" }); body.append(plot); window.LT.scatter(plot, panel.runs, spec.x, spec.y, colors); }
    else if (window.LT.PANELS[type]) window.LT.PANELS[type](body, { fields: spec.fields, y: spec.y, x: spec.x, keys: spec.keys }, ctx);
  }

  /* A line panel's charts update in place when only their columns changed; other panels are
   * redrawn when their data changed at all. */
  function lineShape(b) {
    return JSON.stringify({ spec: b.spec, notes: b.notes, runs: b.runs.map((r) => [r.id, r.name]), keys: (b.charts || []).map((c) => c.key) });
  }
  function blockShape(b) { return b.kind === "panel" && b.type === "line" ? lineShape(b) : JSON.stringify(b); }

  function metaText(data) {
    const when = new Date(data.generated_at * 1000).toLocaleString();
    return data.mode === "pinned" ? `Pinned to each run's recorded step · data as of ${when}` : `Live · data as of ${when}`;
  }

  function drawBlock(block, i) {
    if (block.kind === "html") {
      const div = h("div", { class: "report-text" });
      div.innerHTML = block.html; /* sanitised by nh3 on the server (localtrack/reports/sanitize.py) */
      return div;
    }
    const panel = h("section", { class: `report-panel report-${block.type}`, dataset: { panel: String(i), type: block.type } });
    if (block.title) panel.append(h("h3", { class: "report-panel-title", text: block.title }));
    for (const note of block.notes || []) panel.append(h("p", { class: "report-note", role: "note", text: note }));
    return panel;
  }

  /* Renders `data` into `el`. Called again with newer data (a live report) and the same blocks,
   * it feeds the line charts their new columns in place (a zoomed chart stays zoomed) and
   * redraws only the other panels whose data changed. */
  function renderReport(el, data) {
    const prev = el.ltReport;
    const kinds = JSON.stringify(data.blocks.map((b) => [b.kind, b.type || ""]));
    const blocks = prev && prev.kinds === kinds ? prev.blocks : null;
    if (!blocks) {
      clear(el);
      if (data.title) el.append(h("h1", { class: "report-title", text: data.title }));
    }
    const meta = blocks ? prev.meta : h("p", { class: "muted report-meta" });
    meta.textContent = metaText(data);
    if (!blocks) el.append(meta);
    const next = data.blocks.map((block, i) => {
      const shape = blockShape(block), old = blocks && blocks[i];
      if (old && old.shape === shape) {
        for (const c of block.charts || []) {
          const entry = old.live.get(c.key);
          if (entry) { entry.feed.data = c; entry.chart.load(); }
        }
        return old;
      }
      const live = new Map(), node = drawBlock(block, i);
      if (old) old.node.replaceWith(node); else el.append(node);
      if (block.kind === "panel") drawPanel(node, block, live);
      return { shape, node, live };
    });
    el.ltReport = { kinds, meta, blocks: next };
  }

  window.LT.renderReport = renderReport;
  const embedded = document.getElementById("report-data");
  if (embedded && document.body.dataset.page === "report-export") renderReport(document.getElementById("report"), JSON.parse(embedded.textContent));
})();
