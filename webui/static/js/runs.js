/* Runs table: server-side paging, sorting, filtering and grouping; column picker; selection. */
(function () {
  "use strict";
  const { h, append, clear, urls, Poller, stateBadge, tags, fmtTime, fmtDuration, fmtValue, fmtInt, assignColors } = window.LT;
  const app = document.getElementById("runs-app");
  if (!app) return;
  const project = app.dataset.project;
  const $ = (id) => document.getElementById(id);
  const table = $("runs-table"), pager = $("pager"), errorLine = $("runs-error");
  const colsKey = `lt.columns.${project}`;

  const params = new URLSearchParams(location.search);
  const state = {
    q: params.get("q") || "", state: params.get("state") || "", tag: params.get("tag") || "",
    where: params.get("where") || "", sort: params.get("sort") || "-created_at",
    group_by: params.get("group_by") || "", page: Number(params.get("page") || 1), per_page: 50,
    columns: params.get("columns") !== null ? params.get("columns") : localStorage.getItem(colsKey),
  };
  const selected = new Set((params.get("selected") || "").split(",").filter(Boolean));
  let last = null;

  const BUILTIN = [
    ["name", "Name"], ["state", "State"], ["created_at", "Started"], ["duration", "Duration"],
    ["tags", "Tags"], ["group", "Group"],
  ];

  function apiParams() {
    const p = { q: state.q, state: state.state, tag: state.tag, where: state.where, sort: state.sort,
      group_by: state.group_by, page: state.page, per_page: state.per_page };
    if (state.columns !== null && state.columns !== undefined) p.columns = state.columns;
    return p;
  }
  function syncUrl() {
    const p = apiParams(); delete p.per_page;
    if (p.page === 1) delete p.page;
    if (p.sort === "-created_at") delete p.sort;
    if (selected.size) p.selected = [...selected].join(",");
    if (pinned.length) p.pin = pinned.join(",");
    history.replaceState(null, "", location.pathname + LT.qs(p));
  }
  function reload(resetPage) {
    if (resetPage) state.page = 1;
    syncUrl();
    poller.setUrl(urls.api.runs(project, apiParams()));
  }

  /* ---- columns: the name, then pinned columns, stick to the left while the table scrolls ---- */
  const pinKey = `lt.pinned.${project}`;
  let pinned = (params.get("pin") !== null ? params.get("pin") : localStorage.getItem(pinKey) || "").split(",").filter(Boolean);
  function togglePin(field) {
    pinned = pinned.includes(field) ? pinned.filter((f) => f !== field) : pinned.concat([field]);
    if (pinned.length) localStorage.setItem(pinKey, pinned.join(",")); else localStorage.removeItem(pinKey);
    syncUrl();
    if (last) { renderHead(last); renderBody(last); }
  }
  /* Summary mode of a summary key ("min", "max", "mean", "last") from the runs JSON. */
  function summaryMode(view, key) {
    const m = (view.summary_modes || {})[key];
    return Array.isArray(m) ? m.join("/") : m || "last";
  }
  function layout(view) {
    const builtin = { state: (r) => Object.assign(stateBadge(r.state), r.reason ? { title: r.reason } : {}), created_at: (r) => fmtTime(r.created_at), duration: (r) => fmtDuration(r.duration),
      tags: (r) => tags(r.tags), group: (r) => r.group || "" };
    const cls = { duration: "num", tags: "clip", group: "clip" };
    const all = BUILTIN.slice(1).map(([field, label]) => ({ field, label, cls: cls[field], cell: builtin[field] }))
      .concat(view.columns.map((c) => {
        const dot = c.indexOf("."), src = c.slice(0, dot), key = c.slice(dot + 1);
        return { field: c, label: key, src, mode: src === "summary" ? summaryMode(view, key) : null, value: true };
      }));
    const byField = new Map(all.map((c) => [c.field, c]));
    const pins = pinned.filter((f) => byField.has(f)).map((f) => Object.assign(byField.get(f), { pinned: true }));
    return pins.concat(all.filter((c) => !c.pinned));
  }

  /* ---- header and rows ---- */
  function sortArrow(field) {
    const name = state.sort.replace(/^[-+]/, "");
    if (name !== field) return null;
    return h("span", { class: "arrow", text: state.sort.startsWith("-") ? "▼" : "▲" });
  }
  function sortBy(field) {
    const name = state.sort.replace(/^[-+]/, "");
    const desc = state.sort.startsWith("-");
    state.sort = name === field ? (desc ? field : "-" + field) : (field === "name" ? field : "-" + field);
    reload(true);
  }
  const MODE_TITLES = { min: "minimum over the run", max: "maximum over the run", mean: "mean over the run", last: "last logged value" };
  function headCell(col) {
    const { field, label, src, mode } = col;
    const pin = field === "name" ? null : h("button", { type: "button", class: "pin", "aria-pressed": String(Boolean(col.pinned)),
      title: col.pinned ? "Unpin this column" : "Pin this column next to the name",
      "aria-label": `${col.pinned ? "Unpin" : "Pin"} ${field}`,
      on: { click: (e) => { e.stopPropagation(); togglePin(field); } } });
    const badge = mode ? h("span", { class: `summary-mode mode-${mode}`, title: `Summary: ${MODE_TITLES[mode] || mode} (define_metric)`, text: mode }) : null;
    return h("th", { class: "sortable" + (col.sticky ? " sticky" : "") + (col.pinned ? " pinned" : ""), title: `Sort by ${field}`,
      dataset: { field }, on: { click: () => sortBy(field) } },
    src ? h("span", { class: "col-head-src", text: src }) : null, label, badge, sortArrow(field), pin);
  }
  const NAME = { field: "name", label: "Name", sticky: true };
  function renderHead(view) {
    const all = h("input", { type: "checkbox", "aria-label": "Select all runs on this page", on: { change: (e) => {
      for (const r of view.rows) e.target.checked ? selected.add(r.id) : selected.delete(r.id);
      renderBody(view); updateCompare();
    } } });
    all.checked = view.rows.length > 0 && view.rows.every((r) => selected.has(r.id));
    const cols = layout(view).map((c) => Object.assign(c, { sticky: c.pinned }));
    clear(table.tHead).appendChild(h("tr", {}, h("th", { class: "check sticky" }, all), headCell(NAME), cols.map(headCell)));
  }
  function valueCell(v) {
    const text = fmtValue(v);
    return h("td", { class: typeof v === "number" ? "val" : "clip", title: text.length > 30 ? text : null, text });
  }
  function cellOf(col, r) {
    const td = col.value ? valueCell(r.values[col.field]) : h("td", { class: col.cls || null }, col.cell(r));
    td.dataset.field = col.field;
    if (col.pinned) td.classList.add("sticky");
    return td;
  }
  function groupRow(view, value, span) {
    const g = view.groups.find((x) => x.value === value) || { count: 0, states: {} };
    const states = Object.entries(g.states).map(([s, n]) => [stateBadge(s), ` ${n} `]);
    return h("tr", { class: "group-row" }, h("td", { colspan: span }, h("span", { class: "group-label" },
      `${view.group_by}: `, value, h("span", { class: "count", text: g.count }), " ", states)));
  }
  /* Sticky cells need their left offsets: the widths of the sticky cells before them. */
  function stickLeft() {
    const head = table.tHead.rows[0];
    if (!head) return;
    let x = 0;
    const lefts = [...head.cells].filter((c) => c.classList.contains("sticky")).map((c) => { const l = x; x += c.getBoundingClientRect().width; return l; });
    for (const row of table.rows) {
      const cells = [...row.cells].filter((c) => c.classList.contains("sticky"));
      cells.forEach((c, i) => { c.style.left = lefts[i] + "px"; c.classList.toggle("sticky-edge", i === cells.length - 1); });
    }
  }
  window.addEventListener("resize", stickLeft);
  function renderBody(view) {
    const tbody = clear(table.tBodies[0]);
    const cols = layout(view);
    const span = 2 + cols.length;
    if (!view.rows.length) {
      const msg = view.total ? "No runs match these filters." : "This project has no runs.";
      tbody.appendChild(h("tr", {}, h("td", { colspan: span, class: "muted", text: msg })));
      stickLeft();
      return;
    }
    const colors = assignColors([...selected]);
    let group = null;
    for (const r of view.rows) {
      if (view.group_by && r.group_value !== group) { group = r.group_value; tbody.appendChild(groupRow(view, group, span)); }
      const box = h("input", { type: "checkbox", "aria-label": `Select ${r.name}`, on: { change: (e) => {
        e.target.checked ? selected.add(r.id) : selected.delete(r.id); renderBody(view); renderHead(view); updateCompare();
      } } });
      box.checked = selected.has(r.id);
      const swatch = selected.has(r.id) ? h("span", { class: "swatch", title: "colour in charts" }) : null;
      if (swatch) swatch.style.background = colors[r.id];
      tbody.appendChild(h("tr", { class: selected.has(r.id) ? "selected" : null, dataset: { runId: r.id } },
        h("td", { class: "check sticky" }, box),
        h("td", { class: "clip sticky", dataset: { field: "name" } }, swatch, " ", h("a", { class: "run-name", href: urls.run(r.id), text: r.name })),
        cols.map((c) => cellOf(c, r))));
    }
    stickLeft();
  }
  function renderPager(view) {
    clear(pager);
    const go = (p) => () => { state.page = p; reload(false); };
    pager.append(
      h("span", { text: `${fmtInt(view.matched)} of ${fmtInt(view.total)} runs · page ${view.page} of ${view.pages}` }),
      h("button", { type: "button", class: "btn small", text: "‹ Prev", disabled: view.page <= 1, on: { click: go(view.page - 1) } }),
      h("button", { type: "button", class: "btn small", text: "Next ›", disabled: view.page >= view.pages, on: { click: go(view.page + 1) } }));
    $("runs-count").textContent = `${fmtInt(view.total)} runs`;
  }
  function fillSelect(sel, options, current) {
    const keep = sel.options[0];
    clear(sel).appendChild(keep);
    for (const [value, label] of options) sel.appendChild(h("option", { value, text: label }));
    sel.value = current;
  }
  function renderControls(view) {
    fillSelect($("f-tag"), Object.keys(view.tags).map((t) => [t, `${t} (${view.tags[t]})`]), state.tag);
    const groupable = [["group", "group"], ["job_type", "job type"], ["state", "state"]]
      .concat(view.fields.config.map((k) => [`config.${k}`, `config.${k}`]));
    fillSelect($("f-group"), groupable, state.group_by);
    $("f-state").value = state.state;
  }

  /* ---- column picker ---- */
  function renderColumns(view) {
    const pop = clear($("columns-pop"));
    const chosen = new Set(view.columns);
    const search = h("input", { type: "search", class: "filter-cols", placeholder: "Find a field…" });
    const boxes = [];
    const section = (title, prefix, keys) => [h("h3", { text: title }), keys.map((k) => {
      const field = `${prefix}.${k}`;
      const cb = h("input", { type: "checkbox", value: field });
      cb.checked = chosen.has(field);
      cb.addEventListener("change", () => {
        const next = view.columns.filter((c) => c !== field);
        if (cb.checked) next.push(field);
        state.columns = next.join(","); localStorage.setItem(colsKey, state.columns); reload(false);
      });
      const label = h("label", { dataset: { field } }, cb, field);
      boxes.push(label);
      return label;
    })];
    search.addEventListener("input", () => {
      const q = search.value.toLowerCase();
      for (const b of boxes) b.hidden = !b.dataset.field.toLowerCase().includes(q);
    });
    const reset = h("button", { type: "button", class: "btn small", text: "Automatic columns", on: { click: () => {
      state.columns = null; localStorage.removeItem(colsKey); reload(false);
    } } });
    append(pop, [search, reset, section("Config", "config", view.fields.config), section("Summary", "summary", view.fields.summary)]);
  }
  function showColumns(show) {
    $("columns-pop").hidden = !show;
    $("columns-btn").setAttribute("aria-expanded", String(show));
  }
  $("columns-btn").addEventListener("click", (e) => { e.stopPropagation(); showColumns($("columns-pop").hidden); });
  document.addEventListener("click", (e) => { if (!$("columns-pop").contains(e.target)) showColumns(false); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") showColumns(false); });

  function updateCompare() {
    const btn = $("compare-btn");
    btn.disabled = selected.size < 1;
    btn.textContent = selected.size ? `Compare ${selected.size} selected` : "Compare selected";
    syncUrl();
  }
  $("compare-btn").addEventListener("click", () => { location.href = urls.compare(project, [...selected]); });

  /* ---- filters ---- */
  function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }
  const text = $("f-text"), where = $("f-where");
  text.value = state.q; where.value = state.where;
  text.addEventListener("input", debounce(() => { state.q = text.value.trim(); reload(true); }, 250));
  where.addEventListener("input", debounce(() => { state.where = where.value.trim(); reload(true); }, 500));
  where.addEventListener("keydown", (e) => { if (e.key === "Enter") { state.where = where.value.trim(); reload(true); } });
  $("f-state").addEventListener("change", (e) => { state.state = e.target.value; reload(true); });
  $("f-tag").addEventListener("change", (e) => { state.tag = e.target.value; reload(true); });
  $("f-group").addEventListener("change", (e) => { state.group_by = e.target.value; reload(true); });

  function showError(message) {
    errorLine.textContent = message; errorLine.hidden = false;
    where.classList.toggle("invalid", Boolean(state.where));
  }
  function render(view) {
    errorLine.hidden = true; where.classList.remove("invalid");
    last = view;
    renderHead(view); renderBody(view); renderPager(view); renderControls(view); renderColumns(view); updateCompare();
    app.dataset.loaded = "true";
  }
  const poller = new Poller(urls.api.runs(project, apiParams()), render, showError);
  poller.start();
  window.LT.runsTable = { get view() { return last; } };
})();
