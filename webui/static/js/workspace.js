/* Project workspace: line panels per metric key in sections by prefix (collapsible), pinned and
 * hidden keys, custom panels (line by keys or regex, scatter, bar, parallel coordinates, table,
 * media, markdown), drag to reorder, resize, workspace-wide chart settings, saved views in the
 * store (views/<name> API) and the whole state in the URL (#s=…), so a link shows what you see.
 * Charts are created only when their card scrolls near the viewport (IntersectionObserver), and
 * load in batches through one ChartFeed. */
(function () {
  "use strict";
  const LT = window.LT;
  const { h, clear, urls, toast, assignColors, Chart, ChartFeed, Poller, PANELS, fieldValue } = LT;
  const app = document.getElementById("ws-app");
  if (!app) return;
  const project = app.dataset.project;
  let data = JSON.parse(document.getElementById("ws-data").textContent);
  const DEFAULTS = { x: "default", smoothing: "none", amount: 0.6, log_y: false, y_min: null, y_max: null, clip: false,
    group_by: "", band: "minmax", runs: "all", filter: "", selection: [], pinned: [], hidden: [], collapsed: [],
    order: [], sizes: {}, panels: [] };
  let state = Object.assign({}, DEFAULTS);
  let viewName = null;
  let pickerOpen = false;
  const feed = new ChartFeed();
  let firstDrawn = false;
  Promise.race([feed.firstDrawn, LT.afterFirstChart()]).then(() => startVisible());
  const charts = new Map(); /* card -> Chart */
  const visible = new Set();
  const io = new IntersectionObserver(onIntersect, { rootMargin: "200px 0px" });
  const sectionsEl = document.getElementById("ws-sections");

  /* --- state <-> URL -------------------------------------------------------------------- */
  function encodeState() {
    const diff = {};
    for (const [k, v] of Object.entries(state)) if (JSON.stringify(v) !== JSON.stringify(DEFAULTS[k])) diff[k] = v;
    return encodeURIComponent(JSON.stringify(diff));
  }
  function writeUrl() {
    const hash = "#s=" + encodeState() + (viewName ? "&view=" + encodeURIComponent(viewName) : "");
    history.replaceState(null, "", location.pathname + location.search + hash);
  }
  function readUrl() {
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.get("view")) viewName = params.get("view");
    if (params.get("s")) {
      try { return Object.assign({}, DEFAULTS, JSON.parse(params.get("s"))); } catch (e) { toast("The link's workspace state is damaged; showing the default."); }
    }
    return null;
  }
  function setState(patch, how) {
    state = Object.assign({}, state, patch);
    writeUrl();
    if (how === "style") for (const c of charts.values()) { syncControls(c); if (c.data) c.draw(); }
    else if (how === "data") reload();
    else render();
  }

  /* --- which runs ------------------------------------------------------------------------ */
  function matches(run, q) {
    const m = /^\s*([\w./-]+)\s*(=|!=|<|>)\s*(.+)$/.exec(q);
    if (m) {
      const f = m[1].includes(".") ? m[1] : "config." + m[1];
      const v = fieldValue(run, f), want = m[3].trim();
      const num = Number(want);
      if (m[2] === "=") return String(v) === want;
      if (m[2] === "!=") return String(v) !== want;
      return typeof v === "number" && !Number.isNaN(num) && (m[2] === "<" ? v < num : v > num);
    }
    const text = [run.name, run.id, run.group || "", ...(run.tags || [])].join(" ").toLowerCase();
    return text.includes(q.toLowerCase());
  }
  function shownRuns() {
    if (state.runs === "selection") { const s = new Set(state.selection); return data.runs.filter((r) => s.has(r.id)); }
    if (state.runs === "filter" && state.filter.trim()) return data.runs.filter((r) => matches(r, state.filter.trim()));
    return data.runs;
  }
  function fields() {
    const cfg = new Set(), sum = new Set();
    for (const r of data.runs) { Object.keys(r.config || {}).forEach((k) => cfg.add("config." + k)); Object.keys(r.summary || {}).forEach((k) => sum.add("summary." + k)); }
    return [...cfg].sort().concat([...sum].sort());
  }

  /* --- charts ---------------------------------------------------------------------------- */
  const controls = { x: "default", logY: false, smoothing: 0, smoothKind: "none", clip: false, yMin: null, yMax: null, band: "minmax" };
  function syncControls() {
    Object.assign(controls, { x: state.x, logY: state.log_y, smoothKind: state.smoothing, smoothing: state.smoothing === "none" ? 0 : Number(state.amount),
      clip: state.clip, yMin: state.y_min, yMax: state.y_max, band: state.band });
  }
  function chartOpts(key, panel) {
    const runs = shownRuns();
    return { key, controls, feed, runIds: runs.map((r) => r.id), names: Object.fromEntries(runs.map((r) => [r.id, r.name])),
      colors: assignColors(runs.map((r) => r.id)), groupBy: state.group_by || null, logY: panel && panel.log_y ? true : undefined };
  }
  function onIntersect(entries) {
    const start = []; /* loaded after every new card is built: one layout for all, not one each */
    for (const e of entries) {
      const card = e.target;
      let chart = charts.get(card);
      if (!e.isIntersecting) { visible.delete(card); if (chart) chart.sleep(); continue; }
      visible.add(card);
      if (chart) chart.wake();
      if (!chart) {
        chart = firstDrawn ? chartFor(card) : null;
        if (chart) start.push(chart);
      } else if (chart.stale) { chart.stale = false; start.push(chart); }
    }
    for (const chart of start) chart.load();
  }
  function chartFor(card) {
    if (!shownRuns().length) { card.querySelector(".chart-msg").textContent = "No runs selected."; return null; }
    const chart = new Chart(card.querySelector(".ws-body"), chartOpts(card.dataset.key, card._panel));
    charts.set(card, chart);
    return chart;
  }
  /* The first line panel starts loading as the page is built, not a frame later when the
   * observer first reports: its data (preloaded from <head>, pages.first_charts) draws as soon
   * as it lands. The other panels on screen are made once it has drawn (or DEFER_MS later). */
  function startFirst() {
    const card = sectionsEl.querySelector("details[open] > .chart-grid > .ws-card[data-key]:not([data-key=''])");
    const chart = card && chartFor(card);
    if (chart) chart.load(); else startVisible();
  }
  function startVisible() {
    firstDrawn = true;
    const start = [];
    for (const card of visible) if (!charts.has(card)) { const chart = chartFor(card); if (chart) start.push(chart); }
    for (const chart of start) chart.load();
  }
  function reload() {
    for (const [card, chart] of charts) {
      Object.assign(chart.opts, chartOpts(card.dataset.key, card._panel));
      chart.range = null;
      if (visible.has(card)) chart.load(); else chart.stale = true;
    }
  }

  /* --- cards ----------------------------------------------------------------------------- */
  function size(id) { return Object.assign({ w: 1, h: 1 }, state.sizes[id] || {}); }
  function cardFor(id, title, tools) {
    const s = size(id);
    const card = h("div", { class: "chart-card ws-card", draggable: "true", dataset: { id } },
      h("div", { class: "ws-tools" }, tools, h("button", { type: "button", class: "icon", title: "Wider / narrower", text: "↔", dataset: { act: "wide" },
        on: { click: () => setState({ sizes: Object.assign({}, state.sizes, { [id]: { w: (s.w % 3) + 1, h: s.h } }) }) } }),
      h("button", { type: "button", class: "icon", title: "Taller / shorter", text: "↕",
        on: { click: () => setState({ sizes: Object.assign({}, state.sizes, { [id]: { w: s.w, h: (s.h % 2) + 1 } }) }) } })),
      h("div", { class: "ws-body" }, h("div", { class: "chart-title" }, h("span", { class: "key", text: title })), h("div", { class: "chart-msg", text: "" })));
    card.style.gridColumn = `span ${s.w}`;
    if (s.h > 1) card.classList.add("tall");
    card.addEventListener("dragstart", (e) => { e.dataTransfer.setData("text/plain", id); card.classList.add("dragging"); });
    card.addEventListener("dragend", () => card.classList.remove("dragging"));
    card.addEventListener("dragover", (e) => e.preventDefault());
    card.addEventListener("drop", (e) => { e.preventDefault(); moveBefore(e.dataTransfer.getData("text/plain"), id); });
    return card;
  }
  /* Reorder: `moved` goes just before `target` (in the panel list or the key order). */
  function moveBefore(moved, target) {
    if (!moved || moved === target) return;
    const panels = state.panels.map((p) => p.id);
    if (panels.includes(moved) && panels.includes(target)) {
      const list = state.panels.filter((p) => p.id !== moved);
      list.splice(list.findIndex((p) => p.id === target), 0, state.panels.find((p) => p.id === moved));
      return setState({ panels: list });
    }
    const order = data.keys.slice().sort((a, b) => rank(a) - rank(b)).filter((k) => k !== moved);
    order.splice(order.indexOf(target), 0, moved);
    setState({ order });
  }
  function rank(key) { const i = state.order.indexOf(key); return i < 0 ? 1e9 + data.keys.indexOf(key) : i; }
  function keyCard(key) {
    const pinned = state.pinned.includes(key);
    const card = cardFor(key, key, [
      h("button", { type: "button", class: "icon", title: pinned ? "Unpin" : "Pin to the top", text: pinned ? "★" : "☆", dataset: { act: "pin" },
        on: { click: () => setState({ pinned: pinned ? state.pinned.filter((k) => k !== key) : state.pinned.concat([key]) }) } }),
      h("button", { type: "button", class: "icon", title: "Hide this key", text: "⊘", dataset: { act: "hide" },
        on: { click: () => setState({ hidden: state.hidden.concat([key]) }) } })]);
    card.dataset.key = key;
    io.observe(card);
    return card;
  }
  function panelCard(panel) {
    const remove = h("button", { type: "button", class: "icon", title: "Remove panel", text: "×", dataset: { act: "remove" },
      on: { click: () => setState({ panels: state.panels.filter((p) => p.id !== panel.id) }) } });
    const card = cardFor(panel.id, panel.title || panel.type, [remove]);
    card.dataset.panel = panel.type;
    if (panel.type === "line") {
      const keys = lineKeys(panel);
      card.dataset.key = keys[0] || "";
      card._panel = panel;
      if (keys.length) io.observe(card); else card.querySelector(".chart-msg").textContent = "No key matches.";
      return [card].concat(keys.slice(1).map((k) => { const c = keyCard(k); c._panel = panel; return c; }));
    }
    const update = (patch) => setState({ panels: state.panels.map((p) => (p.id === panel.id ? Object.assign({}, p, patch) : p)) });
    const runs = shownRuns();
    requestAnimationFrame(() => PANELS[panel.type](card.querySelector(".ws-body"), panel,
      { runs, colors: assignColors(runs.map((r) => r.id)), fields: fields(), update, groupBy: state.group_by }));
    return [card];
  }
  function lineKeys(panel) {
    if (panel.regex) { try { const re = new RegExp(panel.regex); return data.keys.filter((k) => re.test(k)); } catch (e) { return []; } }
    return (panel.keys || []).filter((k) => data.keys.includes(k));
  }
  function section(name, title, cards) {
    const open = !state.collapsed.includes(name);
    const det = h("details", { class: "chart-section", open, dataset: { section: name } },
      h("summary", {}, title, " ", h("span", { class: "count", text: String(cards.length) })), h("div", { class: "chart-grid" }, cards));
    det.addEventListener("toggle", () => {
      const now = state.collapsed.filter((s) => s !== name).concat(det.open ? [] : [name]);
      if (JSON.stringify(now) !== JSON.stringify(state.collapsed)) { state.collapsed = now; writeUrl(); }
    });
    return det;
  }

  function render() {
    for (const c of charts.values()) c.destroy();
    charts.clear(); visible.clear(); io.disconnect();
    syncControls();
    const out = [];
    if (state.panels.length) out.push(section("_panels", "Panels", state.panels.flatMap(panelCard)));
    const hidden = new Set(state.hidden), pinned = state.pinned.filter((k) => data.keys.includes(k) && !hidden.has(k));
    if (pinned.length) out.push(section("_pinned", "Pinned", pinned.map(keyCard)));
    for (const s of data.sections) {
      const keys = s.keys.filter((k) => !hidden.has(k) && !pinned.includes(k)).sort((a, b) => rank(a) - rank(b));
      if (keys.length) out.push(section(s.name, s.name, keys.map(keyCard)));
    }
    if (!out.length) out.push(h("p", { class: "muted card pad", text: data.keys.length ? "Every key is hidden." : "No metrics logged yet." }));
    clear(sectionsEl).append(...out);
    /* on the page's first render the toolbar (a select per setting, every key an option) is
     * built once the first panel has drawn: the first chart does not wait for it */
    if (firstDrawn) renderToolbar(); else toolbarAfterFirst();
    startFirst();
  }
  let toolbarWaiting = false;
  function toolbarAfterFirst() {
    if (toolbarWaiting) return;
    toolbarWaiting = true;
    Promise.race([feed.firstDrawn, LT.afterFirstChart()]).then(() => { toolbarWaiting = false; renderToolbar(); });
  }

  /* --- toolbar ---------------------------------------------------------------------------- */
  function sel(id, label, options, value, on) {
    const s = h("select", { id, "aria-label": label }, options.map(([v, t]) => h("option", { value: v, text: t })));
    s.value = value; s.addEventListener("change", () => on(s.value));
    return h("label", { class: "ctl" }, label, s);
  }
  function num(id, label, value, on, attrs) {
    const i = h("input", Object.assign({ id, type: "number", class: "num", "aria-label": label, value: value === null ? "" : String(value) }, attrs || {}));
    i.addEventListener("change", () => on(i.value === "" ? null : Number(i.value)));
    return h("label", { class: "ctl" }, label, i);
  }
  function check(id, label, value, on) {
    const i = h("input", { id, type: "checkbox", checked: value });
    i.addEventListener("change", () => on(i.checked));
    return h("label", { class: "ctl" }, i, label);
  }
  function renderToolbar() {
    const f = fields(), cfg = f.filter((x) => x.startsWith("config."));
    const filter = h("input", { id: "ws-filter", type: "search", placeholder: "name, tag, or lr<0.01", value: state.filter, "aria-label": "Run filter" });
    filter.addEventListener("change", () => setState({ filter: filter.value, runs: filter.value ? "filter" : state.runs === "filter" ? "all" : state.runs }, "data"));
    const add = sel("ws-add", "Add", [["", "panel…"], ["line", "line (keys or regex)"], ["scatter", "scatter"], ["bar", "bar"], ["parallel", "parallel coordinates"], ["table", "runs table"], ["media", "media"], ["histogram", "histograms over time"], ["markdown", "markdown note"]], "", (type) => {
      if (!type) return;
      const panel = { id: "p" + Date.now().toString(36), type, title: type };
      if (type === "line") { const rx = prompt("Keys to draw (a regular expression)", "loss"); if (rx === null) return render(); panel.regex = rx; panel.title = `/${rx}/`; }
      if (type === "markdown") panel.text = "## Notes\n\n- what changed";
      setState({ panels: state.panels.concat([panel]) });
    });
    const hiddenSel = state.hidden.length ? sel("ws-unhide", "Hidden", [["", `${state.hidden.length} keys…`]].concat(state.hidden.map((k) => [k, "show " + k])), "", (k) => setState({ hidden: state.hidden.filter((x) => x !== k) })) : null;
    clear(document.getElementById("ws-toolbar")).append(
      sel("ws-x", "X axis", [["default", "default"], ["step", "step"], ["wall_time", "wall time"], ["relative_time", "relative time"]].concat(data.keys.map((k) => [k, k])), state.x, (v) => setState({ x: v }, "data")),
      sel("ws-smoothing", "Smoothing", [["none", "none"], ["ema", "EMA"], ["running", "running average"], ["gaussian", "gaussian"]], state.smoothing, (v) => setState({ smoothing: v, amount: v === "ema" ? 0.6 : v === "running" ? 10 : v === "gaussian" ? 3 : state.amount }, "style")),
      num("ws-amount", "amount", state.amount, (v) => setState({ amount: v || 0 }, "style"), { step: "any", min: "0", title: "EMA weight (0–0.99), running-average window or gaussian σ (in points)" }),
      check("ws-logy", "log y", state.log_y, (v) => setState({ log_y: v }, "style")),
      num("ws-ymin", "y min", state.y_min, (v) => setState({ y_min: v }, "style"), { step: "any" }),
      num("ws-ymax", "y max", state.y_max, (v) => setState({ y_max: v }, "style"), { step: "any" }),
      check("ws-clip", "clip outliers", state.clip, (v) => setState({ clip: v }, "style")),
      sel("ws-group", "Group by", [["", "no grouping"]].concat(cfg.map((k) => [k, k.slice(7)])), state.group_by, (v) => setState({ group_by: v }, "data")),
      sel("ws-band", "Band", [["minmax", "min–max"], ["std", "± std"], ["none", "none"]], state.band, (v) => setState({ band: v }, "style")),
      sel("ws-runs", "Runs", [["all", "all"], ["filter", "filter"], ["selection", "selection"]], state.runs, (v) => setState({ runs: v }, "data")),
      filter, picker(), add, hiddenSel);
    renderViews();
  }
  /* Run picker: a checkbox per run (up to the workspace's run limit); ticking one switches the
   * workspace to "selection" (starting from the runs shown now), "all" / "none" set every box.
   * The boxes are made when it first opens: not before the first panel paints. */
  function picker() {
    const shown = new Set(shownRuns().map((r) => r.id));
    const chosen = () => [...list.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value);
    const apply = (ids) => {
      setState({ runs: "selection", selection: ids }, "data");
      det.querySelector("summary").textContent = `${ids.length} of ${data.runs.length} runs`;
      document.getElementById("ws-runs").value = "selection";
    };
    const list = h("div", { class: "ws-picker-list" });
    const fill = () => list.firstChild || list.append(...data.runs.map((r) => {
      const box = h("input", { type: "checkbox", value: r.id, checked: shown.has(r.id), "aria-label": r.name });
      box.addEventListener("change", () => apply(chosen()));
      return h("label", { class: "ws-pick", title: r.id, dataset: { run: r.id } }, box, h("span", { text: r.name || r.id }), h("span", { class: "muted", text: r.state }));
    }));
    const find = h("input", { type: "search", placeholder: "find a run", "aria-label": "Find a run" });
    find.addEventListener("input", () => {
      const q = find.value.trim().toLowerCase();
      for (const el of list.children) el.hidden = Boolean(q) && !el.textContent.toLowerCase().includes(q);
    });
    const every = (on) => () => { for (const c of list.querySelectorAll("input[type=checkbox]")) if (!c.closest("label").hidden) c.checked = on; apply(chosen()); };
    const det = h("details", { class: "ws-picker", id: "ws-picker" },
      h("summary", { text: `${shown.size} of ${data.runs.length} runs`, on: { click: fill } }),
      h("div", { class: "ws-picker-pop card" }, h("div", { class: "ws-picker-head" }, find,
        h("button", { type: "button", class: "btn", text: "all", on: { click: every(true) } }),
        h("button", { type: "button", class: "btn", text: "none", on: { click: every(false) } })), list));
    det.open = pickerOpen;
    if (pickerOpen) fill();
    det.addEventListener("toggle", () => { pickerOpen = det.open; if (det.open) fill(); });
    return det;
  }

  /* --- saved views ----------------------------------------------------------------------- */
  async function send(method, url, body) {
    const headers = { "Content-Type": "application/json" };
    if (app.dataset.csrf) headers["X-CSRF-Token"] = app.dataset.csrf;
    const resp = await fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined, credentials: "same-origin" });
    const out = await resp.json();
    if (!resp.ok) throw new Error((out.error && out.error.message) || resp.statusText);
    return out;
  }
  async function refreshViews() {
    const resp = await fetch(urls.api.views(project), { cache: "no-store", credentials: "same-origin" });
    const out = await resp.json();
    data.views = out.views; data.default = out.default;
    renderViews();
  }
  function renderViews() {
    const pick = h("select", { id: "ws-view", "aria-label": "Saved view" }, h("option", { value: "", text: "unsaved view" }),
      data.views.map((v) => h("option", { value: v.name, text: v.name + (v.default ? " (default)" : "") })));
    pick.value = viewName || "";
    pick.addEventListener("change", () => (pick.value ? openView(pick.value) : null));
    const name = h("input", { id: "ws-view-name", type: "text", placeholder: "view name", value: viewName || "", "aria-label": "View name" });
    const def = h("input", { id: "ws-view-default", type: "checkbox", checked: Boolean(viewName && data.default === viewName) });
    const save = h("button", { type: "button", class: "btn primary", id: "ws-save", text: "Save view" });
    save.addEventListener("click", async () => {
      const n = name.value.trim();
      if (!n) return toast("Name the view first.");
      try {
        await send("PUT", urls.api.view(project, n), { state, default: def.checked });
        viewName = n; writeUrl(); await refreshViews(); toast(`Saved view “${n}”.`);
        app.dataset.saved = n;
      } catch (e) { toast(e.message); }
    });
    const del = h("button", { type: "button", class: "btn", text: "Delete", disabled: !viewName });
    del.addEventListener("click", async () => {
      try { await send("DELETE", urls.api.view(project, viewName)); viewName = null; writeUrl(); await refreshViews(); } catch (e) { toast(e.message); }
    });
    clear(document.getElementById("ws-views")).append(pick, name, h("label", { class: "ctl" }, def, "default"), save, del);
  }
  async function openView(name) {
    try {
      const resp = await fetch(urls.api.view(project, name), { cache: "no-store", credentials: "same-origin" });
      const doc = await resp.json();
      if (!resp.ok) throw new Error(doc.error.message);
      viewName = name; state = Object.assign({}, DEFAULTS, doc.state); writeUrl(); render();
    } catch (e) { toast(e.message); }
  }

  /* --- start ----------------------------------------------------------------------------- */
  const fromUrl = readUrl();
  if (fromUrl) state = fromUrl;
  else if (viewName) { openView(viewName); }
  else if (data.view) { viewName = data.view.name; state = Object.assign({}, DEFAULTS, data.view.state); }
  render();
  window.LT.workspace = { get state() { return state; }, setState, openView };
  /* new keys or runs: re-render only when the key or run list changed; charts refresh themselves */
  const poller = new Poller(urls.api.workspace(project), (next) => {
    const changed = JSON.stringify(next.keys) !== JSON.stringify(data.keys) || JSON.stringify(next.runs.map((r) => r.id)) !== JSON.stringify(data.runs.map((r) => r.id));
    data = next;
    if (changed) render(); else reload();
  });
  poller.etag = app.dataset.etag;
  poller.schedule();
})();
