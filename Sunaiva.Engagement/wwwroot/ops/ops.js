(() => {
  "use strict";
  // The token arrives in the fragment (never sent to a server, so never in a log), is kept for this tab only,
  // and the fragment is removed from the address bar.
  const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (m) { sessionStorage.setItem("sunaiva.ops.token", decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname + location.search); }
  const token = sessionStorage.getItem("sunaiva.ops.token");
  const params = new URLSearchParams(location.search);
  let win = ["1h", "24h", "30d"].includes(params.get("window")) ? params.get("window") : "1h";
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const int = (n) => Number(n || 0).toLocaleString("en-US");
  const usd = (n) => "$" + Number(n || 0).toFixed(6);
  const ms = (n) => n === null || n === undefined ? "–" : Number(n).toFixed(1);
  const pct = (n) => (Number(n || 0) * 100).toFixed(0) + "%";
  const colors = ["#58a6ff", "#3fb950", "#d29922", "#f85149", "#bc8cff", "#39c5cf", "#ff9bce", "#e3b341"];

  // The page's CSP allows no inline style attributes: widths and colours are set through the CSSOM instead.
  function applyStyles(root) {
    for (const el of root.querySelectorAll("[data-width]")) el.style.width = el.dataset.width;
    for (const el of root.querySelectorAll("[data-color]")) el.style.background = el.dataset.color;
  }

  function message(text) { const el = $("message"); el.hidden = !text; el.textContent = text || ""; }

  function card(key, label, value) { return `<div class="card"><div class="k">${esc(label)}</div><div class="v" data-testid="${key}">${esc(value)}</div></div>`; }

  function render(data) {
    const services = data.services || [];
    const ok = services.filter((s) => s.summary);
    const rows = ok.flatMap((s) => s.summary.rows.map((r) => ({ service: s.service, ...r })));
    const t = { calls: 0, errors: 0, timeouts: 0, throttled: 0, fallbacks: 0, circuitOpen: 0, costUsd: 0, hits: 0, misses: 0, saved: 0 };
    for (const s of ok) {
      const x = s.summary.totals;
      t.calls += x.calls; t.errors += x.errors; t.timeouts += x.timeouts; t.throttled += x.throttled; t.fallbacks += x.fallbacks; t.circuitOpen += x.circuitOpen; t.costUsd += Number(x.costUsd);
      t.hits += s.summary.cache.hits; t.misses += s.summary.cache.misses; t.saved += Number(s.summary.cache.savedUsd);
    }
    $("cards").innerHTML = [
      card("total-calls", "calls", int(t.calls)), card("total-errors", "errors", int(t.errors)), card("total-timeouts", "timeouts", int(t.timeouts)),
      card("total-fallbacks", "fallbacks", int(t.fallbacks)), card("total-circuit-open", "circuit open", int(t.circuitOpen)), card("total-throttled", "throttled", int(t.throttled)),
      card("total-cost", "cost", usd(t.costUsd)), card("cache-saved", "saved by cache", usd(t.saved)),
      card("cache-hit-rate", "cache hit rate", t.hits + t.misses > 0 ? `${(100 * t.hits / (t.hits + t.misses)).toFixed(1)} %` : "–"),
    ].join("");

    $("providers").tBodies[0].innerHTML = rows.map((r) => `<tr data-row="${esc(r.service)}|${esc(r.capability)}|${esc(r.provider)}">
      <td class="t">${esc(r.service)}</td><td class="t">${esc(r.capability)}</td><td class="t">${esc(r.provider)}</td>
      <td data-k="calls">${int(r.calls)}</td><td data-k="errors">${int(r.errors)}</td><td data-k="timeouts">${int(r.timeouts)}</td><td data-k="throttled">${int(r.throttled)}</td>
      <td data-k="fallbacks">${int(r.fallbacks)}</td><td data-k="circuitOpen">${int(r.circuitOpen)}</td>
      <td data-k="p50">${ms(r.p50Ms)}</td><td data-k="p95">${ms(r.p95Ms)}</td><td data-k="p99">${ms(r.p99Ms)}</td>
      <td data-k="units">${int(r.units)} <span class="muted">${esc(r.unit)}</span></td><td data-k="cost">${usd(r.costUsd)}</td></tr>`).join("")
      || `<tr><td class="t muted" colspan="14">no provider calls in this window</td></tr>`;

    const caps = {};
    for (const r of rows) {
      const c = caps[r.capability] ||= { calls: 0, failures: 0, fallbacks: 0, cost: 0 };
      c.calls += r.calls; c.failures += r.errors + r.timeouts + r.throttled + r.circuitOpen; c.fallbacks += r.fallbacks; c.cost += Number(r.costUsd);
    }
    $("capabilities").tBodies[0].innerHTML = Object.keys(caps).sort().map((k) => `<tr data-row="${esc(k)}"><td class="t">${esc(k)}</td><td></td><td></td>
      <td data-k="calls">${int(caps[k].calls)}</td><td data-k="failures">${int(caps[k].failures)}</td><td data-k="fallbacks">${int(caps[k].fallbacks)}</td><td data-k="cost">${usd(caps[k].cost)}</td></tr>`).join("");

    $("users").tBodies[0].innerHTML = ok.map((s) => { const x = s.summary.totals, c = s.summary.cache; return `<tr data-row="${esc(s.service)}">
      <td class="t">${esc(s.service)}</td><td></td><td></td><td data-k="activeUsers">${int(x.activeUsers)}</td><td data-k="cost">${usd(x.costUsd)}</td>
      <td data-k="costPerActiveUser">${usd(x.costPerActiveUser)}</td><td data-k="hits">${int(c.hits)}</td><td data-k="misses">${int(c.misses)}</td><td data-k="saved">${usd(c.savedUsd)}</td></tr>`; }).join("");
    if (data.overall) {
      const o = data.overall;
      $("users").tBodies[0].insertAdjacentHTML("afterbegin", `<tr data-row="all" class="total"><td class="t"><b>all services</b></td><td></td><td></td>
        <td data-k="activeUsers"><b>${int(o.activeUsers)}</b></td><td data-k="cost"><b>${usd(o.costUsd)}</b></td><td data-k="costPerActiveUser"><b>${usd(o.costPerActiveUser)}</b></td><td></td><td></td><td></td></tr>`);
    }

    $("circuits").tBodies[0].innerHTML = ok.flatMap((s) => s.summary.circuits.map((c) => `<tr data-row="${esc(s.service)}|${esc(c.capability)}|${esc(c.provider)}">
      <td class="t">${esc(s.service)}</td><td class="t">${esc(c.capability)}</td><td class="t">${esc(c.provider)}</td>
      <td data-k="circuit" class="state-${esc(c.circuit)}">${esc(c.circuit)}</td><td data-k="errorRate">${pct(c.errorRate)}</td>
      <td>${esc(c.lastError || "")}</td><td>${c.chaosActive ? "on" : ""}</td></tr>`)).join("")
      || `<tr><td class="t muted" colspan="7">no adapters used yet</td></tr>`;

    $("quotas").tBodies[0].innerHTML = ok.flatMap((s) => s.summary.quotas.map((q) => { const share = q.limit ? Math.min(1, Number(q.used) / q.limit) : 0; return `<tr>
      <td class="t">${esc(s.service)}</td><td class="t">${esc(q.provider)}</td><td class="t">${esc(q.name)}${q.perUser ? " (per user, busiest)" : ""}</td>
      <td>${int(q.used)}<span class="bar${share > 0.8 ? " hot" : ""}"><i data-width="${(share * 100).toFixed(1)}%"></i></span></td><td>${int(q.limit)} ${esc(q.unit)}</td><td>${esc(q.window)}</td>
      <td class="t"><span class="muted">${esc(q.source)} (${esc(q.date)})</span></td></tr>`; })).join("");
    applyStyles($("quotas"));

    $("services").tBodies[0].innerHTML = services.map((s) => `<tr data-row="${esc(s.service)}"><td class="t">${esc(s.service)}</td><td class="t">${s.reachable ? "yes" : "no"}</td><td></td>
      <td class="t">${s.reachable ? esc(s.status?.state ?? "") : esc(s.error ?? "")}</td></tr>`).join("");

    chart(ok);
    $("updated").textContent = "updated " + new Date(data.generatedAt).toISOString().replace("T", " ").slice(0, 19) + " UTC · refreshes every 15 s";
  }

  function chart(ok) {
    const svg = $("chart");
    const width = svg.clientWidth || 1000, height = 240, pad = { l: 48, r: 12, t: 12, b: 28 };
    const series = {};
    let minT = Infinity, maxT = -Infinity, maxV = 1;
    for (const s of ok) for (const b of s.summary.series) {
      if (b.p95Ms === null) continue;
      const t = Date.parse(b.bucket), key = b.provider;
      (series[key] ||= []).push([t, b.p95Ms]);
      minT = Math.min(minT, t); maxT = Math.max(maxT, t); maxV = Math.max(maxV, b.p95Ms);
    }
    const names = Object.keys(series).sort();
    if (!names.length) { svg.innerHTML = `<text x="20" y="40" fill="#8b98a5">no latency data in this window</text>`; $("legend").innerHTML = ""; return; }
    // The axis spans the whole window, so 30 days of sparse data is not drawn as if it were a few minutes.
    for (const s of ok) { const f = Date.parse(s.summary.from), t = Date.parse(s.summary.to); if (!isNaN(f)) minT = Math.min(minT, f); if (!isNaN(t)) maxT = Math.max(maxT, t); }
    if (minT === maxT) { minT -= 60000; maxT += 60000; }
    const x = (t) => pad.l + (t - minT) / (maxT - minT) * (width - pad.l - pad.r);
    const y = (v) => height - pad.b - v / maxV * (height - pad.t - pad.b);
    let out = "";
    for (let i = 0; i <= 4; i++) { const v = maxV * i / 4; out += `<line x1="${pad.l}" x2="${width - pad.r}" y1="${y(v)}" y2="${y(v)}" stroke="#2a3440"/><text x="${pad.l - 6}" y="${y(v) + 4}" fill="#8b98a5" font-size="11" text-anchor="end">${v.toFixed(0)}</text>`; }
    out += `<text x="${pad.l}" y="${height - 8}" fill="#8b98a5" font-size="11">${new Date(minT).toISOString().slice(5, 16).replace("T", " ")}</text>`;
    out += `<text x="${width - pad.r}" y="${height - 8}" fill="#8b98a5" font-size="11" text-anchor="end">${new Date(maxT).toISOString().slice(5, 16).replace("T", " ")} UTC</text>`;
    names.forEach((n, i) => {
      const pts = series[n].sort((a, b) => a[0] - b[0]);
      const color = colors[i % colors.length];
      out += `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}"/>`;
      out += pts.map(([t, v]) => `<circle cx="${x(t).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" fill="${color}"><title>${esc(n)} ${v.toFixed(1)} ms</title></circle>`).join("");
    });
    svg.innerHTML = out;
    $("legend").innerHTML = names.map((n, i) => `<span><i data-color="${colors[i % colors.length]}"></i>${esc(n)}</span>`).join("");
    applyStyles($("legend"));
  }

  // Email A/B tests (Engagement's own): running ones first, with each variant's sends and rate of the deciding metric.
  async function experiments() {
    try {
      const res = await fetch("/ops/email/experiments", { headers: { Authorization: "Bearer " + token }, cache: "no-store" });
      if (!res.ok) return;
      const list = await res.json();
      list.sort((a, b) => (a.status === "running" ? 0 : 1) - (b.status === "running" ? 0 : 1) || a.id.localeCompare(b.id));
      const rate = (e, v) => e.metric === "opens" ? v.openRate : e.metric === "conversions" ? v.conversionRate : v.clickRate;
      $("experiments").tBodies[0].innerHTML = list.map((e) => `<tr data-row="${esc(e.id)}">
        <td class="t">${esc(e.id)}</td><td class="t">${esc(e.template)}</td><td class="t">${esc(e.metric)}</td>
        <td data-k="status" class="t">${esc(e.status)}</td>
        <td class="t">${e.variants.map((v) => `${esc(v.name)}${v.sendHour === null || v.sendHour === undefined ? "" : " @" + esc(v.sendHour) + ":00"}: ${int(v.sent)} · ${pct(rate(e, v))}`).join("<br>")}</td>
        <td data-k="leader" class="t">${esc(e.leader ?? "–")}</td><td data-k="uplift">${pct(e.uplift)}</td><td data-k="confidence">${pct(e.confidence)}</td>
        <td data-k="winner" class="t">${esc(e.winner ?? "")}</td><td data-k="rolledOut">${int(e.rolledOut)}</td></tr>`).join("")
        || `<tr><td class="t muted" colspan="10">no experiments configured (Email:Experiments)</td></tr>`;
    } catch { /* the usage view stays useful without them */ }
  }

  async function load() {
    for (const b of document.querySelectorAll("#windows button")) b.classList.toggle("active", b.dataset.w === win);
    if (!token) { message("No ops token: open this page from the \"Ops: cost & latency\" link of a service in the Aspire dashboard, or add #token=<ops JWT> to the address."); $("updated").textContent = ""; return; }
    try {
      const res = await fetch(`/ops/dashboard/data?window=${encodeURIComponent(win)}`, { headers: { Authorization: "Bearer " + token }, cache: "no-store" });
      if (res.status === 401 || res.status === 403) { message("The ops token was refused (expired, or not an ops token). Open the page again from the Aspire dashboard."); $("updated").textContent = ""; return; }
      if (!res.ok) { message(`Could not load usage: HTTP ${res.status}`); $("updated").textContent = ""; return; }
      message("");
      render(await res.json());
      await experiments();
      document.body.dataset.loaded = win;
    } catch (e) { message("Could not load usage: " + e); $("updated").textContent = ""; }
  }

  $("windows").addEventListener("click", (e) => { const w = e.target?.dataset?.w; if (w) { win = w; history.replaceState(null, "", "?window=" + w); load(); } });
  load();
  setInterval(load, 15000);
})();
