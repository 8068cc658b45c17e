/* Workspace panels that are not line charts: scatter, bar, parallel coordinates, runs table,
 * media links and markdown notes. Each takes (el, panel, ctx) with ctx = {runs, colors,
 * fields}; user text only ever reaches the DOM as text nodes. */
(function () {
  "use strict";
  const { h, clear, urls, fmtNum, fmtValue, fieldValue, parallel, scatter, missingNote } = window.LT;

  function fieldSelect(value, fields, onChange, label) {
    const sel = h("select", { "aria-label": label }, h("option", { value: "", text: label }), fields.map((f) => h("option", { value: f, text: f })));
    sel.value = value || "";
    sel.addEventListener("change", () => onChange(sel.value));
    return sel;
  }

  function scatterPanel(el, panel, ctx) {
    const plot = h("div", { class: "plot" }), note = h("p", { class: "plot-note" });
    clear(el).append(h("div", { class: "plot-controls" },
      "x", fieldSelect(panel.x, ctx.fields, (v) => ctx.update({ x: v }), "x field"),
      "y", fieldSelect(panel.y, ctx.fields, (v) => ctx.update({ y: v }), "y field")), plot, note);
    if (panel.x && panel.y) note.textContent = missingNote(scatter(plot, ctx.runs, panel.x, panel.y, ctx.colors)) || "";
  }

  /* One bar per run (or per group: the mean of its runs) for a summary or config field. */
  function barPanel(el, panel, ctx) {
    const field = panel.y || "";
    const bars = h("div", { class: "ws-bars" });
    clear(el).append(h("div", { class: "plot-controls" }, fieldSelect(field, ctx.fields, (v) => ctx.update({ y: v }), "field")), bars);
    if (!field) return;
    const rows = new Map();
    for (const r of ctx.runs) {
      const v = fieldValue(r, field);
      if (typeof v !== "number" || !isFinite(v)) continue;
      const label = ctx.groupBy ? String(fieldValue(r, ctx.groupBy) ?? "(none)") : r.name;
      const row = rows.get(label) || { sum: 0, n: 0, color: ctx.groupBy ? "#3b5bdb" : ctx.colors[r.id] };
      row.sum += v; row.n += 1; rows.set(label, row);
    }
    const vals = [...rows].map(([label, r]) => [label, r.sum / r.n, r.color]);
    const max = Math.max(1e-300, ...vals.map((v) => Math.abs(v[1])));
    for (const [label, v, color] of vals) {
      const bar = h("span", { class: "ws-bar" });
      bar.style.width = `${(Math.abs(v) / max) * 100}%`; bar.style.background = color;
      bars.append(h("div", { class: "ws-bar-row", dataset: { value: String(v) } }, h("span", { class: "ws-bar-label", text: label }), h("span", { class: "ws-bar-track" }, bar), h("span", { class: "mono", text: fmtNum(v) })));
    }
    el.dataset.painted = "true";
  }

  function parallelPanel(el, panel, ctx) {
    const fields = panel.fields && panel.fields.length ? panel.fields : ctx.fields.filter((f) => f.startsWith("config.")).slice(0, 5);
    const metric = panel.y || ctx.fields.find((f) => f.startsWith("summary.")) || "";
    const plot = h("div", { class: "plot" });
    clear(el).append(h("div", { class: "plot-controls" },
      h("span", { class: "muted", text: fields.map((f) => f.replace(/^config\./, "")).join(", ") }), " → ",
      fieldSelect(metric, ctx.fields.filter((f) => f.startsWith("summary.")), (v) => ctx.update({ y: v }), "metric")), plot);
    parallel(plot, ctx.runs, fields, metric);
  }

  function tablePanel(el, panel, ctx) {
    const cols = panel.fields && panel.fields.length ? panel.fields : ctx.fields.slice(0, 6);
    const table = h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, h("th", { text: "run" }), cols.map((c) => h("th", { class: "mono", text: c })))),
      h("tbody", {}, ctx.runs.map((r) => h("tr", {}, h("td", {}, h("a", { href: urls.run(r.id), text: r.name })), cols.map((c) => h("td", { text: fmtValue(fieldValue(r, c)) }))))));
    clear(el).append(h("div", { class: "table-wrap scroll-both" }, table));
  }

  function mediaPanel(el, panel, ctx) {
    clear(el).append(h("p", { class: "muted", text: `Media${panel.keys && panel.keys.length ? " " + panel.keys.join(", ") : ""} of each run:` }),
      h("ul", {}, ctx.runs.map((r) => h("li", {}, h("a", { href: urls.run(r.id) + "#media", text: r.name })))));
  }

  /* A small Markdown subset, built as elements: # headings, - lists, blank-line paragraphs,
   * **bold**, `code`. Nothing is parsed as HTML. */
  function inline(text) {
    const out = [];
    const re = /(\*\*[^*]+\*\*|`[^`]+`)/g;
    let last = 0, m;
    while ((m = re.exec(text))) {
      if (m.index > last) out.push(text.slice(last, m.index));
      const t = m[0];
      out.push(t[0] === "`" ? h("code", { text: t.slice(1, -1) }) : h("strong", { text: t.slice(2, -2) }));
      last = m.index + t.length;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }
  function markdown(text) {
    const out = [];
    let list = null, para = [];
    const flush = () => { if (para.length) out.push(h("p", {}, inline(para.join(" ")))); para = []; };
    for (const line of String(text || "").split("\n")) {
      const head = /^(#{1,4})\s+(.*)$/.exec(line), item = /^\s*[-*]\s+(.*)$/.exec(line);
      if (!item) list = null;
      if (head) { flush(); out.push(h(`h${Math.min(6, head[1].length + 2)}`, {}, inline(head[2]))); }
      else if (item) { flush(); if (!list) { list = h("ul", {}); out.push(list); } list.append(h("li", {}, inline(item[1]))); }
      else if (!line.trim()) flush();
      else para.push(line.trim());
    }
    flush();
    return out;
  }
  function markdownPanel(el, panel, ctx) {
    const view = h("div", { class: "ws-md" }, markdown(panel.text));
    const edit = h("textarea", { class: "ws-md-edit", "aria-label": "Note (Markdown)", rows: "6", hidden: true });
    edit.value = panel.text || "";
    const btn = h("button", { type: "button", class: "btn", text: "Edit" });
    btn.addEventListener("click", () => {
      if (edit.hidden) { edit.hidden = false; btn.textContent = "Done"; edit.focus(); }
      else ctx.update({ text: edit.value });
    });
    clear(el).append(view, edit, h("div", {}, btn));
  }

  /* Histograms over time (run.log of Histogram): the chosen key's heatmap and one step's bars for
   * each of the first HIST_RUNS runs shown, drawn by histogram.js's HistogramCard. The key list
   * comes from the first run's media. */
  const HIST_RUNS = 4;
  function histogramPanel(el, panel, ctx) {
    const key = (panel.keys || [])[0] || "";
    const runs = ctx.runs.slice(0, HIST_RUNS);
    const pick = h("select", { "aria-label": "histogram key" }, h("option", { value: "", text: "histogram key…" }));
    pick.addEventListener("change", () => ctx.update({ keys: pick.value ? [pick.value] : [], title: pick.value || "histogram" }));
    const body = h("div", { class: "ws-hists" });
    clear(el).append(h("div", { class: "plot-controls" }, pick,
      ctx.runs.length > HIST_RUNS ? h("span", { class: "muted", text: `first ${HIST_RUNS} of ${ctx.runs.length} runs` }) : null), body);
    if (!runs.length) { body.append(h("p", { class: "muted", text: "No runs selected." })); return; }
    window.LT.getJSON(urls.api.media(runs[0].id)).then(({ data }) => {
      const keys = ((data && data.keys) || []).filter((k) => k.type === "histogram").map((k) => k.key);
      if (key && !keys.includes(key)) keys.unshift(key);
      for (const k of keys) pick.append(h("option", { value: k, text: k }));
      pick.value = key;
      if (!keys.length) body.append(h("p", { class: "muted", text: "No histograms logged." }));
    }).catch(() => body.append(h("p", { class: "muted", text: "Could not list the histograms." })));
    if (!key) return;
    for (const r of runs) {
      const card = new window.LT.HistogramCard(r.id, { key });
      body.append(h("div", { class: "ws-hist", dataset: { run: r.id } }, h("div", { class: "muted", text: r.name }), card.el));
      card.wake();
    }
  }

  const PANELS = { scatter: scatterPanel, bar: barPanel, parallel: parallelPanel, table: tablePanel, media: mediaPanel, markdown: markdownPanel, histogram: histogramPanel };
  Object.assign(window.LT, { PANELS, markdown });
})();
