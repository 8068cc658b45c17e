/* Compare page, Media section: the media keys the selected runs have (and which runs lack one),
 * and for a chosen key the item(s) of every run side by side at one step — each run shows the
 * nearest step it logged at or before the slider's, labelled with that step. The run page's
 * renderers draw them (media_kinds.js, media_charts.js, media.js, histogram.js); those scripts and
 * the section's data load only after the first chart is painted and once the section nears view,
 * so the charts are never held back. */
(function () {
  "use strict";
  const { h, clear, urls, Poller, fmtInt, assignColors } = window.LT;
  const app = document.getElementById("compare-app");
  const sec = document.getElementById("compare-media");
  if (!app || !sec) return;
  const project = app.dataset.project;
  const ids = app.dataset.runs.split(",").filter(Boolean);
  const body = document.getElementById("cm-body"), countEl = document.getElementById("cm-count");
  const KINDS = { image: "image", video: "video", audio: "audio", chart: "preset chart", plotly: "plotly", object3d: "3D", html: "HTML", table: "table", histogram: "histogram" };
  const WIDE = new Set(["chart", "table", "plotly", "object3d", "html", "video", "histogram"]); /* kinds drawn ~480px wide */
  let chosen = { key: null, type: null, step: null }, data = null, poller = null, timer = null;
  let colors = {}, parts = null;
  const shown = new Map(); /* run id -> what its panel shows now, so a slider move redraws only what changed */

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = h("script", { src });
      s.addEventListener("load", resolve); s.addEventListener("error", () => reject(new Error(`cannot load ${src}`)));
      document.body.appendChild(s);
    });
  }
  async function loadRenderers() {
    for (const src of (sec.dataset.scripts || "").split(" ").filter(Boolean)) {
      if (!document.querySelector(`script[src="${CSS.escape(src)}"]`)) await loadScript(src);
    }
  }
  function nearView() {
    return new Promise((resolve) => {
      const io = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting)) { io.disconnect(); resolve(); }
      }, { rootMargin: "600px 0px" });
      io.observe(sec);
    });
  }

  function params() {
    return { key: chosen.key, type: chosen.key ? chosen.type : null, step: chosen.step };
  }
  function choose(key, type) {
    chosen = { key, type, step: null };
    shown.clear();
    poller.setUrl(urls.api.compareMedia(project, ids, params()));
  }
  function build() {
    const keys = h("div", { class: "cm-keys table-wrap" });
    const slider = h("input", { type: "range", min: "0", max: "0", value: "0", id: "cm-step", "aria-label": "Step of the media shown" });
    const label = h("span", { class: "step-label mono", id: "cm-step-label" });
    const title = h("strong", { class: "mono", id: "cm-key" });
    const controls = h("div", { class: "cm-controls" }, title, h("div", { class: "slider-row" }, slider, label));
    const panels = h("div", { class: "cm-panels", id: "cm-panels" });
    slider.addEventListener("input", () => {
      const step = data.steps[Number(slider.value)];
      label.textContent = `step ${fmtInt(step)}`;
      clearTimeout(timer);
      timer = setTimeout(() => { chosen.step = step; poller.setUrl(urls.api.compareMedia(project, ids, params())); }, 120);
    });
    clear(body).append(keys, controls, panels);
    parts = { keys, slider, label, title, controls, panels };
  }

  function renderKeys(d) {
    const names = Object.fromEntries(d.runs.map((r) => [r.id, r.name]));
    const rows = d.keys.map((k) => {
      const lacks = k.missing.length ? `missing in ${k.missing.map((id) => names[id] || id).join(", ")}` : `all ${d.runs.length} runs`;
      const here = k.key === d.key && k.type === d.type;
      return h("tr", { class: here ? "chosen" : "", dataset: { key: k.key, type: k.type, shared: String(k.shared) } },
        h("td", {}, h("button", { type: "button", class: "cm-key mono", text: k.key, "aria-pressed": String(here), on: { click: () => choose(k.key, k.type) } })),
        h("td", { class: "muted", text: KINDS[k.type] || k.type }),
        h("td", { class: k.missing.length ? "cm-missing" : "", text: lacks }));
    });
    clear(parts.keys).append(h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, h("th", { text: "Key" }), h("th", { text: "Kind" }), h("th", { text: "Runs" }))),
      h("tbody", {}, rows)));
  }

  function note(text, cls) { return h("p", { class: `muted cm-note ${cls || ""}`, text }); }
  /* what a run shows for the key at its step: the run page's renderers, one per kind */
  function content(d, p) {
    const LT = window.LT, key = d.key, type = d.type, runId = p.run_id;
    if (!p.has_key) return [note(`This run has no media “${key}”.`, "cm-lacks")];
    if (p.step === null) return [note(`Nothing logged at or before step ${fmtInt(d.step)} (first at step ${fmtInt(p.first_step)}).`, "cm-later")];
    if (type === "table" && LT.TableCard) {
      const card = new LT.TableCard(runId, { key, steps: [p.step], items: p.items });
      card.q.step = p.step; card.wake();
      return [card.el];
    }
    if (type === "chart" && LT.PresetCard) {
      const card = new LT.PresetCard(runId, { key, steps: [p.step] });
      card.step = p.step; card.wake();
      return [card.el];
    }
    if (type === "histogram" && LT.drawBars) {
      const canvas = h("canvas", { class: "cm-hist", "aria-label": `Histogram of ${key}` });
      const msg = note("");
      LT.getJSON(urls.api.histogram(runId, { key, step: p.step }))
        .then(({ data: hd }) => { LT.drawBars(canvas, hd.edges, hd.counts, Math.max(240, canvas.parentElement ? canvas.parentElement.clientWidth : 260)); canvas.dataset.drawn = "1"; })
        .catch((e) => { msg.textContent = e.message; });
      return [canvas, msg];
    }
    const render = (LT.renderMediaItem || {})[type];
    if (!render) return [note(`This page cannot show ${type} media.`)];
    return p.items.map((item) => h("figure", { class: "gallery-item" }, render(runId, item),
      item.caption ? h("figcaption", { class: "caption", text: item.caption }) : null));
  }
  function swatch(id) {
    const sw = h("span", { class: "swatch" });
    sw.style.background = colors[id] || "#ccc"; /* through the CSSOM: the CSP allows no style attributes */
    return sw;
  }
  function renderPanels(d) {
    const old = new Map([...parts.panels.children].map((el) => [el.dataset.runId, el]));
    const els = d.panels.map((p) => {
      const sig = JSON.stringify([d.key, d.type, p.step, p.items.map((i) => i.file)]);
      let el = old.get(p.run_id);
      if (el && shown.get(p.run_id) === sig) return el;
      shown.set(p.run_id, sig);
      const stepText = p.step === null ? "—" : `step ${fmtInt(p.step)}`;
      const n = p.items.length > 1 ? ` · ${p.items.length} items` : "";
      el = h("div", { class: "cm-panel", dataset: { runId: p.run_id, step: p.step === null ? "" : String(p.step), hasKey: String(p.has_key) } },
        h("div", { class: "cm-panel-head" }, swatch(p.run_id),
          h("a", { class: "cm-name", href: urls.run(p.run_id), text: p.name, title: p.run_id }), h("span", { class: "spacer" }),
          h("span", { class: "step-label mono cm-step", text: stepText + n })),
        h("div", { class: "cm-panel-body gallery" }, content(d, p)));
      return el;
    });
    clear(parts.panels).append(...els);
  }
  function render(d) {
    data = d;
    colors = assignColors(d.runs.map((r) => r.id));
    countEl.textContent = String(d.keys.length); countEl.hidden = false;
    if (!d.keys.length) { parts = null; clear(body).append(note("None of these runs logged media (images, tables, audio, video, HTML, plotly figures, 3D objects or preset charts).", "cm-none")); return; }
    if (!parts) build();
    chosen.key = d.key; chosen.type = d.type;
    renderKeys(d);
    parts.title.textContent = d.key;
    const i = Math.max(0, d.steps.findLastIndex((s) => s <= d.step));
    parts.slider.max = String(Math.max(0, d.steps.length - 1)); parts.slider.value = String(i);
    parts.slider.disabled = d.steps.length < 2;
    parts.label.textContent = `step ${fmtInt(d.step)}`;
    parts.label.title = d.total_steps > d.steps.length ? `${fmtInt(d.steps.length)} of ${fmtInt(d.total_steps)} steps on the slider` : "";
    sec.dataset.key = d.key; sec.dataset.step = String(d.step);
    parts.panels.classList.toggle("cm-wide", WIDE.has(d.type));
    renderPanels(d);
  }

  (async () => {
    await LT.afterFirstChart(); /* the page's first charts before the media (core.js) */
    await nearView();
    try { await loadRenderers(); } catch (e) { clear(body).append(note(e.message)); return; }
    poller = new Poller(urls.api.compareMedia(project, ids, params()), render, (e) => { clear(body).append(note(e.message)); parts = null; });
    poller.start();
  })();
})();
