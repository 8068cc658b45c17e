/* The alerts page: a live feed (polls the JSON twin), and an editor for the project's rules and
 * destinations that saves with one PUT. Secrets typed here go to the server once and are never
 * sent back: the page only learns whether one is set. */
(function () {
  "use strict";
  const app = document.getElementById("alerts-app");
  if (!app) return;
  const { h, clear, fmtTime, toast } = window.LT;
  const project = app.dataset.project;
  const runFilter = app.dataset.run || null;
  const TEMPLATES = JSON.parse(document.getElementById("lt-urls").textContent);
  const ROOT = document.body.dataset.root || "";
  const url = (name, params) => ROOT + TEMPLATES[name].replace("<project>", encodeURIComponent(project).replace(/%2F/g, "/")) + (params || "");
  let data = JSON.parse(document.getElementById("alerts-data").textContent);
  const LEVELS = ["INFO", "WARN", "ERROR"];
  const SECURITY = ["starttls", "ssl", "none"];
  const status = document.getElementById("alerts-status");

  async function send(method, target, body) {
    const headers = { "Content-Type": "application/json" };
    if (app.dataset.csrf) headers["X-CSRF-Token"] = app.dataset.csrf;
    const resp = await fetch(target, { method, headers, body: JSON.stringify(body || {}), credentials: "same-origin" });
    const out = await resp.json();
    if (!resp.ok) throw new Error((out.error && out.error.message) || resp.statusText);
    return out;
  }

  /* --- the feed ---------------------------------------------------------------------------- */
  function deliveryClass(d) { return d.ok === null ? "pending" : d.ok ? "ok" : "fail"; }
  function renderFeed(items) {
    const body = document.querySelector("#alert-feed tbody");
    clear(body);
    if (!items.length) {
      body.appendChild(h("tr", { class: "empty" }, h("td", { colspan: 6, class: "muted", text: "No alerts yet." })));
      return;
    }
    for (const a of items) {
      const level = String(a.level || "INFO");
      body.appendChild(h("tr", { dataset: { id: a.id, kind: a.kind } },
        h("td", { text: a.time ? fmtTime(a.time) : "" }),
        h("td", {}, h("span", { class: `alert-level level-${level.toLowerCase()}`, text: level })),
        h("td", {}, h("strong", { class: "alert-title", text: a.title }), h("div", { class: "alert-text", text: a.text })),
        h("td", {}, a.run_id ? h("a", { href: ROOT + TEMPLATES.run.replace("<run_id>", encodeURIComponent(a.run_id)), text: a.run_name || a.run_id }) : ""),
        h("td", { text: a.rule_name || a.source || "" }),
        h("td", { class: "deliveries" }, (a.deliveries || []).map((d) =>
          h("span", { class: `delivery ${deliveryClass(d)}`, title: d.detail || "", text: `${d.destination}: ${d.detail || ""}` })))));
    }
  }
  async function refreshFeed() {
    try {
      const resp = await fetch(url("api.alerts", runFilter ? `?run=${encodeURIComponent(runFilter)}` : ""), { cache: "no-store", credentials: "same-origin" });
      if (!resp.ok) return;
      const out = await resp.json();
      renderFeed(out.feed);
    } catch (e) { /* the next poll tries again */ }
  }
  setInterval(() => { if (!document.hidden) refreshFeed(); }, Math.max(1000, window.LT.POLL_MS || 2000));

  /* --- the editor -------------------------------------------------------------------------- */
  function field(label, input) { return h("label", {}, label, input); }
  function text(obj, key, attrs) {
    const input = h("input", Object.assign({ type: "text", value: obj[key] === null || obj[key] === undefined ? "" : String(obj[key]), "aria-label": key, dataset: { key } }, attrs || {}));
    input.addEventListener("input", () => { obj[key] = input.value; });
    return input;
  }
  function choice(obj, key, options) {
    const sel = h("select", { "aria-label": key, dataset: { key } }, options.map((o) => h("option", { value: o, text: o || "default" })));
    sel.value = obj[key] || "";
    sel.addEventListener("change", () => { obj[key] = sel.value; });
    return sel;
  }
  function removeButton(list, item, rerender) {
    return h("button", { type: "button", class: "btn small", text: "Remove", on: { click: () => { list.splice(list.indexOf(item), 1); rerender(); } } });
  }

  const secrets = {};
  function renderDestinations() {
    const box = clear(document.getElementById("dest-list"));
    for (const d of data.destinations) {
      const email = d.type === "email";
      const secret = h("input", { type: "password", autocomplete: "off", "aria-label": email ? "SMTP password" : "webhook URL", dataset: { key: "secret" },
        placeholder: d.secret_set ? "set (type to replace)" : email ? "SMTP password" : "webhook URL" });
      secret.addEventListener("input", () => { secrets[d.id] = secret.value; });
      const test = h("button", { type: "button", class: "btn small", text: "Test", on: { click: () => sendTest(d.id) } });
      const parts = [h("span", { class: "kind", text: d.type }), field("id", text(d, "id")), field("name", text(d, "name"))];
      if (email) {
        parts.push(field("SMTP host", text(d, "smtp_host")), field("port", text(d, "smtp_port")), field("security", choice(d, "security", SECURITY)),
          field("user", text(d, "username")), field("password", secret), field("or env var", text(d, "password_env")),
          field("from", text(d, "sender")), field("to", text(d, "to_text")), field("CA file", text(d, "ca_file")));
      } else {
        parts.push(field("URL", secret), field("or env var", text(d, "url_env")));
      }
      parts.push(h("span", { class: "muted", text: d.secret_set ? "secret set" : "no secret yet" }), test, removeButton(data.destinations, d, renderDestinations));
      box.appendChild(h("div", { class: "alert-item", dataset: { dest: d.id, type: d.type } }, parts));
    }
  }
  function renderRules() {
    const box = clear(document.getElementById("rule-list"));
    for (const r of data.rules) {
      const parts = [h("span", { class: "kind", text: r.type }), field("id", text(r, "id")), field("name", text(r, "name"))];
      if (r.type === "stalled") parts.push(field("minutes", text(r, "minutes", { type: "number", min: "0", step: "any" })));
      if (r.type === "nan" || r.type === "threshold") parts.push(field("metric", text(r, "metric")));
      if (r.type === "threshold") {
        parts.push(field("direction", choice(r, "direction", ["above", "below"])), field("value", text(r, "value", { type: "number", step: "any" })),
          field("from step", text(r, "min_step", { type: "number", min: "0" })));
      }
      if (r.type === "script") parts.push(field("min level", choice(r, "min_level", LEVELS)));
      else parts.push(field("level", choice(r, "level", ["", ...LEVELS])));
      parts.push(field("to", text(r, "destinations_text", { placeholder: "all destinations" })));
      const on = h("input", { type: "checkbox", checked: r.enabled !== false, "aria-label": "enabled" });
      on.addEventListener("change", () => { r.enabled = on.checked; });
      parts.push(field("on", on), removeButton(data.rules, r, renderRules));
      box.appendChild(h("div", { class: "alert-item", dataset: { rule: r.id, type: r.type } }, parts));
    }
  }
  function prepare() {
    for (const d of data.destinations) d.to_text = (d.to || []).join(", ");
    for (const r of data.rules) r.destinations_text = (r.destinations || []).join(", ");
  }
  const list = (s) => String(s || "").split(",").map((x) => x.trim()).filter(Boolean);
  const num = (v) => (v === "" || v === null || v === undefined ? null : Number(v));
  const blankNull = (v) => (v === "" || v === undefined ? null : v);
  function collect() {
    const destinations = data.destinations.map((d) => {
      const out = { id: d.id, type: d.type, name: d.name || d.id };
      if (d.type === "email") {
        Object.assign(out, { smtp_host: blankNull(d.smtp_host), smtp_port: num(d.smtp_port), security: d.security || "starttls", username: blankNull(d.username),
          password_env: blankNull(d.password_env), sender: blankNull(d.sender), to: list(d.to_text), ca_file: blankNull(d.ca_file) });
      } else out.url_env = blankNull(d.url_env);
      if (d.timeout_s !== undefined) out.timeout_s = d.timeout_s;
      return out;
    });
    const rules = data.rules.map((r) => {
      const out = { id: r.id, type: r.type, name: r.name || r.id, enabled: r.enabled !== false, destinations: list(r.destinations_text) };
      if (r.created_at) out.created_at = r.created_at;
      if (r.type === "stalled") out.minutes = num(r.minutes);
      if (r.type === "nan") out.metric = blankNull(r.metric);
      if (r.type === "threshold") Object.assign(out, { metric: blankNull(r.metric), direction: r.direction || "above", value: num(r.value), min_step: num(r.min_step) });
      if (r.type === "script") out.min_level = r.min_level || "INFO";
      else out.level = blankNull(r.level);
      return out;
    });
    const given = {};
    for (const [k, v] of Object.entries(secrets)) if (v) given[k] = v;
    return { destinations, rules, secrets: given };
  }
  function uniqueId(prefix, items) {
    let n = 1;
    while (items.some((x) => x.id === `${prefix}${n === 1 ? "" : "-" + n}`)) n++;
    return `${prefix}${n === 1 ? "" : "-" + n}`;
  }
  document.getElementById("dest-add").addEventListener("click", () => {
    const type = document.getElementById("dest-type").value;
    const d = { id: uniqueId(type, data.destinations), type, secret_set: false };
    if (type === "email") Object.assign(d, { security: "starttls", smtp_port: 587, to: [] });
    data.destinations.push(d); prepare(); renderDestinations();
  });
  document.getElementById("rule-add").addEventListener("click", () => {
    const type = document.getElementById("rule-type").value;
    const r = { id: uniqueId(type, data.rules), type, enabled: true };
    if (type === "stalled") r.minutes = 10;
    if (type === "threshold") Object.assign(r, { direction: "above", min_step: 0 });
    data.rules.push(r); prepare(); renderRules();
  });
  document.getElementById("alerts-save").addEventListener("click", async () => {
    const err = document.getElementById("rules-error");
    try {
      const out = await send("PUT", url("api.alertRules"), collect());
      data = Object.assign(data, out);
      for (const k of Object.keys(secrets)) delete secrets[k];
      prepare(); renderDestinations(); renderRules();
      err.hidden = true; status.textContent = "saved";
    } catch (e) {
      err.textContent = e.message; err.hidden = false; status.textContent = "not saved";
    }
  });
  async function sendTest(destination) {
    try {
      await send("POST", url("api.alerts"), destination ? { destination } : {});
      status.textContent = "test alert sent; its delivery shows in the feed";
      setTimeout(refreshFeed, 300);
    } catch (e) { status.textContent = ""; toast(e.message); }
  }
  document.getElementById("alerts-test").addEventListener("click", () => sendTest(null));
  prepare(); renderDestinations(); renderRules();
})();
