/* Artifact version page: the file browser. Clicking a file asks the preview twin for it and
 * shows text (first 64 KiB), an image (served from the store by content hash) or the first
 * rows of a Parquet table. Everything goes into the DOM as text, never as HTML. */
(function () {
  "use strict";
  const { h, clear } = window.LT;
  const app = document.getElementById("artifact-version-app");
  if (!app) return;
  const args = { project: app.dataset.project, name: app.dataset.name, version: app.dataset.version };
  const pane = document.getElementById("file-preview");
  const url = (name, path) => {
    const tpl = JSON.parse(document.getElementById("lt-urls").textContent)[name];
    const filled = tpl.replace(/<([^<>]+)>/g, (_, k) => encodeURIComponent(args[k]).replace(/%2F/g, "/"));
    return (document.body.dataset.root || "") + filled + "?path=" + encodeURIComponent(path);
  };

  function table(data) {
    const head = h("tr", {}, data.columns.map((c) => h("th", { text: c })));
    const rows = data.rows.map((r) => h("tr", {}, r.map((v) => h("td", { text: v === null ? "" : String(v) }))));
    return h("div", { class: "fb-table" },
      h("p", { class: "muted", text: `${data.num_rows} rows · first ${data.rows.length} shown` }),
      h("table", { class: "grid" }, h("thead", {}, head), h("tbody", {}, rows)));
  }

  async function show(button) {
    for (const b of document.querySelectorAll(".fb-file.active")) b.classList.remove("active");
    button.classList.add("active");
    const path = button.dataset.path;
    clear(pane).appendChild(h("p", { class: "muted", text: `Loading ${path}…` }));
    let data;
    try {
      const res = await fetch(url("api.artifactPreview", path), { headers: { Accept: "application/json" } });
      data = await res.json();
      if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
    } catch (err) {
      clear(pane).appendChild(h("p", { class: "error-line", text: String(err.message || err) }));
      return;
    }
    const download = h("a", { class: "btn small", href: url("api.artifactFile", path), download: path.split("/").pop(), text: "Download" });
    const head = h("div", { class: "fb-head" }, h("strong", { class: "mono", text: data.path }), download);
    clear(pane).appendChild(head);
    if (data.kind === "text") {
      pane.appendChild(h("pre", { class: "fb-text", text: data.text }));
      if (data.truncated) pane.appendChild(h("p", { class: "muted", text: "Only the first 64 KiB are shown." }));
    } else if (data.kind === "image") {
      pane.appendChild(h("img", { class: "fb-image", src: url("api.artifactFile", path), alt: data.path }));
    } else if (data.kind === "table" && data.columns) {
      pane.appendChild(table(data));
    } else if (data.kind === "reference") {
      pane.appendChild(h("p", { class: "muted", text: `A reference to ${data.ref}; its bytes are not stored here.` }));
    } else {
      pane.appendChild(h("p", { class: "muted", text: data.error || "No preview for this kind of file." }));
    }
  }

  document.getElementById("file-list").addEventListener("click", (ev) => {
    const button = ev.target.closest(".fb-file");
    if (button) show(button);
  });
  const first = document.querySelector(".fb-file");
  if (first && !location.hash) show(first);
})();
