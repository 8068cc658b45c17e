/* Run page, Environment tab: hardware and OS, code (git, command line, Python), installed
 * packages (collapsible, filterable) and the uncommitted diff (text only, downloadable). */
(function () {
  "use strict";
  const { h, clear, urls, getJSON, fmtInt, fmtBytes, TabPanel } = window.LT;

  function kv(rows) {
    const shown = rows.filter(([, v]) => v !== null && v !== undefined && v !== "");
    if (!shown.length) return h("p", { class: "muted", text: "Not recorded." });
    return h("table", { class: "kv env-kv" }, h("tbody", {}, shown.map(([k, v]) =>
      h("tr", {}, h("th", { scope: "row", text: k }), h("td", {}, v instanceof Node ? v : String(v))))));
  }
  function mono(text) { return text ? h("span", { class: "mono wrap", text }) : null; }

  class EnvironmentPanel extends TabPanel {
    constructor(el, runId) { super(el, runId); this.etag = null; this.data = null; this.shownRunning = null; }
    async refresh() {
      if (this.data && this.data.recorded) return; /* recorded once, as the run starts */
      const { data, etag } = await getJSON(urls.api.environment(this.runId), this.etag);
      if (data !== null) { this.etag = etag; this.data = data; }
      if (data !== null || this.shownRunning !== this.running) {
        this.shownRunning = this.running;
        this.render(this.data);
      }
    }
    render(d) {
      const hw = d.hardware, git = d.git;
      const gpus = (hw.gpu_models || []).length ? hw.gpu_models.join(", ") : hw.gpu_models ? "none found" : null;
      const system = kv([
        ["OS", hw.os || d.platform], ["Machine", hw.machine], ["CPU", hw.cpu_model],
        ["CPU cores", hw.cpu_count], ["Memory", hw.memory_total_gb !== null ? `${hw.memory_total_gb} GB` : null],
        ["GPUs", gpus], ["Host", d.host], ["User", d.user],
      ]);
      const dirty = git && git.dirty ? h("span", { class: "badge state-failed", text: "dirty" }) : git ? h("span", { class: "badge state-finished", text: "clean" }) : null;
      const code = kv([
        ["Command", mono(d.command)], ["Directory", mono(d.cwd)],
        ["Python", d.python ? `${d.python}${d.python_executable ? " · " + d.python_executable : ""}` : null],
        ["Git commit", git ? mono(git.commit) : null], ["Branch", git ? git.branch : null],
        ["Working tree", dirty], ["Remote", git ? mono(git.remote) : null],
      ]);
      const parts = [];
      if (!d.recorded) {
        parts.push(h("div", { class: "card pad empty-note", id: "env-missing" },
          h("p", { text: this.running ? "The environment is being recorded…" : "No environment was recorded for this run." }),
          this.running ? null : h("p", { class: "muted", text: "Runs logged before localtrack saved environments (or with capture_packages and save_code off) show only what is below." })));
      }
      parts.push(h("div", { class: "env-grid" },
        h("section", { class: "card", id: "env-system" }, h("h2", { text: "System" }), system),
        h("section", { class: "card", id: "env-code" }, h("h2", { text: "Code" }), code)));
      parts.push(this.packages(d.packages), this.diff(d.diff, git));
      clear(this.el).append(...parts);
    }
    packages(p) {
      const card = h("section", { class: "card", id: "env-packages" });
      if (!p) { card.append(h("h2", { text: "Packages" }), h("p", { class: "muted", text: "No package list was saved for this run." })); return card; }
      const filter = h("input", { type: "search", placeholder: "Filter packages…", "aria-label": "Filter packages" });
      const list = h("ul", { class: "pkg-list" }, p.items.map((it) =>
        h("li", { dataset: { name: it.name.toLowerCase() } }, h("span", { class: "pkg-name", text: it.name }), h("span", { class: "pkg-version mono", text: it.version || "" }))));
      filter.addEventListener("input", () => {
        const q = filter.value.trim().toLowerCase();
        for (const li of list.children) li.hidden = Boolean(q) && !li.dataset.name.includes(q);
      });
      card.append(h("details", { class: "pkg-details" },
        h("summary", {}, "Installed packages ", h("span", { class: "count", text: fmtInt(p.count) })),
        h("div", { class: "pkg-tools" }, filter, h("span", { class: "spacer" }),
          h("a", { class: "btn small", text: "Download requirements.txt", download: "", href: urls.api.runFile(this.runId, p.file) })),
        list));
      return card;
    }
    diff(d, git) {
      const card = h("section", { class: "card", id: "env-diff" }, h("h2", { text: "Uncommitted changes" }));
      if (!d) {
        const why = !git ? "The run did not start in a git repository." : git.dirty
          ? "The working tree had changes, but no diff was saved (save_code was off, or the run predates it)."
          : "None: the working tree matched the commit.";
        card.append(h("p", { class: "muted", text: why }));
        return card;
      }
      const notes = [`${fmtBytes(d.size_bytes)}`];
      if (d.cut_here) notes.push(`showing the first ${fmtBytes(d.shown_bytes)}; download it for the rest`);
      if (d.cut_at_capture) notes.push("cut at 10 MiB when the run started");
      const pre = h("pre", { class: "diff", id: "env-diff-text" }, d.text.replace(/\n$/, "").split("\n").map((line) => {
        const kind = line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ") || line.startsWith("index ") ? "meta"
          : line.startsWith("@@") ? "hunk" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "";
        return h("span", { class: "dl " + kind, text: line + "\n" });
      }));
      card.append(h("div", { class: "pkg-tools" }, h("span", { class: "muted", text: notes.join(" · ") }), h("span", { class: "spacer" }),
        h("a", { class: "btn small", id: "env-diff-download", text: "Download .patch", download: "", href: urls.api.runFile(this.runId, d.file) })), pre);
      return card;
    }
  }

  Object.assign(window.LT, { EnvironmentPanel });
})();
