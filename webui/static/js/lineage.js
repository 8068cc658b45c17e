/* Artifact lineage: runs and artifact versions as a DAG, laid out by dagre (vendored at build
 * time, loaded only on this page) and drawn as SVG. Every node is a link: a click navigates to
 * the run or version page; the focus version is outlined. */
(function () {
  "use strict";
  const NS = "http:" + "//www.w3.org/2000/svg"; // the SVG namespace name (never fetched)
  const host = document.getElementById("lineage");
  const data = JSON.parse(document.getElementById("lineage-data").textContent);
  const W = 190, H = 46;

  function el(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function short(s, n) { return s.length > n ? s.slice(0, n - 1) + "…" : s; }

  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 70, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of data.nodes) g.setNode(n.id, { width: W, height: H });
  for (const e of data.edges) g.setEdge(e.from, e.to, { kind: e.kind });
  dagre.layout(g);
  const size = g.graph();

  const svg = el("svg", { width: size.width, height: size.height, viewBox: `0 0 ${size.width} ${size.height}`, class: "lineage-svg" });
  const defs = el("defs");
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8a90a6" }));
  defs.appendChild(marker);
  svg.appendChild(defs);

  for (const e of g.edges()) {
    const pts = g.edge(e).points;
    const d = pts.map((p, i) => `${i ? "L" : "M"}${p.x},${p.y}`).join(" ");
    svg.appendChild(el("path", { d, class: `edge edge-${g.edge(e).kind}`, "marker-end": "url(#arrow)" }));
  }
  for (const n of data.nodes) {
    const pos = g.node(n.id);
    const x = pos.x - W / 2, y = pos.y - H / 2;
    const link = el("a", { class: `node node-${n.kind}${n.id === data.focus ? " focus" : ""}`, "data-id": n.id });
    if (n.url) link.setAttribute("href", n.url);
    link.appendChild(el("rect", { x, y, width: W, height: H, rx: n.kind === "run" ? 22 : 5 }));
    link.appendChild(el("text", { x: pos.x, y: pos.y - 4, "text-anchor": "middle", class: "label" }, short(n.label, 26)));
    const sub = n.kind === "run" ? "run" : `${n.type}${n.aliases && n.aliases.length ? " · " + n.aliases.join(", ") : ""}`;
    link.appendChild(el("text", { x: pos.x, y: pos.y + 13, "text-anchor": "middle", class: "sub" }, short(sub, 30)));
    link.appendChild(el("title", {}, n.kind === "run" ? `run ${n.run_id}` : n.id.slice(9)));
    svg.appendChild(link);
  }
  host.appendChild(svg);
  host.dataset.painted = String(data.nodes.length);
})();
