/* Compare page: overlaid charts on shared keys (or group means with min/max bands), parallel
 * coordinates over config → a summary metric, and a scatter of any two fields. */
(function () {
  "use strict";
  const { h, append, clear, urls, Poller, stateBadge, assignColors, ChartGrid, ChartControls, parallel, scatter, missingNote } = window.LT;
  const app = document.getElementById("compare-app");
  if (!app) return;
  const project = app.dataset.project;
  const ids = app.dataset.runs.split(",").filter(Boolean);
  const $ = (id) => document.getElementById(id);
  let grid = null, view = null, colors = {}, groupBy = "", pcFields = [], pcMetric = "", scX = "", scY = "";

  function paintSwatches() {
    for (const row of app.querySelectorAll("#compare-runs tr[data-run-id]")) {
      const sw = row.querySelector(".swatch");
      if (sw) sw.style.background = colors[row.dataset.runId] || "#ccc";
    }
  }
  function pickMetric(summary) {
    return summary.find((k) => /acc|score|f1|auc/i.test(k)) || summary.find((k) => /loss/i.test(k)) || summary[0] || "";
  }
  function select(id, options, value, onChange, blank) {
    const sel = h("select", { id, "aria-label": id },
      blank ? h("option", { value: "", text: blank }) : null,
      options.map((o) => h("option", { value: o, text: o })));
    sel.value = value;
    sel.addEventListener("change", () => onChange(sel.value));
    return sel;
  }

  function allFields() {
    const nf = view.numeric_fields;
    return nf.config.map((k) => "config." + k).concat(nf.summary.map((k) => "summary." + k));
  }
  function renderParallel() {
    const ctl = clear($("pc-controls"));
    const configFields = view.numeric_fields.config.map((k) => "config." + k);
    const chips = pcFields.map((f) => h("span", { class: "tag" }, f.replace(/^config\./, ""), " ",
      h("a", { href: "#", title: "remove", text: "×", on: { click: (e) => { e.preventDefault(); pcFields = pcFields.filter((x) => x !== f); renderParallel(); } } })));
    const add = select("pc-add", configFields.filter((f) => !pcFields.includes(f)), "", (v) => { if (v) { pcFields.push(v); renderParallel(); } }, "+ config field");
    const metric = select("pc-metric", view.numeric_fields.summary.map((k) => "summary." + k), pcMetric, (v) => { pcMetric = v; renderParallel(); }, "no metric");
    ctl.append(...chips, add, "→", metric);
    const note = missingNote(parallel($("parcoords"), view.runs, pcFields, pcMetric));
    $("parcoords-missing").textContent = note ? `${note}: drawn dashed to the “missing” tick.` : "";
    $("parcoords-missing").hidden = !note;
  }
  function renderScatter() {
    const ctl = clear($("sc-controls"));
    const fields = allFields();
    ctl.append("x", select("sc-x", fields, scX, (v) => { scX = v; renderScatter(); }), "y", select("sc-y", fields, scY, (v) => { scY = v; renderScatter(); }));
    const note = missingNote(scatter($("scatter"), view.runs, scX, scY, colors));
    $("scatter-missing").textContent = note ? `${note}: not shown.` : "";
    $("scatter-missing").hidden = !note;
  }
  function renderGroupSelect() {
    const sel = $("c-group");
    const keep = sel.options[0];
    append(clear(sel), [keep, h("option", { value: "group", text: "mean per group" }),
      view.config_diff.map((d) => h("option", { value: "config." + d.key, text: `mean per ${d.key}` }))]);
    sel.value = groupBy;
  }
  $("c-group").addEventListener("change", (e) => { groupBy = e.target.value; if (grid) grid.refresh({ groupBy }); });

  function first(v) {
    colors = assignColors(v.runs.map((r) => r.id));
    paintSwatches();
    const diffKeys = new Set(v.config_diff.map((d) => d.key));
    pcFields = v.numeric_fields.config.filter((k) => diffKeys.has(k)).slice(0, 6).map((k) => "config." + k);
    const metric = pickMetric(v.numeric_fields.summary);
    pcMetric = metric ? "summary." + metric : "";
    scX = pcFields[0] || allFields()[0] || "";
    scY = pcMetric || allFields()[1] || "";
    renderGroupSelect();
    /* the charts ask for their data first; the plots below them wait until the first charts
     * have painted, so they do not hold them back */
    LT.afterFirstChart().then(() => { renderParallel(); renderScatter(); });
    const controls = new ChartControls($("chart-controls"), v.shared_keys);
    const sections = $("chart-sections");
    if (v.shared_keys.length) clear(sections);
    const names = Object.fromEntries(v.runs.map((r) => [r.id, r.name]));
    grid = new ChartGrid(sections, controls, () => ({ runIds: v.runs.map((r) => r.id), names, colors, groupBy }));
    grid.update(v.sections);
    window.addEventListener("resize", () => { renderParallel(); renderScatter(); });
  }
  function onData(v) {
    const initial = view === null;
    view = v;
    if (initial) return first(v);
    for (const r of v.runs) {
      const cell = app.querySelector(`#compare-runs tr[data-run-id="${CSS.escape(r.id)}"] td:nth-child(3)`);
      if (cell && cell.textContent.trim() !== r.state) clear(cell).appendChild(stateBadge(r.state));
    }
    grid.update(v.sections);
    grid.refresh();
    renderParallel(); renderScatter();
  }
  const keys = (app.dataset.keys || "").split(",").filter(Boolean);
  const poller = new Poller(urls.api.compare(project, ids, keys), onData);
  /* start from the view the page was rendered with: no round trip before the first chart */
  const embedded = document.getElementById("compare-data");
  if (embedded) { onData(JSON.parse(embedded.textContent)); poller.etag = app.dataset.etag; poller.schedule(); }
  else poller.start();
})();
