/* Shared helpers: the session (token, purpose, deployment in sessionStorage), API calls, provenance. */
"use strict";
const CL = (() => {
  const KEY = "crimelens.session";
  const session = () => { try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch (e) { return null; } };
  const save = (s) => sessionStorage.setItem(KEY, JSON.stringify(s));
  const clear = () => sessionStorage.removeItem(KEY);
  const el = (id) => document.getElementById(id);
  const esc = (v) => String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  function showError(msg) { const e = el("error"); if (e) { e.hidden = false; e.textContent = msg; } }
  function clearError() { const e = el("error"); if (e) { e.hidden = true; e.textContent = ""; } }
  /* The purpose as a header value: fetch refuses characters outside Latin-1 and the server reads UTF-8,
     so a purpose that is not plain ASCII goes as RFC 8187 (UTF-8''percent-encoded), which it decodes. */
  const purposeHeader = (p) => (/^[\x20-\x7e]*$/.test(p || "") ? (p || "") : "UTF-8''" + encodeURIComponent(p));
  async function api(path, opts = {}) {
    const s = session();
    if (!s) { location.href = "/login"; throw new Error("not signed in"); }
    const headers = {"Authorization": "Bearer " + s.token, "X-Purpose": purposeHeader(s.purpose)};
    if (s.deployment) headers["X-Deployment"] = s.deployment;
    return send(path, opts, headers);
  }
  /* A call as a member of the public: no token; the server records "public:<name>". */
  function publicApi(path, opts = {}) { return send(path, opts, {"X-Purpose": "public participation"}); }
  async function send(path, opts, headers) {
    const init = {method: opts.method || "GET", headers};
    if (opts.body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(opts.body); }
    const r = await fetch(path, init);
    const data = await r.json();
    if (!r.ok) {
      if (r.status === 401 && document.body.dataset.page !== "/login") { clear(); location.href = "/login"; }
      const err = new Error(data.error || ("HTTP " + r.status)); err.status = r.status; err.type = data.type; throw err;
    }
    return data;
  }
  /* A long job whose answer streams as NDJSON: onLine gets each progress line; resolves with the
     result line's "result", rejects with the error line's message. */
  async function stream(path, body, onLine) {
    const s = session();
    if (!s) { location.href = "/login"; throw new Error("not signed in"); }
    const headers = {"Authorization": "Bearer " + s.token, "X-Purpose": purposeHeader(s.purpose), "Content-Type": "application/json",
                     "Accept": "application/x-ndjson"};
    if (s.deployment) headers["X-Deployment"] = s.deployment;
    const r = await fetch(path, {method: "POST", headers, body: JSON.stringify(body)});
    if (!r.ok) { const data = await r.json(); const err = new Error(data.error || ("HTTP " + r.status)); err.status = r.status; throw err; }
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "", last = null;
    for (;;) {
      const {value, done} = await reader.read();
      if (value) buf += dec.decode(value, {stream: true});
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim(); buf = buf.slice(nl + 1);
        if (!line) continue;
        last = JSON.parse(line);
        if (last.done !== undefined) onLine(last);
      }
      if (done) break;
    }
    if (!last || last.ok === false) { const err = new Error((last && last.error) || "the stream ended early"); err.status = last && last.status; throw err; }
    return last.result;
  }
  /* A file as the raw request body (evidence intake): streamed by the browser, never base64. */
  async function upload(path, file, opts = {}) {
    const s = session();
    if (!s) { location.href = "/login"; throw new Error("not signed in"); }
    const headers = {"Authorization": "Bearer " + s.token, "X-Purpose": purposeHeader(s.purpose), "Content-Type": opts.type || "application/octet-stream"};
    const r = await fetch(path, {method: opts.method || "POST", headers, body: file});
    const data = await r.json();
    if (!r.ok) { const err = new Error(data.error || ("HTTP " + r.status)); err.status = r.status; err.type = data.type; throw err; }
    return data;
  }
  /* A file from the API saved under its name (the token cannot ride on a plain link), with what the server
     said of it: its SHA-256 and, for a stored output, whether that matches the output's ledger entry. */
  async function downloadChecked(path, name) {
    const s = session();
    const r = await fetch(path, {headers: {"Authorization": "Bearer " + s.token, "X-Purpose": purposeHeader(s.purpose)}});
    if (!r.ok) { const data = await r.json(); throw new Error(data.error || ("HTTP " + r.status)); }
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement("a"); a.href = url; a.download = name; document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    return {sha256: r.headers.get("X-Content-SHA256") || "", matches: r.headers.get("X-Output-Hash-Matches")};
  }
  async function download(path, name) { return (await downloadChecked(path, name)).sha256; }
  function provenance({model, data, mark}) {
    if (model !== undefined) el("prov-model").textContent = model || "—";
    if (data !== undefined) el("prov-data").textContent = data || "—";
    if (mark !== undefined) el("prov-mark").textContent = mark || "";
  }
  async function snapshot(dataset) {
    const d = await api("/api/datasets" + (dataset ? "?dataset=" + encodeURIComponent(dataset) : ""));
    return d.datasets;
  }
  function snapText(ds) {
    if (!ds) return "—";
    // the earliest and latest incident in the zone the files were read in (a Vancouver year ends on 31 December)
    const first = String(ds.first_local || ds.occurred_from).slice(0, 10), last = String(ds.last_local || ds.occurred_to).slice(0, 10);
    return `${ds.dataset}: ${ds.n_incidents} incidents ${first} – ${last} (${ds.timezone || "UTC"}), snapshot sha256 ${String(ds.snapshot_sha256 || "").slice(0, 16)}…`;
  }
  function baseMap(id) {
    const map = L.map(id, {zoomControl: true, attributionControl: false, preferCanvas: false});
    return map;
  }
  async function basemap(map, dataset) {
    const geo = await api("/api/areas?dataset=" + encodeURIComponent(dataset));
    const areas = {type: "FeatureCollection", features: geo.features.filter((f) => f.properties.kind === "area")};
    const outline = {type: "FeatureCollection", features: geo.features.filter((f) => f.properties.kind === "outline")};
    const layer = L.geoJSON(areas, {style: {color: "#94a3b8", weight: 1, fillColor: "#f8fafc", fillOpacity: 1}}).addTo(map);
    L.geoJSON(outline, {style: {color: "#334155", weight: 2, fill: false}, interactive: false}).addTo(map);
    for (const f of areas.features) {
      L.marker([f.properties.label_lat, f.properties.label_lon], {
        interactive: false, keyboard: false,
        icon: L.divIcon({className: "area-label", html: esc(f.properties.name), iconSize: [90, 14], iconAnchor: [45, 7]})
      }).addTo(map);
    }
    if (areas.features.length) map.fitBounds(layer.getBounds());
    return areas.features.length ? layer : null;  // null: no area polygons; the page fits the map to its own data
  }
  /* /api/me, fetched once per page: who is signed in, their role and (`may`) the governance actions
     that role may perform; null when it could not be read. */
  let mePromise = null;
  function me() {
    if (!mePromise) mePromise = api("/api/me").catch((e) => { showError(e.message); return null; });
    return mePromise;
  }
  function whoami() {
    const s = session();
    if (!s) { location.href = "/login"; return null; }
    el("prov-purpose").textContent = s.purpose + (s.deployment ? ` (deployment ${s.deployment})` : " (research use: no deployment)");
    me().then((m) => { if (m) el("who").textContent = `${m.user} · ${m.role}`; });
    const so = el("signout"); if (so) so.addEventListener("click", () => { clear(); location.href = "/login"; });
    return s;
  }
  // a UTC time as "YYYY-MM-DD HH:MM" in a dataset's own zone (the zone its files were read in)
  const localTime = (iso, tz) => {
    try {
      return new Intl.DateTimeFormat("sv-SE", {timeZone: tz || "UTC", year: "numeric", month: "2-digit", day: "2-digit",
                                               hour: "2-digit", minute: "2-digit", hourCycle: "h23"}).format(new Date(iso));
    } catch (e) { return String(iso).slice(0, 16).replace("T", " "); }
  };
  /* A server time (UTC) with its zone: "2026-11-29 12:04 UTC"; a time sent without an offset is UTC too. */
  const utcTime = (v) => {
    if (v === null || v === undefined || v === "") return "—";
    const t = String(v);
    return localTime(/T\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(t) ? t + "Z" : t, "UTC") + " UTC";
  };
  /* "1 day", "14 days", "1 vote", "2 votes" */
  const plural = (n, word) => `${n} ${word}${Number(n) === 1 ? "" : "s"}`;
  const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v)) ? "—" : Number(v).toFixed(d);
  // a forecast window's length as the server's format_span writes it: "8 hours", "1 day", "7 days"
  const span = (days) => { const d = Number(days); return d < 1 ? `${Number((d * 24).toFixed(2))} hours` : `${Number(d.toFixed(2))} day${d === 1 ? "" : "s"}`; };
  // "half_life_days=365, time_of_day=0" -> {half_life_days: 365, time_of_day: 0}; a value is JSON where it
  // parses, else text; with byModel, "weighted.half_life_days=365" -> {weighted: {half_life_days: 365}}
  function parseParams(text, byModel = false) {
    const out = {};
    for (const part of String(text).split(/,\s*(?=[A-Za-z_][A-Za-z0-9_.]*\s*=)/)) {
      if (!part.trim()) continue;
      const at = part.indexOf("="), key = part.slice(0, Math.max(0, at)).trim(), raw = part.slice(at + 1).trim();
      const example = byModel ? "MODEL.NAME=VALUE, e.g. weighted.half_life_days=365" : "NAME=VALUE, e.g. half_life_days=365";
      const dot = key.indexOf(".");
      if (at < 1 || !raw || (byModel && (dot < 1 || dot === key.length - 1))) throw new Error(`Parameters: got "${part.trim()}"; expected ${example}`);
      let value; try { value = JSON.parse(raw); } catch { value = raw; }
      if (byModel) { const m = key.slice(0, dot); (out[m] = out[m] || {})[key.slice(dot + 1)] = value; } else out[key] = value;
    }
    return out;
  }
  /* The comment period and quorum a deployment's next step requires (`floors.required`: the policy's,
     never below the floors unless the demonstration setting is on now), said beside the policy's own
     numbers where they differ; with an older server, the policy's numbers and the ledger's note. */
  function floorLines(d) {
    const p = d.policy || {}, f = d.floors || {}, req = f.required, floorDays = f.floor_days || 14;
    const note = f.demo_lowered && f.note ? ". " + esc(f.note) : "";
    if (!req) {
      return {comment: f.note ? esc(f.note) : `at least ${esc(plural(p.min_comment_days, "day"))}`,
              quorum: esc(plural(p.board_quorum, "vote")), days: p.min_comment_days};
    }
    const days = req.min_comment_days, q = req.board_quorum, n = req.board_members;
    let comment, quorum;
    if (req.demo) {
      comment = `${esc(plural(days, "day"))}: lowered by the demonstration setting (CRIMELENS_GOVERNANCE_DEMO); the rules require at least ${esc(plural(floorDays, "day"))}`;
      quorum = `${esc(plural(q, "vote"))}: lowered by the demonstration setting (CRIMELENS_GOVERNANCE_DEMO); the rules require a majority of the ${esc(n)} board members`;
    } else {
      comment = `at least ${esc(plural(days, "day"))}` + (Number(days) !== Number(p.min_comment_days)
        ? ` (the policy says ${esc(p.min_comment_days)}; never fewer than ${esc(floorDays)})` : "");
      quorum = `${esc(q)} of ${esc(plural(n, "board member"))}` + (Number(q) !== Number(p.board_quorum)
        ? ` (the policy says ${esc(p.board_quorum)}; never fewer than a majority of the board)` : "")
        + (Number(q) > Number(n) ? `: more than the board has, so no review can pass until members are added` : "");
    }
    return {comment: comment + note, quorum, days};
  }
  /* A deployment's public record as HTML: what it is, its policy, assessment, timeline, comments, votes. */
  function deploymentRecord(d) {
    const p = d.policy || {}, a = d.assessment, fl = floorLines(d);
    const list = (v) => (v || []).map(esc).join(", ") || "—";
    const ret = Object.entries(p.retention_days || {}).map(([k, v]) => `${esc(k)} ${esc(plural(v, "day"))}`).join(", ") || "—";
    const events = (d.events || []).map((e) => `<li>${esc(utcTime(e.event_at))}: ${esc(e.from_state || "—")} → <b>${esc(e.to_state)}</b> by ${esc(e.by_user)} (${esc(e.by_role)})${e.reason ? " — " + esc(e.reason) : ""} <span class="muted">ledger #${esc(e.ledger_seq)}</span></li>`).join("");
    const comments = (d.comments || []).map((c) => `<li class="comment ${esc(c.stage)}"><b>${esc(c.author)}</b> <span class="muted">(${esc(c.stage === "board" ? "board" : c.stage === "renewal" ? "public, on the renewal" : "public")}, ${esc(utcTime(c.posted_at))}, ledger #${esc(c.ledger_seq)})</span><br>${esc(c.body)}</li>`).join("") || "<li>No comments yet.</li>";
    const votes = (d.votes || []).map((v) => `<li>${esc(v.voter)}: <b>${esc(v.vote)}</b>${v.voted_at ? ` <span class="muted">(${esc(utcTime(v.voted_at))}${v.member_since ? `; on the board since ${esc(String(utcTime(v.member_since)).slice(0, 10))}` : ""})</span>` : ""}${v.reason ? " — " + esc(v.reason) : ""}</li>`).join("") || "<li>No votes in this round.</li>";
    const renewal = d.renewal_opened_at ? `<p class="${d.state === "active" ? "ok" : "warn"}" id="renewal-open">The renewal of this deployment is open for public comment since ${esc(utcTime(d.renewal_opened_at))}; the board may renew it after ${esc(plural(fl.days, "day"))}${d.state === "active" ? "" : ". Meanwhile it stays " + esc(d.state)}.</p>` : "";
    return `<h3>${esc(d.name)} <span class="state">${esc(d.state)}</span></h3>
      <p>${esc(d.description)}</p>${renewal}
      <dl class="policy"><dt>Model</dt><dd>${esc(d.model)} ${esc(d.model_version)}</dd>
      <dt>Allowed purposes</dt><dd>${list(p.allowed_purposes)}</dd><dt>Allowed roles</dt><dd>${list(p.allowed_roles)}</dd>
      <dt>Retention</dt><dd>${ret}</dd><dt>Public comment</dt><dd>${fl.comment}</dd>
      <dt>Board quorum</dt><dd>${fl.quorum}</dd><dt>Approval lasts</dt><dd>${esc(plural(p.approval_days, "day"))}${d.approved_until ? " (until " + esc(utcTime(d.approved_until)) + ")" : ""}</dd>
      <dt>Impact assessment</dt><dd>${a ? "level " + esc(a.level) + " (score " + esc(a.score) + ")" : "not yet made"}</dd></dl>
      <h4>Timeline (UTC)</h4><ul class="events">${events}</ul>
      <h4>Comments</h4><ul class="comments">${comments}</ul>
      <h4>Board votes (round ${esc(d.review_round)})</h4><ul class="votes">${votes}</ul>`;
  }
  return {session, save, clear, el, esc, api, purposeHeader, publicApi, upload, stream, download, downloadChecked, deploymentRecord, showError, me, utcTime, plural, clearError, provenance, snapshot, snapText, baseMap, basemap, whoami, localTime, fmt, span, parseParams};
})();
