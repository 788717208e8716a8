// Line charts drawn as SVG by our own code. A long history (100,000 steps) is reduced to
// the minimum and maximum of each pixel column before drawing, so the path stays small;
// short histories also get one marker per point, which is how a reader (and the browser
// tests) can count the logged steps.

const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#2f6fd6", "#d9480f", "#2b8a3e", "#ae3ec9", "#e67700", "#0c8599", "#c2255c", "#5c940d"];
const MARKERS_UP_TO = 400;

export function color(i) { return COLORS[i % COLORS.length]; }

function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function ticks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

export function fmtNum(v) {
  if (v === null || v === undefined || v === "") return "";
  if (typeof v === "string") return v;
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return Number(v.toPrecision(5)).toString();
}

/// series: [{label, points: [{x, y}]}]; options: {log, xLabel, width, height, time}
export function lineChart(series, options = {}) {
  const width = options.width || 560, height = options.height || 240;
  const pad = { l: 56, r: 12, t: 10, b: 34 };
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  const log = !!options.log;
  let xs = [], ys = [];
  for (const s of series) for (const p of s.points) {
    if (!Number.isFinite(p.y) || (log && p.y <= 0)) continue;
    xs.push(p.x); ys.push(log ? Math.log10(p.y) : p.y);
  }
  if (!xs.length) {
    const t = el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "axis" }, svg);
    t.textContent = log ? "no positive values to draw on a log scale" : "no values";
    return svg;
  }
  // Loops, not Math.min(...xs): a 100,000-point history would overflow the argument list.
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] < x0) x0 = xs[i]; if (xs[i] > x1) x1 = xs[i];
    if (ys[i] < y0) y0 = ys[i]; if (ys[i] > y1) y1 = ys[i];
  }
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { const d = Math.abs(y0) * 0.05 || 1; y0 -= d; y1 += d; }
  const W = width - pad.l - pad.r, H = height - pad.t - pad.b;
  const sx = (x) => pad.l + ((x - x0) / (x1 - x0)) * W;
  const sy = (y) => pad.t + H - ((y - y0) / (y1 - y0)) * H;
  const grid = el("g", { class: "grid" }, svg);
  for (const v of ticks(y0, y1, 5)) {
    const y = sy(v);
    el("line", { x1: pad.l, x2: pad.l + W, y1: y, y2: y }, grid);
    const t = el("text", { x: pad.l - 6, y: y + 4, "text-anchor": "end", class: "axis" }, svg);
    t.textContent = log ? fmtNum(Math.pow(10, v)) : fmtNum(v);
  }
  for (const v of ticks(x0, x1, 6)) {
    const x = sx(v);
    el("line", { x1: x, x2: x, y1: pad.t, y2: pad.t + H }, grid);
    const t = el("text", { x, y: height - pad.b + 16, "text-anchor": "middle", class: "axis" }, svg);
    t.textContent = options.time ? fmtDuration(v) : fmtNum(v);
  }
  const xl = el("text", { x: pad.l + W / 2, y: height - 3, "text-anchor": "middle", class: "axis label" }, svg);
  xl.textContent = options.xLabel || "step";
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p.y) && (!log || p.y > 0));
    const g = el("g", { class: "series", "data-label": s.label, "data-points": pts.length }, svg);
    const c = s.color || color(i);
    el("path", { d: pathFor(pts, sx, sy, log, W), fill: "none", stroke: c, "stroke-width": 1.6 }, g);
    if (pts.length <= MARKERS_UP_TO) {
      for (const p of pts) {
        const m = el("circle", { cx: sx(p.x).toFixed(1), cy: sy(log ? Math.log10(p.y) : p.y).toFixed(1), r: 2.4, fill: c, class: "pt" }, g);
        const tt = el("title", {}, m);
        tt.textContent = `${s.label}\n${options.xLabel || "step"} ${options.time ? fmtDuration(p.x) : p.x}: ${fmtNum(p.y)}`;
      }
    }
  });
  return svg;
}

// Sorted by x; more points than pixel columns become one vertical stroke per column.
function pathFor(pts, sx, sy, log, W) {
  const ty = (y) => (log ? Math.log10(y) : y);
  if (pts.length <= W * 2) {
    return pts.map((p, i) => (i ? "L" : "M") + sx(p.x).toFixed(1) + " " + sy(ty(p.y)).toFixed(1)).join("");
  }
  let d = "", col = null, lo = 0, hi = 0, first = true;
  const flush = () => {
    if (col === null) return;
    d += (first ? "M" : "L") + col + " " + sy(hi).toFixed(1) + "L" + col + " " + sy(lo).toFixed(1);
    first = false;
  };
  for (const p of pts) {
    const c = Math.round(sx(p.x));
    const y = ty(p.y);
    if (c !== col) { flush(); col = c; lo = hi = y; } else { lo = Math.min(lo, y); hi = Math.max(hi, y); }
  }
  flush();
  return d;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "";
  const s = ms / 1000;
  if (s < 59.5) return (s < 9.95 ? s.toFixed(1) : Math.round(s)) + "s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m" + String(Math.round(s % 60)).padStart(2, "0") + "s";
  const h = Math.floor(m / 60);
  if (h < 48) return h + "h" + String(m % 60).padStart(2, "0") + "m";
  return Math.floor(h / 24) + "d" + String(h % 24).padStart(2, "0") + "h";
}

export function legend(series) {
  const div = document.createElement("div");
  div.className = "legend";
  series.forEach((s, i) => {
    const span = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = s.color || color(i);
    span.append(sw, document.createTextNode(s.label));
    div.appendChild(span);
  });
  return div;
}

// Axes for scatter and parallel-coordinates charts: numbers on a linear scale, anything else
// (a learner's name, "true") as evenly spaced categories in sorted order.
function axisOf(values) {
  const nums = values.filter((v) => v !== null && v !== undefined && v !== "" && Number.isFinite(Number(v)));
  const present = values.filter((v) => v !== null && v !== undefined && v !== "");
  if (present.length && nums.length === present.length) {
    let lo = Infinity, hi = -Infinity;
    for (const v of nums) { const n = Number(v); if (n < lo) lo = n; if (n > hi) hi = n; }
    if (lo === hi) { const d = Math.abs(lo) * 0.05 || 1; lo -= d; hi += d; }
    return { kind: "num", lo, hi, pos: (v) => (v === null || v === undefined || v === "" ? null : (Number(v) - lo) / (hi - lo)), ticks: ticks(lo, hi, 4).map((t) => ({ at: (t - lo) / (hi - lo), text: fmtNum(t) })) };
  }
  const cats = [...new Set(present.map(String))].sort();
  const pos = (v) => (v === null || v === undefined || v === "" ? null : cats.length === 1 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1));
  return { kind: "cat", cats, pos, ticks: cats.slice(0, 12).map((c) => ({ at: pos(c), text: c.length > 14 ? c.slice(0, 13) + "…" : c })) };
}

/// points: [{x, y, label, color}] with numbers or category strings; options: {xLabel, yLabel}.
export function scatterChart(points, options = {}) {
  const width = options.width || 560, height = options.height || 320;
  const pad = { l: 64, r: 14, t: 10, b: 38 };
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart scatter", role: "img" });
  const shown = points.filter((p) => p.x !== null && p.x !== undefined && p.x !== "" && p.y !== null && p.y !== undefined && p.y !== "");
  if (!shown.length) {
    const t = el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "axis" }, svg);
    t.textContent = "no run has both values";
    return svg;
  }
  const ax = axisOf(shown.map((p) => p.x)), ay = axisOf(shown.map((p) => p.y));
  const W = width - pad.l - pad.r, H = height - pad.t - pad.b;
  const sx = (v) => pad.l + 8 + ax.pos(v) * (W - 16), sy = (v) => pad.t + H - 8 - ay.pos(v) * (H - 16);
  const grid = el("g", { class: "grid" }, svg);
  for (const t of ay.ticks) {
    const y = pad.t + H - 8 - t.at * (H - 16);
    el("line", { x1: pad.l, x2: pad.l + W, y1: y, y2: y }, grid);
    el("text", { x: pad.l - 6, y: y + 4, "text-anchor": "end", class: "axis" }, svg).textContent = t.text;
  }
  for (const t of ax.ticks) {
    const x = pad.l + 8 + t.at * (W - 16);
    el("line", { x1: x, x2: x, y1: pad.t, y2: pad.t + H }, grid);
    el("text", { x, y: height - pad.b + 16, "text-anchor": "middle", class: "axis" }, svg).textContent = t.text;
  }
  el("text", { x: pad.l + W / 2, y: height - 3, "text-anchor": "middle", class: "axis label" }, svg).textContent = options.xLabel || "";
  const yl = el("text", { x: 12, y: pad.t + H / 2, "text-anchor": "middle", class: "axis label", transform: `rotate(-90 12 ${pad.t + H / 2})` }, svg);
  yl.textContent = options.yLabel || "";
  const g = el("g", { class: "series", "data-points": shown.length }, svg);
  shown.forEach((p, i) => {
    const c = el("circle", { cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: 4, fill: p.color || color(i), class: "pt", "fill-opacity": 0.85 }, g);
    el("title", {}, c).textContent = `${p.label}\n${options.xLabel || "x"}: ${typeof p.x === "number" ? fmtNum(p.x) : p.x}\n${options.yLabel || "y"}: ${typeof p.y === "number" ? fmtNum(p.y) : p.y}`;
  });
  return svg;
}

/// dims: [{name, values: [one per line]}]; lines: [{label, color}]. The last dimension is
/// usually the metric the lines are coloured by.
export function parallelChart(dims, lines, options = {}) {
  const width = options.width || Math.max(560, 130 * dims.length), height = options.height || 320;
  const pad = { l: 40, r: 40, t: 28, b: 30 };
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart parallel", role: "img" });
  if (dims.length < 2) {
    el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "axis" }, svg).textContent = "needs at least one parameter that differs";
    return svg;
  }
  const W = width - pad.l - pad.r, H = height - pad.t - pad.b;
  const axes = dims.map((d) => axisOf(d.values));
  const xAt = (j) => pad.l + (dims.length === 1 ? W / 2 : (j * W) / (dims.length - 1));
  const yAt = (a, v) => { const p = a.pos(v); return p === null ? null : pad.t + H - p * H; };
  const g = el("g", { class: "lines" }, svg);
  lines.forEach((line, i) => {
    let d = "", pen = false;
    dims.forEach((dim, j) => {
      const y = yAt(axes[j], dim.values[i]);
      if (y === null) { pen = false; return; }
      d += (pen ? "L" : "M") + xAt(j).toFixed(1) + " " + y.toFixed(1);
      pen = true;
    });
    const p = el("path", { d, fill: "none", stroke: line.color || color(i), "stroke-width": 1.8, "stroke-opacity": 0.85, class: "line", "data-label": line.label }, g);
    el("title", {}, p).textContent = line.label + "\n" + dims.map((dim) => `${dim.name}: ${dim.values[i] ?? "—"}`).join("\n");
  });
  dims.forEach((dim, j) => {
    const x = xAt(j);
    el("line", { x1: x, x2: x, y1: pad.t, y2: pad.t + H, class: "axis-line" }, svg);
    const name = el("text", { x, y: pad.t - 10, "text-anchor": "middle", class: "axis label" }, svg);
    name.textContent = dim.name.length > 18 ? dim.name.slice(0, 17) + "…" : dim.name;
    for (const t of axes[j].ticks) {
      el("text", { x: x + 4, y: pad.t + H - t.at * H + 3, class: "axis" }, svg).textContent = t.text;
    }
  });
  return svg;
}

/// A colour from blue (worst) to orange (best) for a metric value in [lo, hi].
export function rampColor(v, lo, hi, higherIsBetter) {
  if (!Number.isFinite(v) || !(hi > lo)) return "#868e96";
  let t = (v - lo) / (hi - lo);
  if (!higherIsBetter) t = 1 - t;
  const a = [47, 111, 214], b = [230, 119, 0];
  return "rgb(" + a.map((c, k) => Math.round(c + (b[k] - c) * t)).join(",") + ")";
}
