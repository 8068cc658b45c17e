/* The sweep page: summary, parallel coordinates coloured by the metric, metric-vs-parameter
 * scatter, fANOVA importance bars, hyperband rungs and the trials table. Rendered from the
 * page's embedded view model, then kept live by polling the JSON twin with If-None-Match. */
(function () {
  const { h, clear, fmtNum, stateBadge, Poller } = window.LT;
  const app = document.getElementById("sweep-app");
  if (!app) return;
  const sweepId = app.dataset.sweep;
  const SVG = "http://www.w3.org/2000/svg";
  const W = 640, H = 280, PAD = { l: 56, r: 24, t: 18, b: 34 };
  let view = JSON.parse(document.getElementById("sweep-data").textContent);

  function svg(tag, attrs, text) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  }
  /* Blue (worst) → yellow (best), whatever the goal. */
  function colour(t) {
    const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
    const x = Math.max(0, Math.min(1, t)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
    const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
    return `rgb(${c.join(",")})`;
  }
  /* An axis for a list of values: numeric (log when they span decades) or categorical. */
  function axis(values) {
    const nums = values.filter((v) => typeof v === "number" && isFinite(v));
    if (nums.length && nums.length === values.filter((v) => v !== null && v !== undefined).length) {
      let lo = Math.min(...nums), hi = Math.max(...nums);
      const log = lo > 0 && hi / lo > 100;
      const f = log ? Math.log10 : (v) => v;
      const a = f(lo), b = f(hi) === a ? a + 1 : f(hi);
      return { pos: (v) => (typeof v === "number" ? (f(v) - a) / (b - a) : null), ticks: [lo, hi], label: fmtNum };
    }
    const cats = [...new Set(values.filter((v) => v !== null && v !== undefined).map(String))].sort();
    const n = Math.max(1, cats.length - 1);
    return { pos: (v) => (v === null || v === undefined ? null : cats.indexOf(String(v)) / n), ticks: cats, label: String, cats };
  }
  function metricScale(trials) {
    const vals = trials.map((t) => t.value).filter((v) => v !== null);
    const lo = Math.min(...vals), hi = Math.max(...vals);
    const up = view.sweep.goal === "maximize";
    return (v) => (v === null ? "#b8bec6" : colour(hi === lo ? 1 : up ? (v - lo) / (hi - lo) : (hi - v) / (hi - lo)));
  }

  function parallel() {
    const box = clear(document.getElementById("parallel-chart"));
    const trials = view.trials, names = [...view.params, "__metric"];
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Parallel coordinates" });
    const x = (i) => PAD.l + (i * (W - PAD.l - PAD.r)) / Math.max(1, names.length - 1);
    const y = (p) => H - PAD.b - p * (H - PAD.t - PAD.b);
    const axes = names.map((n) => axis(trials.map((t) => (n === "__metric" ? t.value : t.params[n]))));
    const tint = metricScale(trials);
    for (const t of trials) {
      const pts = names.map((n, i) => [x(i), axes[i].pos(n === "__metric" ? t.value : t.params[n])]);
      if (pts.some(([, p]) => p === null && t.value !== null)) continue;
      const d = pts.filter(([, p]) => p !== null).map(([px, p], i) => `${i ? "L" : "M"}${px.toFixed(1)},${y(p).toFixed(1)}`).join("");
      if (d) root.appendChild(svg("path", { d, fill: "none", stroke: tint(t.value), "stroke-width": 1.6, "stroke-opacity": 0.85, "data-trial": t.number, class: "pc-line" }));
    }
    names.forEach((n, i) => {
      const g = svg("g", { class: "axis" });
      g.appendChild(svg("line", { x1: x(i), x2: x(i), y1: PAD.t, y2: H - PAD.b }));
      g.appendChild(svg("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, n === "__metric" ? view.sweep.metric || "metric" : n));
      const ax = axes[i];
      for (const tick of ax.cats ? ax.ticks : ax.ticks.filter(isFinite)) {
        const p = ax.pos(tick);
        if (p !== null) g.appendChild(svg("text", { x: x(i) + 4, y: y(p) + 4 }, ax.label(tick)));
      }
      root.appendChild(g);
    });
    box.appendChild(root);
  }

  function scatter() {
    const box = clear(document.getElementById("scatter-chart"));
    const name = document.getElementById("scatter-param").value;
    const trials = view.trials.filter((t) => t.value !== null);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Metric against a parameter" });
    if (!name || !trials.length) { box.appendChild(h("p", { class: "muted", text: "No finished trial with a value yet." })); return; }
    const ax = axis(trials.map((t) => t.params[name])), ay = axis(trials.map((t) => t.value));
    const px = (p) => PAD.l + p * (W - PAD.l - PAD.r), py = (p) => H - PAD.b - p * (H - PAD.t - PAD.b);
    const tint = metricScale(trials);
    root.appendChild(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: H - PAD.b, y2: H - PAD.b, stroke: "#9aa3ad" }));
    root.appendChild(svg("line", { x1: PAD.l, x2: PAD.l, y1: PAD.t, y2: H - PAD.b, stroke: "#9aa3ad" }));
    for (const t of trials) {
      const a = ax.pos(t.params[name]), b = ay.pos(t.value);
      if (a === null || b === null) continue;
      const dot = svg("circle", { cx: px(a).toFixed(1), cy: py(b).toFixed(1), r: 4.5, fill: tint(t.value), stroke: "#333", "stroke-width": 0.5, class: "scatter-dot", "data-trial": t.number });
      dot.appendChild(svg("title", {}, `trial ${t.number}: ${name}=${t.params[name]}, ${view.sweep.metric}=${fmtNum(t.value)}`));
      root.appendChild(dot);
    }
    for (const tick of ax.ticks) { const p = ax.pos(tick); if (p !== null) root.appendChild(svg("text", { x: px(p), y: H - 12, "text-anchor": "middle" }, ax.label(tick))); }
    for (const tick of ay.ticks) { const p = ay.pos(tick); if (p !== null) root.appendChild(svg("text", { x: 4, y: py(p) + 4 }, ay.label(tick))); }
    box.appendChild(root);
  }

  function importance() {
    const box = clear(document.getElementById("importance-bars"));
    const imp = view.importance || {};
    const entries = Object.entries(imp.values || {}).sort((a, b) => b[1] - a[1]);
    if (!entries.length) { box.appendChild(h("p", { class: "muted", text: imp.reason || "Not computed yet." })); return; }
    const top = entries[0][1] || 1;
    for (const [name, share] of entries) {
      const bar = h("div", { class: "imp-bar" });
      bar.style.width = `${Math.max(1, (100 * share) / top).toFixed(1)}%`; /* CSSOM: CSP allows it */
      box.appendChild(h("div", { class: "imp-row", dataset: { param: name } },
        h("span", { class: "mono", text: name }), bar,
        h("span", { class: "muted", text: (100 * share).toFixed(1) + " %" })));
    }
  }

  function rungs() {
    const body = clear(document.querySelector("#rungs-table tbody"));
    if (!view.rungs.length) { body.appendChild(h("tr", {}, h("td", { colspan: 4, class: "muted", text: "No early termination configured." }))); return; }
    for (const r of view.rungs) body.appendChild(h("tr", {}, h("td", { text: r.iteration }), h("td", { text: r.reached }), h("td", { text: r.stopped }), h("td", { text: fmtNum(r.best) })));
  }

  function table() {
    const head = clear(document.querySelector("#trials-table thead"));
    const body = clear(document.querySelector("#trials-table tbody"));
    head.appendChild(h("tr", {}, ...["#", "State", view.sweep.metric || "value", ...view.params, "Run", "Note"].map((c) => h("th", { text: c }))));
    for (const t of view.trials) {
      body.appendChild(h("tr", { dataset: { trial: t.number } },
        h("td", { text: t.number }), h("td", {}, stateBadge(t.state)), h("td", { class: "num", text: fmtNum(t.value) }),
        ...view.params.map((p) => h("td", { class: "mono", text: t.params[p] === undefined ? "" : String(t.params[p]) })),
        h("td", {}, h("a", { href: t.run_url, class: "mono", text: t.run_id })),
        h("td", { class: "muted", text: (t.attempts > 1 ? `re-run ×${t.attempts - 1} ` : "") + (t.stop_reason || "") })));
    }
  }

  function summary() {
    const s = view.sweep;
    clear(document.getElementById("sweep-state")).appendChild(stateBadge(s.state));
    const best = clear(document.getElementById("sweep-best"));
    if (s.best) best.append("Best so far: ", h("strong", { text: `${s.metric} = ${fmtNum(s.best.value)}` }), " — ", h("a", { href: s.best.run_url, text: `trial ${s.best.number}` }));
    else best.textContent = "No finished trial yet.";
    const counts = Object.entries(s.trials).sort().map(([k, n]) => `${n} ${k}`).join(", ");
    document.getElementById("sweep-counts").textContent = counts + (s.capacity ? ` of ${s.capacity}` : "");
  }

  function render() { summary(); parallel(); scatter(); importance(); rungs(); table(); app.dataset.rendered = String(view.trials.length); }
  document.getElementById("scatter-param").addEventListener("change", scatter);
  render();
  /* The twin's URL template comes from the route registry (#lt-urls), as core.js's do. */
  const templates = JSON.parse(document.getElementById("lt-urls").textContent || "{}");
  const twin = (document.body.dataset.root || "") + templates["api.sweep"].replace("<sweep_id>", encodeURIComponent(sweepId));
  const poller = new Poller(twin, (data) => { view = data; render(); });
  poller.etag = app.dataset.etag || null;
  poller.start();
})();
