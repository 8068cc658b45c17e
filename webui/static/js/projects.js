/* Projects page: keep the server-rendered table live by polling /api/v1/projects. */
(function () {
  "use strict";
  const { h, clear, urls, Poller, stateBadge, fmtTime } = window.LT;
  const app = document.getElementById("projects-app");
  if (!app) return;
  const emptyState = document.getElementById("empty-state");
  const emptyCopy = emptyState ? emptyState.cloneNode(true) : null;

  function row(p) {
    const states = Object.keys(p.state_counts).sort().map((s) => [stateBadge(s), h("span", { class: "count", text: p.state_counts[s] }), " "]);
    return h("tr", {},
      h("td", {}, h("a", { href: urls.project(p.name), text: p.name })),
      h("td", { class: "num", text: p.run_count }),
      h("td", { class: "num", text: p.running_count }),
      h("td", {}, states),
      h("td", { text: fmtTime(p.last_activity, true) }));
  }

  function render(view) {
    clear(app);
    if (!view.projects.length) {
      if (emptyCopy) app.appendChild(emptyCopy.cloneNode(true));
      return;
    }
    app.appendChild(h("table", { class: "grid", id: "projects-table" },
      h("thead", {}, h("tr", {}, h("th", { text: "Project" }), h("th", { class: "num", text: "Runs" }),
        h("th", { class: "num", text: "Running" }), h("th", { text: "States" }), h("th", { text: "Last activity" }))),
      h("tbody", {}, view.projects.map(row))));
  }

  let first = true;
  new Poller(urls.api.projects(), (view) => {
    if (first) { first = false; if (!view.projects.length && emptyState) return; }
    render(view);
  }).start();
})();
