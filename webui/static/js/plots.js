/* Canvas plots for the compare page: parallel coordinates (config → metric) and a scatter of
 * any two config/summary fields. Hovering shows the nearest run. */
(function () {
  "use strict";
  const { h, clear, fmtNum } = window.LT;
  const FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif";

  /* Field value of a compare run: "config.lr" / "summary.val/acc". */
  function fieldValue(run, field) {
    const dot = field.indexOf(".");
    const src = field.slice(0, dot) === "config" ? run.config : run.summary;
    const v = src ? src[field.slice(dot + 1)] : undefined;
    return v === undefined ? null : v;
  }
  function short(v) {
    if (typeof v !== "number") return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2).replace(/\.?0+e/, "e");
    return String(Number(v.toPrecision(3)));
  }
  /* A scale for one field over the runs: numbers linear (log when they span 100x or more and
   * are all positive, like learning rates), anything else as categories. */
  function makeScale(runs, field) {
    const vals = runs.map((r) => fieldValue(r, field)).filter((v) => v !== null);
    if (vals.length && vals.every((v) => typeof v === "number" && isFinite(v))) {
      let lo = Math.min(...vals), hi = Math.max(...vals);
      const log = lo > 0 && hi / lo >= 100;
      if (lo === hi) { lo -= 1; hi += 1; }
      const f = log ? Math.log : (v) => v;
      const span = f(hi) - f(lo);
      return { kind: "num", log, lo, hi, pos: (v) => (typeof v === "number" ? (f(v) - f(lo)) / span : null), ticks: [short(lo), short(hi)] };
    }
    const cats = [...new Set(vals.map(String))].sort();
    const n = Math.max(1, cats.length - 1);
    return { kind: "cat", cats, pos: (v) => (v === null ? null : cats.length === 1 ? 0.5 : cats.indexOf(String(v)) / n), ticks: cats };
  }
  function setupCanvas(el, height) {
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(240, el.clientWidth);
    const canvas = h("canvas", { width: Math.round(width * dpr), height: Math.round(height * dpr) });
    canvas.style.width = width + "px"; canvas.style.height = height + "px";
    const tip = h("div", { class: "tip", hidden: true });
    clear(el).append(canvas, tip);
    const ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr); ctx.font = FONT;
    return { canvas, ctx, width, height, tip };
  }
  function showTip(tip, x, y, text) {
    if (text === null) { tip.hidden = true; return; }
    tip.textContent = text; tip.hidden = false;
    tip.style.left = x + 12 + "px"; tip.style.top = y + 8 + "px";
  }
  function clip(ctx, text, max) {
    let t = String(text);
    while (t.length > 3 && ctx.measureText(t).width > max) t = t.slice(0, -2);
    return t === String(text) ? t : t.slice(0, -1) + "…";
  }
  function gradient(t) { /* blue (low) → orange (high) */
    const a = [59, 91, 219], b = [232, 89, 12];
    const c = a.map((v, i) => Math.round(v + (b[i] - v) * t));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  /* How many runs lack each field: {field: count}, only fields some run lacks. */
  function missingCounts(runs, fields) {
    const out = {};
    for (const f of fields) {
      const n = runs.filter((r) => fieldValue(r, f) === null).length;
      if (n) out[f] = n;
    }
    return out;
  }
  /* Runs that lack a field are drawn on a "missing" tick under that axis, dashed, so no run
   * silently disappears; returns {runs: how many runs lack some field, fields: {field: count}}. */
  function parallel(el, runs, fields, metric) {
    const axes = fields.concat(metric ? [metric] : []);
    if (axes.length < 2) { clear(el).appendChild(h("p", { class: "muted", text: "Pick at least one config field and a metric." })); return { runs: 0, fields: {} }; }
    const { canvas, ctx, width, height, tip } = setupCanvas(el, 300);
    const missing = missingCounts(runs, axes);
    const anyMissing = Object.keys(missing).length > 0;
    const top = 42, bottom = height - (anyMissing ? 46 : 24), left = 40, right = width - 40, missY = bottom + 18;
    const scales = axes.map((f) => makeScale(runs, f));
    const xs = axes.map((_, i) => left + ((right - left) * i) / (axes.length - 1));
    const ypos = (s, v) => { if (v === null) return missY; const p = s.pos(v); return p === null || p < 0 ? null : bottom - p * (bottom - top); };
    const mScale = metric ? scales[scales.length - 1] : null;
    const lines = runs.map((r) => {
      const vals = axes.map((f) => fieldValue(r, f));
      const pts = vals.map((v, i) => ypos(scales[i], v));
      const mp = mScale && mScale.kind === "num" ? mScale.pos(fieldValue(r, metric)) : null;
      return { run: r, pts, gap: vals.map((v) => v === null), color: mp === null ? "#9aa0b0" : gradient(mp) };
    });
    function draw(hi) {
      ctx.clearRect(0, 0, width, height);
      ctx.lineWidth = 1.4;
      for (const ln of lines) {
        ctx.strokeStyle = ln.color; ctx.globalAlpha = hi && hi !== ln ? 0.15 : 0.85;
        for (let i = 0; i < ln.pts.length - 1; i++) {
          const a = ln.pts[i], b = ln.pts[i + 1];
          if (a === null || b === null) continue;
          ctx.setLineDash(ln.gap[i] || ln.gap[i + 1] ? [4, 3] : []);
          ctx.beginPath(); ctx.moveTo(xs[i], a); ctx.lineTo(xs[i + 1], b); ctx.stroke();
        }
        ln.gap.forEach((g, i) => { if (g) { ctx.fillStyle = ln.color; ctx.beginPath(); ctx.arc(xs[i], missY, 2.5, 0, Math.PI * 2); ctx.fill(); } });
      }
      ctx.setLineDash([]);
      ctx.globalAlpha = 1;
      axes.forEach((f, i) => {
        ctx.strokeStyle = "#8a90a2"; ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(xs[i], top); ctx.lineTo(xs[i], bottom); ctx.stroke();
        ctx.fillStyle = "#2c3142"; ctx.textAlign = i === 0 ? "left" : i === axes.length - 1 ? "right" : "center";
        /* with three or more axes, titles alternate between two rows so neighbours never overlap */
        const name = f.replace(/^(config|summary)\./, "") + (scales[i].log ? " (log)" : "");
        ctx.fillText(clip(ctx, name, (right - left) / Math.max(1, axes.length - 1) - 6), xs[i], axes.length > 2 && i % 2 ? 26 : 12);
        ctx.fillStyle = "#6b7180";
        const s = scales[i];
        if (s.kind === "num") { ctx.fillText(s.ticks[1], xs[i], top - 6); ctx.fillText(s.ticks[0], xs[i], bottom + 14); }
        else s.cats.slice(0, 12).forEach((c) => ctx.fillText(clip(ctx, c, 80), xs[i], ypos(s, c) + 4));
        if (missing[f]) {
          ctx.strokeStyle = "#8a90a2"; ctx.beginPath(); ctx.moveTo(xs[i] - 4, missY); ctx.lineTo(xs[i] + 4, missY); ctx.stroke();
          ctx.fillStyle = "#b4512a"; ctx.fillText(`missing (${missing[f]})`, xs[i], missY + 14);
        }
      });
    }
    draw(null);
    canvas.addEventListener("mousemove", (e) => {
      const mx = e.offsetX, my = e.offsetY;
      let seg = xs.findIndex((x, i) => i < xs.length - 1 && mx >= x && mx <= xs[i + 1]);
      if (seg < 0) { draw(null); showTip(tip, 0, 0, null); return; }
      const t = (mx - xs[seg]) / (xs[seg + 1] - xs[seg]);
      let best = null, dist = 10;
      for (const ln of lines) {
        const a = ln.pts[seg], b = ln.pts[seg + 1];
        if (a === null || b === null) continue;
        const d = Math.abs(a + (b - a) * t - my);
        if (d < dist) { dist = d; best = ln; }
      }
      draw(best);
      showTip(tip, mx, my, best ? `${best.run.name}${metric ? ` · ${metric.replace(/^summary\./, "")} = ${fmtNum(fieldValue(best.run, metric))}` : ""}` : null);
    });
    canvas.addEventListener("mouseleave", () => { draw(null); showTip(tip, 0, 0, null); });
    const lacking = runs.filter((r) => axes.some((f) => fieldValue(r, f) === null)).length;
    Object.assign(el.dataset, { painted: "true", axes: axes.join(","), drawn: String(lines.length), missing: String(lacking) });
    return { runs: lacking, fields: missing };
  }

  function scatter(el, runs, xField, yField, colors) {
    if (!xField || !yField) { clear(el).appendChild(h("p", { class: "muted", text: "Pick two fields." })); return { runs: 0, fields: {} }; }
    const { canvas, ctx, width, height, tip } = setupCanvas(el, 300);
    const pad = { l: 56, r: 14, t: 12, b: 36 };
    const sx = makeScale(runs, xField), sy = makeScale(runs, yField);
    const px = (v) => { const p = sx.pos(v); return p === null || p < 0 ? null : pad.l + 8 + p * (width - pad.l - pad.r - 16); };
    const py = (v) => { const p = sy.pos(v); return p === null || p < 0 ? null : height - pad.b - 8 - p * (height - pad.t - pad.b - 16); };
    const pts = runs.map((r) => ({ run: r, x: px(fieldValue(r, xField)), y: py(fieldValue(r, yField)) })).filter((p) => p.x !== null && p.y !== null);
    function draw(hi) {
      ctx.clearRect(0, 0, width, height);
      ctx.strokeStyle = "#cfd3dc"; ctx.lineWidth = 1;
      ctx.strokeRect(pad.l, pad.t, width - pad.l - pad.r, height - pad.t - pad.b);
      ctx.fillStyle = "#6b7180"; ctx.textAlign = "left";
      ctx.fillText(sx.ticks[0], pad.l, height - pad.b + 14);
      ctx.textAlign = "right"; ctx.fillText(sx.ticks[sx.ticks.length - 1], width - pad.r, height - pad.b + 14);
      ctx.fillText(sy.ticks[sy.ticks.length - 1], pad.l - 4, pad.t + 10);
      ctx.fillText(sy.ticks[0], pad.l - 4, height - pad.b);
      ctx.textAlign = "center"; ctx.fillStyle = "#2c3142";
      ctx.fillText(xField + (sx.log ? " (log)" : ""), pad.l + (width - pad.l - pad.r) / 2, height - 6);
      ctx.save(); ctx.translate(12, pad.t + (height - pad.t - pad.b) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(yField + (sy.log ? " (log)" : ""), 0, 0); ctx.restore();
      for (const p of pts) {
        ctx.fillStyle = colors[p.run.id] || "#3b5bdb";
        ctx.globalAlpha = hi && hi !== p ? 0.35 : 0.9;
        ctx.beginPath(); ctx.arc(p.x, p.y, hi === p ? 6 : 4.5, 0, Math.PI * 2); ctx.fill();
      }
      ctx.globalAlpha = 1;
    }
    draw(null);
    canvas.addEventListener("mousemove", (e) => {
      let best = null, dist = 144;
      for (const p of pts) { const d = (p.x - e.offsetX) ** 2 + (p.y - e.offsetY) ** 2; if (d < dist) { dist = d; best = p; } }
      draw(best);
      showTip(tip, e.offsetX, e.offsetY, best ? `${best.run.name}: ${fmtNum(fieldValue(best.run, xField))}, ${fmtNum(fieldValue(best.run, yField))}` : null);
    });
    canvas.addEventListener("mouseleave", () => { draw(null); showTip(tip, 0, 0, null); });
    Object.assign(el.dataset, { painted: "true", missing: String(runs.length - pts.length) });
    return { runs: runs.length - pts.length, fields: missingCounts(runs, [xField, yField]) };
  }

  /* "1 run has no dropout" / "2 runs lack a field (dropout: 1, wd: 2)", or "" when none. */
  function missingNote(info) {
    const fields = Object.entries(info.fields);
    if (!info.runs || !fields.length) return "";
    const name = (f) => f.replace(/^(config|summary)\./, "");
    const runs = `${info.runs} run${info.runs === 1 ? "" : "s"}`;
    if (fields.length === 1) return `${runs} ${info.runs === 1 ? "has" : "have"} no ${name(fields[0][0])}`;
    return `${runs} ${info.runs === 1 ? "lacks" : "lack"} a field (${fields.map(([f, n]) => `${name(f)}: ${n}`).join(", ")})`;
  }

  Object.assign(window.LT, { parallel, scatter, fieldValue, missingNote });
})();
