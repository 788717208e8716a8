// Every request the UI makes goes through here: MLflow's REST API (ajax-api prefix, as
// MLflow's own UI uses) and the one whet UI endpoint. Errors become ApiError with MLflow's
// error code, and for filter errors the character position the server reports.

const MLFLOW = "/ajax-api/2.0/mlflow/";
/// Run counts and last activity per experiment (whet's UI endpoint, docs/ui.md).
export const ACTIVITY = "/api/2.0/whet/ui/experiments";
/// The store on one page: `whet status`'s report (docs/status.md).
export const STATUS = "/api/2.0/whet/status";
export const ALIAS_HISTORY = "/api/2.0/whet/registered-models/alias-history";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
    const m = /at position (\d+)/.exec(message || "");
    this.position = m ? Number(m[1]) : null;
  }
}

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  const token = localStorage.getItem("whet.token");
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

async function handle(resp) {
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : {}; } catch { body = null; }
  if (!resp.ok) {
    const code = body && body.error_code ? body.error_code : "HTTP_" + resp.status;
    const msg = body && body.message ? body.message : (text || resp.statusText);
    throw new ApiError(resp.status, code, msg);
  }
  if (body === null) throw new ApiError(resp.status, "BAD_RESPONSE", "the server sent something that is not JSON");
  return body;
}

export async function get(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x)); else q.append(k, v);
  }
  const url = (path.startsWith("/") ? path : MLFLOW + path) + (q.toString() ? "?" + q : "");
  return handle(await fetch(url, { headers: headers(false) }));
}

/// `signal` (an AbortSignal) cancels a request whose answer is no longer wanted.
export async function post(path, body, signal) {
  const url = path.startsWith("/") ? path : MLFLOW + path;
  return handle(await fetch(url, { method: "POST", headers: headers(true), body: JSON.stringify(body), signal }));
}

/// The whole history of one metric, following page tokens.
export async function metricHistory(runId, key) {
  let token = null;
  const out = [];
  do {
    const r = await get("metrics/get-history", { run_id: runId, metric_key: key, max_results: 25000, page_token: token });
    for (const m of r.metrics || []) out.push(m);
    token = r.next_page_token || null;
  } while (token);
  return out;
}

/// A long history evenly sampled by the server down to `n` points (first and last kept), as
/// MLflow's UI draws long histories: a 100,000-step history is ~7 MB of JSON in full.
export async function sampledHistory(runId, key, n) {
  const r = await get("metrics/get-history-bulk-interval", { run_ids: runId, metric_key: key, max_results: n });
  return r.metrics || [];
}

/// Where a run's artifact can be downloaded through the server's proxy, or null when the
/// run's artifacts live somewhere the server does not serve.
export function artifactUrl(artifactUri, path) {
  const rel = artifactPath(artifactUri, path);
  if (rel === null) return null;
  return "/api/2.0/mlflow-artifacts/artifacts/" + rel.split("/").map(encodeURIComponent).join("/");
}

/// The artifact's path under the server's artifact root (what the proxy and the preview
/// endpoint take), or null when the server does not serve it.
export function artifactPath(artifactUri, path) {
  const prefix = "mlflow-artifacts:/";
  if (!artifactUri || !artifactUri.startsWith(prefix)) return null;
  return artifactUri.slice(prefix.length).replace(/^\/+/, "") + "/" + path;
}

/// The first rows of a Parquet artifact as a table (whet's UI endpoint, docs/ui.md).
export const PREVIEW = "/api/2.0/whet/ui/preview";

/// MLflow's list-shaped data as maps: {metrics: {key: metric}, params: {k: v}, tags: {k: v}}.
export function runData(run) {
  const d = run.data || {};
  const metrics = {}, params = {}, tags = {};
  for (const m of d.metrics || []) metrics[m.key] = m;
  for (const p of d.params || []) params[p.key] = p.value;
  for (const t of d.tags || []) tags[t.key] = t.value;
  return { metrics, params, tags };
}
