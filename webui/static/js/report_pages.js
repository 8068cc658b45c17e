/* The report pages: the list's "new report" form, the live view (polls the report's data with
 * If-None-Match and redraws when runs log), and the editor (text beside a live preview of the
 * unsaved text; Save writes the file). Drawing is report.js's renderReport. */
(function () {
  "use strict";
  const { Poller, ApiError, toast } = window.LT;
  const ROOT = document.body.dataset.root || "";
  const URLS = JSON.parse((document.getElementById("lt-urls") || {}).textContent || "{}");
  function url(name, args) {
    return ROOT + URLS[name].replace(/<([^<>]+)>/g, (_, k) => encodeURIComponent(args[k]));
  }

  async function send(method, target, body, csrf) {
    const headers = { "Content-Type": "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const resp = await fetch(target, { method, headers, body: JSON.stringify(body), credentials: "same-origin", cache: "no-store" });
    let data = null;
    try { data = await resp.json(); } catch (e) { /* not JSON */ }
    if (!resp.ok) throw new ApiError((data && data.error && data.error.message) || `${resp.status} ${resp.statusText}`);
    return data;
  }

  const form = document.getElementById("new-report");
  if (form) form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = document.getElementById("new-report-name").value.trim();
    if (name) location.href = url("reportEdit", { project: form.dataset.project, name });
  });

  const viewApp = document.getElementById("report-app");
  if (viewApp) {
    const args = { project: viewApp.dataset.project, name: viewApp.dataset.name };
    const target = document.getElementById("report");
    new Poller(url("api.reportData", args), (data) => window.LT.renderReport(target, data)).start();
    document.getElementById("report-pin").addEventListener("click", async () => {
      try {
        await send("POST", url("api.reportPin", args), { pinned: viewApp.dataset.mode !== "pinned" }, viewApp.dataset.csrf);
        location.reload();
      } catch (e) { toast(e.message); }
    });
  }

  const editApp = document.getElementById("report-editor-app");
  if (editApp) {
    const args = { project: editApp.dataset.project, name: editApp.dataset.name };
    const text = document.getElementById("report-text"), err = document.getElementById("report-error");
    const status = document.getElementById("report-status"), target = document.getElementById("report");
    let timer = null, seq = 0;
    async function preview() {
      const mine = ++seq;
      try {
        const data = await send("POST", url("api.reportPreview", args), { text: text.value }, editApp.dataset.csrf);
        if (mine !== seq) return;
        err.hidden = true;
        window.LT.renderReport(target, data);
        target.dataset.previewed = String(mine);
      } catch (e) {
        if (mine !== seq) return;
        err.hidden = false; err.textContent = e instanceof ApiError ? e.message : "Could not reach the server.";
      }
    }
    text.addEventListener("input", () => { status.textContent = "unsaved"; clearTimeout(timer); timer = setTimeout(preview, 400); });
    document.getElementById("report-save").addEventListener("click", async () => {
      try {
        await send("PUT", url("api.report", args), { text: text.value }, editApp.dataset.csrf);
        status.textContent = "saved"; err.hidden = true;
      } catch (e) { err.hidden = false; err.textContent = e.message; status.textContent = "not saved"; }
    });
    preview();
  }
})();
