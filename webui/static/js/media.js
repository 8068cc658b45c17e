/* Run page, Media tab: images per key with a step slider and captions, tables sorted, filtered
 * and paged on the server (image cells as thumbnails), histograms (histogram.js), and the other
 * kinds — audio, video, HTML, plotly, 3D, galleries (media_kinds.js), preset charts (media_charts.js). */
(function () {
  "use strict";
  const { h, clear, urls, getJSON, ApiError, fmtInt, fmtValue, fmtTime, TabPanel, HistogramCard, StepCard, PresetCard } = window.LT;
  const TABLE_ROWS = 25;
  const SECTIONS = [["image", "Images"], ["video", "Videos"], ["audio", "Audio"], ["chart", "Charts"], ["plotly", "Plotly figures"],
    ["object3d", "3D objects"], ["html", "HTML"], ["table", "Tables"], ["histogram", "Histograms"]];
  /* the card for a key: galleries and the newer kinds show every item of a step (media_kinds.js) */
  function makeCard(runId, entry) {
    if (entry.type === "image" && !entry.gallery) return new ImageCard(runId, entry);
    if (entry.type === "table") return new TableCard(runId, entry);
    if (entry.type === "histogram") return new HistogramCard(runId, entry);
    if (entry.type === "chart") return new PresetCard(runId, entry);
    return new StepCard(runId, entry);
  }

  /* Images of one key: the one at the chosen step, its caption, and a slider over steps. */
  class ImageCard {
    constructor(runId, entry) {
      this.runId = runId; this.key = entry.key; this.items = []; this.index = -1;
      this.img = h("img", { alt: "", loading: "lazy", decoding: "async" });
      this.caption = h("figcaption", { class: "caption" });
      this.slider = h("input", { type: "range", min: "0", max: "0", value: "0", "aria-label": `Step of ${entry.key}` });
      this.label = h("span", { class: "step-label mono" });
      this.open = h("a", { text: "PNG", target: "_blank", rel: "noopener" });
      this.el = h("div", { class: "media-card image-card", dataset: { key: entry.key, type: "image" } },
        h("div", { class: "chart-title" }, h("span", { class: "key", title: entry.key, text: entry.key }), h("span", { class: "spacer" }), this.open),
        h("figure", { class: "image-frame" }, this.img, this.caption),
        h("div", { class: "slider-row" }, this.slider, this.label));
      this.slider.addEventListener("input", () => this.show(Number(this.slider.value)));
      this.update(entry);
    }
    wake() { /* the <img> loads lazily by itself */ }
    update(entry) {
      const atEnd = this.index === this.items.length - 1;
      this.items = entry.items;
      this.slider.max = String(this.items.length - 1);
      this.slider.disabled = this.items.length < 2;
      this.show(atEnd ? this.items.length - 1 : this.index);
    }
    show(index) {
      const item = this.items[index];
      if (!item || index === this.index && this.img.getAttribute("src")) return;
      this.index = index; this.slider.value = String(index);
      const w = item.width || 256, hgt = item.height || 256;
      /* small images (MNIST digits) are scaled up by whole factors without blurring; big ones fit */
      const big = Math.max(w, hgt);
      const scale = big <= 100 ? Math.floor(200 / big) : big < 200 ? 200 / big : Math.min(1, 300 / hgt);
      this.img.width = Math.round(w * scale); this.img.height = Math.round(hgt * scale);
      this.img.classList.toggle("pixelated", big <= 100);
      this.img.alt = item.caption || `${this.key} at step ${item.step}`;
      this.img.src = urls.api.mediaFile(this.runId, item.file);
      this.open.href = this.img.src;
      this.caption.textContent = item.caption || "";
      this.caption.hidden = !item.caption;
      this.label.textContent = `step ${fmtInt(item.step)} · ${index + 1} of ${this.items.length}`;
      this.label.title = fmtTime(item.wall_time, true);
    }
  }

  /* One logged table, a page at a time; every sort, search and page is a request. */
  class TableCard {
    constructor(runId, entry) {
      this.runId = runId; this.key = entry.key; this.entry = entry;
      this.q = { step: null, offset: 0, sort: null, order: "asc", q: "" };
      this.seq = 0; this.etag = null; this.data = null;
      this.stepSel = h("select", { "aria-label": `Step of ${entry.key}`, class: "small" });
      this.search = h("input", { type: "search", placeholder: "Filter rows…", "aria-label": `Filter rows of ${entry.key}` });
      this.info = h("span", { class: "muted table-info" });
      this.prev = h("button", { type: "button", class: "btn small", text: "‹ Prev", dataset: { act: "prev" } });
      this.next = h("button", { type: "button", class: "btn small", text: "Next ›", dataset: { act: "next" } });
      this.download = h("a", { text: "Parquet", download: "" });
      this.table = h("table", { class: "grid media-table" });
      this.msg = h("div", { class: "table-msg muted", hidden: true });
      this.el = h("div", { class: "media-card table-card", dataset: { key: entry.key, type: "table" } },
        h("div", { class: "chart-title" }, h("span", { class: "key", title: entry.key, text: entry.key }), h("span", { class: "spacer" }), this.download),
        h("div", { class: "table-tools" }, this.stepSel, this.search, this.info, h("span", { class: "spacer" }), this.prev, this.next),
        h("div", { class: "table-wrap" }, this.table), this.msg);
      let timer = null;
      this.search.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => { this.q.q = this.search.value.trim(); this.q.offset = 0; this.load(); }, 250);
      });
      this.stepSel.addEventListener("change", () => { this.q.step = this.stepSel.value === "" ? null : Number(this.stepSel.value); this.q.offset = 0; this.load(); });
      this.prev.addEventListener("click", () => { this.q.offset = Math.max(0, this.q.offset - TABLE_ROWS); this.load(); });
      this.next.addEventListener("click", () => { this.q.offset += TABLE_ROWS; this.load(); });
      this.update(entry);
    }
    update(entry) {
      this.entry = entry;
      const steps = entry.steps, keep = this.stepSel.value;
      clear(this.stepSel).append(h("option", { value: "", text: `latest (step ${fmtInt(steps[steps.length - 1])})` }),
        ...steps.slice().reverse().map((s) => h("option", { value: String(s), text: `step ${fmtInt(s)}` })));
      this.stepSel.value = keep;
      this.stepSel.hidden = steps.length < 2;
      if (this.awake) this.load();
    }
    wake() { this.awake = true; this.load(); }
    async load() {
      const seq = ++this.seq, q = this.q;
      const params = { key: this.key, step: q.step, offset: q.offset, limit: TABLE_ROWS, sort: q.sort, order: q.sort ? q.order : null, q: q.q };
      const url = urls.api.table(this.runId, params);
      if (url !== this.url) { this.url = url; this.etag = null; }
      this.el.classList.add("loading");
      try {
        const { data, etag } = await getJSON(url, this.etag);
        if (seq !== this.seq) return;
        if (data !== null) { this.etag = etag; this.data = data; this.render(data); }
      } catch (e) {
        if (seq === this.seq) { this.msg.textContent = e instanceof ApiError ? e.message : "Could not reach the server."; this.msg.hidden = false; }
      } finally { if (seq === this.seq) this.el.classList.remove("loading"); }
    }
    render(d) {
      const images = new Set(d.image_columns), q = this.q;
      const numeric = d.columns.map((c, i) => d.rows.some((r) => typeof r[i] === "number") && d.rows.every((r) => r[i] === null || typeof r[i] === "number"));
      const head = h("tr", {}, d.columns.map((c, i) => {
        const arrow = q.sort === c ? (q.order === "asc" ? " ▲" : " ▼") : "";
        return h("th", { class: "sortable" + (numeric[i] ? " num" : ""), title: "Sort by " + c, dataset: { col: c }, on: { click: () => this.sortBy(c) } }, c, h("span", { class: "arrow", text: arrow }));
      }));
      const body = d.rows.map((row) => h("tr", {}, row.map((v, i) => {
        if (images.has(d.columns[i])) {
          return h("td", { class: "thumb-cell" }, v ? h("img", { class: "thumb", loading: "lazy", alt: d.columns[i], src: urls.api.mediaFile(this.runId, v) }) : "");
        }
        return h("td", { class: numeric[i] ? "num" : v === null ? "null" : "", text: v === null ? "null" : fmtValue(v) });
      })));
      clear(this.table).append(h("thead", {}, head), h("tbody", {}, body));
      const first = d.total_rows ? d.offset + 1 : 0, last = d.offset + d.rows.length;
      const of = d.q ? `${fmtInt(d.total_rows)} matching of ${fmtInt(d.all_rows)}` : fmtInt(d.total_rows);
      this.info.textContent = `rows ${fmtInt(first)}–${fmtInt(last)} of ${of}`;
      this.prev.disabled = d.offset <= 0;
      this.next.disabled = last >= d.total_rows;
      this.msg.hidden = d.rows.length > 0;
      this.msg.textContent = d.q ? `No row contains “${d.q}”.` : "This table has no rows.";
      const item = (this.entry.items || []).find((i) => i.step === d.step);
      if (item) this.download.href = urls.api.mediaFile(this.runId, item.file);
      this.el.dataset.offset = String(d.offset);
    }
    sortBy(col) {
      const q = this.q;
      if (q.sort !== col) { q.sort = col; q.order = "asc"; } else if (q.order === "asc") q.order = "desc"; else q.sort = null;
      q.offset = 0; this.load();
    }
  }

  class MediaPanel extends TabPanel {
    constructor(el, runId, countEl) {
      super(el, runId);
      this.countEl = countEl; this.cards = new Map(); this.etag = null; this.sections = null;
      /* tables and histograms fetch their data when they first come near the screen */
      this.io = new IntersectionObserver((entries) => {
        for (const e of entries) {
          if (!e.isIntersecting) continue;
          this.io.unobserve(e.target);
          const card = this.cards.get(e.target.dataset.type + ":" + e.target.dataset.key);
          if (card) card.obj.wake();
        }
      }, { rootMargin: "400px 0px" });
      /* the tab shows how many keys there are before it is opened (once the first chart is up) */
      this.counting = LT.afterFirstChart().then(() => this.count());
    }
    async count() {
      try {
        const { data, etag } = await getJSON(urls.api.media(this.runId));
        this.first = data; this.firstEtag = etag;
        this.setCount(data);
      } catch (e) { /* the tab says so itself when opened */ }
    }
    setCount(data) {
      const n = data.keys.length;
      this.countEl.textContent = String(n);
      this.countEl.hidden = n === 0;
    }
    async refresh() {
      await this.counting;
      let data = null;
      if (this.first) { data = this.first; this.etag = this.firstEtag; this.first = null; }
      else { const r = await getJSON(urls.api.media(this.runId), this.etag); data = r.data; if (data) this.etag = r.etag; }
      if (data === null) return;
      this.setCount(data);
      this.render(data);
    }
    render(data) {
      if (!data.keys.length) {
        this.cards.clear(); this.sections = null;
        clear(this.el).append(h("div", { class: "card pad empty-note" },
          h("p", { text: "This run has no images, tables or histograms, and no audio, video, HTML, plotly figures, 3D objects or preset charts." }),
          h("p", { class: "muted" }, "Log them like metrics: ", h("code", { text: 'run.log({"examples": localtrack.Image(array, caption="…")}, step=step)' }),
            ", ", h("code", { text: "localtrack.Table(columns=…, data=…)" }), " or ", h("code", { text: "localtrack.Histogram(values)" }), ".")));
        return;
      }
      if (!this.sections) this.build();
      for (const entry of data.keys) {
        const id = entry.type + ":" + entry.key;
        const card = this.cards.get(id);
        if (card) { if (JSON.stringify(card.steps) !== JSON.stringify(entry.steps)) { card.steps = entry.steps; card.obj.update(entry); } continue; }
        if (!this.sections[entry.type]) continue; /* a kind this page does not know yet */
        const obj = makeCard(this.runId, entry);
        this.cards.set(id, { obj, steps: entry.steps });
        this.sections[entry.type].grid.appendChild(obj.el);
        this.io.observe(obj.el);
      }
      for (const [type, sec] of Object.entries(this.sections)) {
        const n = data.keys.filter((k) => k.type === type).length;
        sec.det.hidden = n === 0; sec.count.textContent = n;
      }
      this.applySearch();
    }
    build() {
      this.search = h("input", { type: "search", placeholder: "Search media…", "aria-label": "Search media keys", id: "media-search" });
      this.search.addEventListener("input", () => this.applySearch());
      this.sections = {};
      const parts = [h("div", { class: "charts-head" }, h("div", { class: "chart-controls" }, this.search))];
      for (const [type, title] of SECTIONS) {
        const count = h("span", { class: "count" });
        const grid = h("div", { class: `media-grid media-grid-${type}` });
        const det = h("details", { class: "chart-section", open: true, dataset: { section: type } }, h("summary", {}, title, " ", count), grid);
        this.sections[type] = { det, grid, count };
        parts.push(det);
      }
      clear(this.el).append(...parts);
    }
    applySearch() {
      const q = (this.search.value || "").trim().toLowerCase();
      for (const { obj } of this.cards.values()) obj.el.classList.toggle("hidden", Boolean(q) && !obj.key.toLowerCase().includes(q));
    }
  }

  Object.assign(window.LT, { MediaPanel, ImageCard, TableCard, makeMediaCard: makeCard });
})();
