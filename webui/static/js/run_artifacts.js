/* Run page: the artifact versions this run used (inputs) and logged (outputs). */
(function () {
  "use strict";
  const { h, clear, getJSON } = window.LT;
  const box = document.getElementById("run-artifacts");
  if (!box) return;
  const tpl = JSON.parse(document.getElementById("lt-urls").textContent)["api.runArtifacts"];
  const src = (document.body.dataset.root || "") + tpl.replace("<run_id>", encodeURIComponent(box.dataset.runId));
  function list(title, items, id) {
    const rows = items.map((v) => h("li", {},
      h("a", { href: v.url, class: "mono", text: `${v.project}/${v.name}:${v.version}` }), " ",
      h("span", { class: "muted", text: v.type }), " ",
      (v.aliases || []).map((a) => h("span", { class: "tag alias", text: a }))));
    return h("div", { id }, h("h3", { text: `${title} (${items.length})` }),
      items.length ? h("ul", { class: "artifact-list" }, rows) : h("p", { class: "muted", text: "None." }));
  }
  window.LT.afterFirstChart().then(() => getJSON(src)).then(({ data }) => {
    if (!data.inputs.length && !data.outputs.length) { box.hidden = true; return; }
    box.hidden = false;
    clear(box).appendChild(h("h2", { text: "Artifacts" }));
    box.appendChild(list("Inputs", data.inputs, "run-inputs"));
    box.appendChild(list("Outputs", data.outputs, "run-outputs"));
  }).catch(() => { box.hidden = true; });
})();
