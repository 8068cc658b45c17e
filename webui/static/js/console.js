/* Run page, Console tab: the captured output (files/output.log) with line numbers, searched on
 * the server, following a running run: each time data lands the lines after the last one shown
 * are fetched (the last one again, in case it was still being written) and appended. */
(function () {
  "use strict";
  const { h, clear, urls, getJSON, fmtInt, fmtBytes, TabPanel } = window.LT;
  const PAGE = 1000;
  const MAX_SHOWN = 20000; /* lines kept in the page while following; older ones are dropped */
  const CAPTURE_OFF = { /* run.json's system.console, when nothing was captured */
    off: "Console capture was off for this run (Settings(console=False) or LOCALTRACK_CONSOLE=0), so nothing it printed was saved.",
    nested: "Console output was not captured for this run: another run started earlier in the same process captured it.",
    unavailable: "Console capture was unavailable for this run (its stdout/stderr could not be redirected).",
  };
  const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g; /* colour codes: shown as plain text */

  class ConsolePanel extends TabPanel {
    constructor(el, runId) {
      super(el, runId);
      this.q = ""; this.first = 0; this.next = 0; this.etag = null; this.built = false;
    }
    build() {
      this.search = h("input", { type: "search", id: "console-search", placeholder: "Search output…", "aria-label": "Search the console output" });
      this.info = h("span", { class: "muted", id: "console-info" });
      this.follow = h("input", { type: "checkbox", id: "console-follow", checked: true });
      this.followLabel = h("label", { class: "ctl", title: "Keep the newest lines in view while the run is running" }, this.follow, "follow");
      this.download = h("a", { class: "btn small", text: "Download output.log", download: "", href: urls.api.runFile(this.runId, "output.log") });
      this.earlier = h("button", { type: "button", class: "btn small earlier", text: "Show earlier lines", hidden: true });
      this.lines = h("div", { class: "console-lines", id: "console-lines", role: "log", "aria-live": "off" });
      this.box = h("div", { class: "console" }, this.earlier, this.lines);
      this.msg = h("div", { class: "card pad muted", hidden: true });
      clear(this.el).append(
        h("div", { class: "charts-head" }, h("div", { class: "chart-controls" }, this.search, this.followLabel, this.info, h("span", { class: "spacer" }), this.download)),
        this.msg, this.box);
      let timer = null;
      this.search.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => { this.q = this.search.value; this.reset(); this.kick(); }, 250);
      });
      this.earlier.addEventListener("click", () => this.loadEarlier());
      this.built = true;
    }
    reset() { this.next = 0; this.first = 0; this.loadedQ = null; this.etag = null; }
    url(start, limit) { return urls.api.console(this.runId, { q: this.q, start, limit }); }
    async refresh() {
      if (!this.built) this.build();
      this.followLabel.hidden = !this.running;
      if (this.loadedQ !== this.q) return this.loadTail();
      /* follow: from the last line shown, which may have grown since */
      const start = Math.max(0, this.next - 1);
      const { data, etag } = await getJSON(this.url(start, 5000), this.etag);
      if (data === null) { if (this.last && this.last.running !== this.running) this.status(this.last.data); return; }
      this.etag = etag;
      if (data.total_lines < this.next - 1 || data.start_line !== start) return this.loadTail();
      const rows = this.rows(data);
      const last = this.lines.lastElementChild;
      if (last && rows.length && last.dataset.n === rows[0].dataset.n) this.lines.replaceChild(rows.shift(), last);
      const stick = this.atBottom();
      this.lines.append(...rows);
      this.next = data.start_line + data.lines.length;
      while (this.lines.childElementCount > MAX_SHOWN) { this.lines.firstElementChild.remove(); this.first++; }
      this.earlier.hidden = this.first <= 0;
      this.status(data);
      if (stick && this.follow.checked) this.scrollDown();
    }
    async loadTail() {
      const q = this.q;
      const { data, etag } = await getJSON(this.url(-PAGE, PAGE));
      if (q !== this.q) return;
      this.etag = etag; this.loadedQ = q;
      clear(this.lines).append(...this.rows(data));
      this.first = data.start_line; this.next = data.start_line + data.lines.length;
      this.earlier.hidden = this.first <= 0;
      this.status(data);
      this.scrollDown();
    }
    async loadEarlier() {
      const start = Math.max(0, this.first - PAGE), limit = this.first - start;
      if (limit <= 0) return;
      const { data } = await getJSON(this.url(start, limit));
      const height = this.box.scrollHeight;
      this.lines.prepend(...this.rows(data));
      this.first = start;
      this.earlier.hidden = this.first <= 0;
      this.box.scrollTop += this.box.scrollHeight - height; /* keep the lines in view where they were */
    }
    rows(data) {
      const needle = this.q.toLowerCase();
      return data.lines.map((line, i) => {
        const n = data.line_numbers[i];
        return h("div", { class: "line", dataset: { n: String(n) } }, h("span", { class: "ln", text: String(n) }), this.text(line.replace(ANSI, ""), needle));
      });
    }
    /* The line as text, with the search term marked (text nodes only: output is never HTML). */
    text(line, needle) {
      const span = h("span", { class: "tx" });
      if (!needle) { span.textContent = line; return span; }
      const lower = line.toLowerCase();
      let at = 0;
      for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, at)) {
        span.append(line.slice(at, i), h("mark", { text: line.slice(i, i + needle.length) }));
        at = i + needle.length;
      }
      span.append(line.slice(at));
      return span;
    }
    status(d) {
      this.last = { data: d, running: this.running };
      this.showReason(d);
      const why = CAPTURE_OFF[d.capture];
      if (!d.captured) {
        this.box.hidden = true; this.msg.hidden = false; this.download.hidden = true;
        if (why) { clear(this.msg).append(h("p", { class: "capture-off", text: why })); return; }
        if (this.running) { clear(this.msg).append(h("p", { text: "Nothing printed yet." })); return; }
        clear(this.msg).append(h("p", { text: "No console output was captured for this run." }),
          h("p", { class: "muted", text: "localtrack saves what a run prints to files/output.log unless console capture is off (Settings(console=False) or LOCALTRACK_CONSOLE=0). Runs logged before it existed have none." }));
        return;
      }
      this.download.hidden = false;
      const empty = d.total_lines === 0;
      this.box.hidden = empty; this.msg.hidden = !empty;
      const quiet = this.running ? "Nothing printed yet (console capture is on)." : "The run printed nothing (console capture was on).";
      if (empty) clear(this.msg).append(h("p", { text: this.q ? `No line contains “${this.q}”.` : quiet }));
      this.info.textContent = this.q
        ? `${fmtInt(d.total_lines)} matching of ${fmtInt(d.file_lines)} lines`
        : `${fmtInt(d.file_lines)} lines · ${fmtBytes(d.size_bytes)}`;
    }
    /* Why a failed or crashed run ended, above its output (the traceback is its last lines). */
    showReason(d) {
      if (!this.reason) { this.reason = h("div", { class: "warning console-reason", role: "note", hidden: true }); this.el.insertBefore(this.reason, this.msg); }
      this.reason.hidden = !d.reason;
      if (d.reason && this.reason.dataset.text !== d.reason) {
        this.reason.dataset.text = d.reason;
        clear(this.reason).append(h("strong", { text: `Run ${d.state}: ` }), h("span", { class: "mono", text: d.reason }));
      }
    }
    atBottom() { return this.box.scrollHeight - this.box.scrollTop - this.box.clientHeight < 40; }
    scrollDown() { this.box.scrollTop = this.box.scrollHeight; }
  }

  Object.assign(window.LT, { ConsolePanel });
})();
