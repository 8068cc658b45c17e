/* Run page: charts per metric key (lazy, searchable, grouped by prefix), tabs for media, console
 * and environment, and live updates of everything while the run is running. */
(function () {
  "use strict";
  const { h, clear, urls, Poller, stateBadge, fmtTime, fmtDuration, fmtValue, assignColors, ChartGrid, ChartControls } = window.LT;
  const app = document.getElementById("run-app");
  if (!app) return;
  const runId = app.dataset.runId;
  const colors = assignColors([runId]);
  let grid = null, names = {}, lastSeen = null;

  function setField(name, text) {
    const el = app.querySelector(`[data-field="${name}"]`);
    if (el && el.textContent !== text) el.textContent = text;
  }
  function renderSummary(summary) {
    const keys = Object.keys(summary); /* the server orders them: system/* last */
    document.getElementById("summary-count").textContent = keys.length;
    const body = clear(document.getElementById("summary-body"));
    if (!keys.length) { body.appendChild(h("p", { class: "muted", text: "No metrics yet." })); return; }
    body.appendChild(h("table", { class: "kv" }, h("tbody", {}, keys.map((k) =>
      h("tr", {}, h("th", { scope: "row", text: k }), h("td", { text: fmtValue(summary[k]) }))))));
  }
  function renderOverview(view) {
    const r = view.run;
    const badge = document.getElementById("run-state");
    if (badge.textContent.trim() !== r.state) clear(badge).appendChild(stateBadge(r.state));
    const exit = r.exit_code !== null && r.exit_code !== 0 ? ` (exit code ${r.exit_code})` : "";
    setField("state", r.state + exit);
    const reason = app.querySelector('[data-field="reason"]');
    if (reason && r.reason && !reason.textContent.startsWith(r.reason)) reason.textContent = r.reason;
    document.getElementById("reason-row").hidden = !r.reason;
    setField("ended_at", r.ended_at ? fmtTime(r.ended_at, true) : "—");
    setField("duration", fmtDuration(r.duration));
    setField("max_step", r.max_step === null ? "—" : String(r.max_step));
  }

  /* --- tabs: charts, media, console, environment (the address keeps the open one: #media) --- */
  const tabs = [...document.querySelectorAll("#run-tabs [data-tab]")];
  const panels = {
    media: LT.MediaPanel && new LT.MediaPanel(document.getElementById("media-panel"), runId, document.getElementById("media-count")),
    console: LT.ConsolePanel && new LT.ConsolePanel(document.getElementById("console-panel"), runId),
    environment: LT.EnvironmentPanel && new LT.EnvironmentPanel(document.getElementById("environment-panel"), runId),
  };
  let current = null, running = false;
  function openTab(name) {
    if (!tabs.some((t) => t.dataset.tab === name)) name = "charts";
    if (name === current) return;
    current = name;
    if (name !== "charts") LT.firstChartPainted(); /* no chart to wait for: the tab's data now */
    for (const t of tabs) {
      const on = t.dataset.tab === name;
      t.classList.toggle("active", on);
      t.setAttribute("aria-selected", on ? "true" : "false");
    }
    for (const el of app.querySelectorAll(".tab-panel")) el.hidden = el.dataset.panel !== name;
    for (const [key, panel] of Object.entries(panels)) if (panel) panel.setActive(key === name, running);
  }
  for (const t of tabs) {
    t.addEventListener("click", (e) => {
      e.preventDefault();
      history.replaceState(null, "", "#" + t.dataset.tab);
      openTab(t.dataset.tab);
    });
  }
  window.addEventListener("hashchange", () => openTab(location.hash.slice(1)));
  openTab(location.hash.slice(1));

  /* What changes when data lands: then the charts refetch. */
  function signature(view) { return JSON.stringify([view.run.max_step, view.run.state, view.keys.map((k) => k.count)]); }

  function onData(view) {
    names = { [view.run.id]: view.run.name };
    running = view.run.state === "running";
    renderOverview(view);
    renderSummary(view.summary);
    for (const panel of Object.values(panels)) if (panel) panel.changed(running);
    if (!grid) {
      const controls = new ChartControls(document.getElementById("chart-controls"), view.keys.map((k) => k.key));
      const sections = document.getElementById("chart-sections");
      if (view.keys.length) clear(sections);
      grid = new ChartGrid(sections, controls, () => ({ runIds: [view.run.id], names, colors }));
      grid.update(view.sections);
      lastSeen = signature(view);
      return;
    }
    if (view.keys.length && !grid.cards.size) clear(document.getElementById("chart-sections"));
    grid.update(view.sections);
    const seen = signature(view);
    if (seen !== lastSeen) { lastSeen = seen; grid.refresh(); }
  }

  /* The page carries the run's view, so its charts are asked for at once (no first round trip
   * for the JSON twin); the poller then keeps it current. */
  const poller = new Poller(urls.api.run(runId), onData);
  let first = null;
  try { first = JSON.parse(document.getElementById("run-data").textContent); } catch (e) { first = null; }
  if (first) { onData(first); poller.schedule(); } else poller.start();
})();
