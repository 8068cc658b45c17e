/* Media tab, the kinds beyond images/tables/histograms: audio (player + waveform), video, HTML
 * (sandboxed frame), plotly figures, 3D objects (three.js) and galleries (every item of a step
 * side by side, one slider). plotly.js and three.js load only when such a card is shown. */
(function () {
  "use strict";
  const { h, clear, urls, getJSON, fmtInt, fmtNum, fmtTime } = window.LT;
  /* the app's static folder (this script may come inside /bundle.js, so not from its own URL) */
  const VENDOR = new URL((document.body.dataset.root || "") + "/static/vendor/", location.href).href;
  const once = new Map();
  function loadScript(name) {
    if (!once.has(name)) {
      once.set(name, new Promise((resolve, reject) => {
        const s = h("script", { src: VENDOR + name });
        s.addEventListener("load", resolve); s.addEventListener("error", () => reject(new Error(`cannot load ${name}`)));
        document.head.appendChild(s);
      }));
    }
    return once.get(name);
  }
  const importVendor = (name) => import(VENDOR + name);
  /* plotly.js injects its CSS as inline <style> elements, which the CSP blocks: elements with
   * their ids stop it (plotly's own .no-inline-styles switch; the bundled maplibre's id), and
   * css/plotly.css carries the rules that matter. */
  const PLOTLY_STYLE_IDS = ["plotly.js-style-global", "ce8d464691048653ffe3a57c6c18ab566e8366f186677868cf724621a857b4fe"];
  function loadPlotly() {
    if (!document.getElementById(PLOTLY_STYLE_IDS[0])) {
      for (const id of PLOTLY_STYLE_IDS) document.head.appendChild(h("meta", { id, class: "no-inline-styles" }));
      document.head.appendChild(h("link", { rel: "stylesheet", href: VENDOR.replace(/vendor\/$/, "css/plotly.css") }));
    }
    return loadScript("plotly.min.js");
  }

  /* --- one item of each kind ------------------------------------------------------------ */
  function audioItem(runId, item) {
    const src = urls.api.mediaFile(runId, item.file);
    const audio = h("audio", { controls: true, preload: "metadata", src });
    const wave = h("canvas", { class: "waveform", width: 480, height: 64, "aria-label": "Waveform" });
    const info = [item.format, item.duration != null ? `${fmtNum(item.duration)} s` : null, item.sample_rate ? `${fmtInt(item.sample_rate)} Hz` : null].filter(Boolean).join(" · ");
    drawWave(src, wave);
    return [wave, audio, h("div", { class: "muted small", text: info })];
  }
  async function drawWave(src, canvas) {
    try {
      const bytes = await (await fetch(src)).arrayBuffer();
      const ctx = new OfflineAudioContext(1, 1, 44100);
      const buf = await ctx.decodeAudioData(bytes);
      const data = buf.getChannelData(0), g = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
      const per = Math.max(1, Math.floor(data.length / W));
      g.clearRect(0, 0, W, H); g.fillStyle = "#1f77b4";
      for (let x = 0; x < W; x++) {
        let lo = 1, hi = -1;
        for (let i = x * per; i < Math.min(data.length, (x + 1) * per); i++) { const v = data[i]; if (v < lo) lo = v; if (v > hi) hi = v; }
        if (hi < lo) continue;
        const y0 = (1 - hi) * H / 2, y1 = (1 - lo) * H / 2;
        g.fillRect(x, y0, 1, Math.max(1, y1 - y0));
      }
      canvas.dataset.drawn = "1";
    } catch (e) { canvas.title = "The waveform could not be decoded here."; }
  }
  function videoItem(runId, item) {
    const src = urls.api.mediaFile(runId, item.file);
    if (item.format === "gif") return [h("img", { src, alt: item.caption || "video", class: "gif" })];
    return [h("video", { controls: true, preload: "metadata", loop: true, muted: true, playsinline: true, src, width: Math.min(480, Math.max(160, (item.width || 320) * 2)) })];
  }
  function htmlItem(runId, item) {
    const frame = h("iframe", { sandbox: "", src: urls.api.mediaFile(runId, item.file), referrerpolicy: "no-referrer", loading: "lazy", class: "html-frame", title: "Logged HTML" });
    return [frame, item.scripts ? h("div", { class: "muted small", text: "Scripts in this page do not run here (sandboxed)." }) : null];
  }
  function plotlyItem(runId, item) {
    const div = h("div", { class: "plotly-box" }), msg = h("div", { class: "muted small" });
    (async () => {
      try {
        const [fig] = await Promise.all([getJSON(urls.api.mediaFile(runId, item.file)).then((r) => r.data), loadPlotly()]);
        const layout = Object.assign({ autosize: true, height: 320, margin: { l: 40, r: 10, t: 30, b: 30 } }, fig.layout || {});
        await window.Plotly.newPlot(div, fig.data || [], layout, { displaylogo: false, responsive: true, displayModeBar: false });
        div.dataset.drawn = "1";
      } catch (e) { msg.textContent = `The figure could not be drawn: ${e.message}`; }
    })();
    return [div, msg];
  }
  function object3dItem(runId, item) {
    const box = h("div", { class: "three-box" }), note = h("div", { class: "muted small three-note" });
    drawObject(runId, item, box, note).catch((e) => { note.textContent = `The 3D object could not be drawn: ${e.message}`; });
    return [box, note];
  }
  const CATS = [0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x17becf, 0xbcbd22, 0x7f7f7f];
  async function drawObject(runId, item, box, note) {
    const THREE = await importVendor("three.module.js");
    const { OrbitControls } = await importVendor("three-OrbitControls.js");
    const W = 480, H = 320;
    let renderer;
    try { renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true }); }
    catch (e) { note.textContent = "This browser cannot draw 3D (no WebGL)."; return; }
    renderer.setSize(W, H); renderer.setClearColor(0x111418);
    box.appendChild(renderer.domElement);
    const scene = new THREE.Scene(), group = new THREE.Group();
    scene.add(group, new THREE.AmbientLight(0xffffff, 1.2));
    const sun = new THREE.DirectionalLight(0xffffff, 1.5); sun.position.set(1, 2, 3); scene.add(sun);
    const src = urls.api.mediaFile(runId, item.file);
    if (item.format === "pts.json") {
      const { data } = await getJSON(urls.api.cloud(runId, item.file, {}));
      group.add(cloudPoints(THREE, data.points));
      for (const b of data.boxes) group.add(boxLines(THREE, b));
      note.textContent = data.shown_points < data.total_points
        ? `showing ${fmtInt(data.shown_points)} of ${fmtInt(data.total_points)} points` : `${fmtInt(data.total_points)} points`;
      if (data.boxes.length) note.textContent += ` · ${fmtInt(data.boxes.length)} boxes`;
      box.dataset.points = String(data.shown_points); box.dataset.total = String(data.total_points);
    } else {
      const res = await fetch(src);
      const material = new THREE.MeshStandardMaterial({ color: 0x9ab, roughness: 0.6 });
      if (item.format === "stl") {
        const { STLLoader } = await importVendor("three-STLLoader.js");
        group.add(new THREE.Mesh(new STLLoader().parse(await res.arrayBuffer()), material));
      } else if (item.format === "obj") {
        const { OBJLoader } = await importVendor("three-OBJLoader.js");
        group.add(new OBJLoader().parse(await res.text()));
      } else {
        const { GLTFLoader } = await importVendor("three-GLTFLoader.js");
        const raw = item.format === "glb" ? await res.arrayBuffer() : await res.text();
        const gltf = await new Promise((ok, bad) => new GLTFLoader().parse(raw, "", ok, bad));
        group.add(gltf.scene);
      }
      note.textContent = `${item.format.toUpperCase()} mesh`;
    }
    const bounds = new THREE.Box3().setFromObject(group), size = bounds.getSize(new THREE.Vector3()).length() || 1;
    const center = bounds.getCenter(new THREE.Vector3());
    const camera = new THREE.PerspectiveCamera(50, W / H, size / 1000, size * 100);
    camera.position.copy(center).add(new THREE.Vector3(size * 0.6, size * 0.5, size * 0.9));
    const controls = new OrbitControls(camera, renderer.domElement);
    controls.target.copy(center); controls.update();
    const render = () => { renderer.render(scene, camera); box.dataset.drawn = "1"; };
    controls.addEventListener("change", render);
    render();
  }
  function cloudPoints(THREE, points) {
    const n = points.length, pos = new Float32Array(n * 3), col = new Float32Array(n * 3);
    let zmin = Infinity, zmax = -Infinity;
    for (const p of points) { if (p[2] < zmin) zmin = p[2]; if (p[2] > zmax) zmax = p[2]; }
    const c = new THREE.Color();
    points.forEach((p, i) => {
      pos[i * 3] = p[0]; pos[i * 3 + 1] = p[1]; pos[i * 3 + 2] = p[2];
      if (p.length === 6) c.setRGB(p[3] / 255, p[4] / 255, p[5] / 255);
      else if (p.length === 4) c.setHex(CATS[Math.abs(Math.round(p[3])) % CATS.length]);
      else c.setHSL(0.66 * (1 - (p[2] - zmin) / ((zmax - zmin) || 1)), 0.8, 0.55);
      col[i * 3] = c.r; col[i * 3 + 1] = c.g; col[i * 3 + 2] = c.b;
    });
    const g = new THREE.BufferGeometry();
    g.setAttribute("position", new THREE.BufferAttribute(pos, 3));
    g.setAttribute("color", new THREE.BufferAttribute(col, 3));
    return new THREE.Points(g, new THREE.PointsMaterial({ size: 2, sizeAttenuation: false, vertexColors: true }));
  }
  /* W&B's boxes list 8 corners in no fixed order: each corner joins its 3 nearest (its edges). */
  function boxLines(THREE, b) {
    const cs = b.corners, seg = [], seen = new Set();
    cs.forEach((p, i) => {
      const near = cs.map((q, j) => [j, (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 + (p[2] - q[2]) ** 2]).filter(([j]) => j !== i).sort((a, z) => a[1] - z[1]).slice(0, 3);
      for (const [j] of near) { const k = i < j ? `${i}-${j}` : `${j}-${i}`; if (!seen.has(k)) { seen.add(k); seg.push(...p, ...cs[j]); } }
    });
    const g = new THREE.BufferGeometry();
    g.setAttribute("position", new THREE.BufferAttribute(new Float32Array(seg), 3));
    const color = new THREE.Color(b.color[0] / 255, b.color[1] / 255, b.color[2] / 255);
    return new THREE.LineSegments(g, new THREE.LineBasicMaterial({ color }));
  }
  function imageItem(runId, item) {
    return [h("img", { src: urls.api.mediaFile(runId, item.file), alt: item.caption || "image", loading: "lazy", class: "gallery-img" })];
  }
  const RENDER = { image: imageItem, audio: audioItem, video: videoItem, html: htmlItem, plotly: plotlyItem, object3d: object3dItem };

  /* A key of one of these kinds: everything logged at the chosen step (a gallery, or one item),
   * a slider over steps. Heavy items (figures, 3D) build only when the card comes near view. */
  class StepCard {
    constructor(runId, entry) {
      this.runId = runId; this.key = entry.key; this.type = entry.type; this.awake = false; this.step = null;
      this.grid = h("div", { class: "gallery" });
      this.slider = h("input", { type: "range", min: "0", max: "0", value: "0", "aria-label": `Step of ${entry.key}` });
      this.label = h("span", { class: "step-label mono" });
      this.el = h("div", { class: `media-card kind-card kind-${entry.type}`, dataset: { key: entry.key, type: entry.type } },
        h("div", { class: "chart-title" }, h("span", { class: "key", title: entry.key, text: entry.key })),
        this.grid, h("div", { class: "slider-row" }, this.slider, this.label));
      this.slider.addEventListener("input", () => this.show(Number(this.slider.value)));
      this.update(entry);
    }
    wake() { this.awake = true; this.show(Number(this.slider.value), true); }
    update(entry) {
      const atEnd = this.step === null || this.step === this.steps[this.steps.length - 1];
      this.items = entry.items; this.steps = entry.steps;
      this.slider.max = String(this.steps.length - 1); this.slider.disabled = this.steps.length < 2;
      const index = atEnd ? this.steps.length - 1 : Math.max(0, this.steps.indexOf(this.step));
      this.slider.value = String(index);
      if (this.awake) this.show(index, true);
    }
    show(index, force) {
      const step = this.steps[index];
      if (step === undefined || (step === this.step && !force && this.grid.firstChild)) return;
      if (step === this.step && this.grid.firstChild) return;
      this.step = step;
      const items = this.items.filter((i) => i.step === step).sort((a, b) => (a.index || 0) - (b.index || 0));
      const render = RENDER[this.type];
      clear(this.grid).append(...items.map((item) => h("figure", { class: "gallery-item" }, render(this.runId, item),
        item.caption ? h("figcaption", { class: "caption", text: item.caption }) : null)));
      const n = items.length > 1 ? ` · ${items.length} items` : "";
      this.label.textContent = `step ${fmtInt(step)} · ${index + 1} of ${this.steps.length}${n}`;
      this.label.title = items[0] ? fmtTime(items[0].wall_time, true) : "";
      this.el.dataset.step = String(step);
    }
  }

  Object.assign(window.LT, { StepCard, loadPlotly, renderMediaItem: RENDER });
})();
