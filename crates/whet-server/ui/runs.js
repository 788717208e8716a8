// The runs table of one experiment: server-side search, filter and sort (MLflow's grammar,
// so the server is the one judge of a filter), pages fetched with page tokens as the reader
// scrolls, and only the visible rows in the DOM (virtual scrolling), so 100,000 runs cost
// what 40 do. Studies are grouped with their trials collapsed under them.

import * as api from "/ui/api.js";
import { fmtNum, fmtDuration } from "/ui/chart.js";
import { h, put, route, setParams, list, fmtTime, runDuration, source, statusBadge, errorBox } from "/ui/pages.js";

const ROW = 30;
// The first page fills the screen fast; later pages are larger so that scrolling far needs
// fewer round trips.
const FIRST_PAGE = 100;
const PAGE = 1000;
const OVERSCAN = 10;
const DEFAULT_ORDER = "attributes.start_time DESC";

const FIXED = [
  { id: "name", label: "Name", width: 240, order: "attributes.run_name" },
  { id: "status", label: "Status", width: 96, order: "attributes.status" },
  { id: "start", label: "Started", width: 158, order: "attributes.start_time" },
  { id: "duration", label: "Duration", width: 86, order: null },
  { id: "user", label: "User", width: 110, order: "attributes.user_id" },
  { id: "source", label: "Source", width: 140, order: "tags.`mlflow.source.name`" },
];

function quoteKey(key) {
  return /^[A-Za-z0-9_]+$/.test(key) ? key : "`" + key + "`";
}

/// "metrics.auc" → its order_by field and how to read it from a run.
function extraColumn(spec) {
  const dot = spec.indexOf(".");
  const kind = spec.slice(0, dot), key = spec.slice(dot + 1);
  return { id: spec, kind, key, label: key, width: 120, order: `${kind}.${quoteKey(key)}`, numeric: kind === "metrics" };
}

export async function runsPage(main, expId, live) {
  const r = route();
  const state = {
    filter: r.params.get("filter") || "",
    order: r.params.get("order") || DEFAULT_ORDER,
    cols: list(r.params, "cols"),
    sel: new Set(list(r.params, "sel")),
    flat: r.params.get("flat") === "1",
    expanded: new Set(list(r.params, "open")),
    cursor: Number(r.params.get("row") || 0),
  };
  const { experiment } = await api.get("experiments/get", { experiment_id: expId });

  let runs = [], byId = new Map(), children = new Map(), display = [], token = null, loading = null, generation = 0;
  // The request of a superseded view (a new sort or filter) is cancelled, so its answer does
  // not hold a connection the new view's first page needs.
  let inflight = null;
  const seenKeys = { metrics: new Set(), params: new Set(), tags: new Set() };
  let pickerKeys = -1;

  const search = h("input", { id: "filter", type: "search", value: state.filter, spellcheck: "false", autocomplete: "off",
    placeholder: "metrics.auc > 0.8 AND params.learner = 'gbdt'", "aria-label": "filter runs" });
  const errLine = h("div", { id: "filter-error", class: "filter-error", role: "alert", hidden: true });
  const count = h("span", { id: "count", class: "muted" });
  const compareBtn = h("a", { id: "compare", class: "button", href: "#" }, "Compare");
  const picker = h("details", { class: "picker" }, h("summary", {}, "Columns"), h("div", { class: "picker-body" }));
  const groupBox = h("label", {}, h("input", { type: "checkbox", id: "group", checked: !state.flat, onchange: (e) => { state.flat = !e.target.checked; setParams({ flat: state.flat ? "1" : null }); rebuild(); } }), " group trials under studies");
  const scroller = h("div", { class: "grid-scroll", id: "runs", tabindex: "0", role: "grid", "aria-label": "runs" });
  const header = h("div", { class: "grid-head", role: "row" });
  const body = h("div", { class: "grid-body" });
  scroller.append(header, body);

  put(main, 
    h("p", { class: "crumbs" }, h("a", { href: "#/experiments" }, "Experiments"), " / ", experiment.name),
    h("h1", {}, experiment.name),
    h("form", { class: "searchbar", onsubmit: (e) => { e.preventDefault(); applyFilter(); } },
      search, h("button", { type: "submit" }, "Search"), picker, groupBox, compareBtn, count),
    errLine, scroller,
    h("p", { class: "muted small keys" }, "Keys: ↑/↓ move · Space select · Enter open · →/← expand/collapse a study · / search"));

  const columns = () => [
    { id: "sel", label: "", width: 34, order: null },
    ...FIXED,
    ...state.cols.map(extraColumn),
  ];
  const template = () => columns().map((c) => c.width + "px").join(" ");
  const totalWidth = () => columns().reduce((a, c) => a + c.width, 0);

  function drawHeader() {
    const [field, dir] = splitOrder(state.order);
    header.style.gridTemplateColumns = template();
    header.style.width = totalWidth() + "px";
    header.replaceChildren(...columns().map((c) => {
      const active = c.order && c.order === field;
      const cell = h("div", { class: "cell" + (c.order ? " sortable" : "") + (active ? " sorted" : "") + (c.numeric || c.id === "duration" ? " num" : ""), role: "columnheader", "data-col": c.id,
        "aria-sort": active ? (dir === "DESC" ? "descending" : "ascending") : null,
        title: c.order ? "sort by " + c.order : null }, c.label, active ? (dir === "DESC" ? " ▼" : " ▲") : "");
      if (c.order) cell.addEventListener("click", () => {
        state.order = c.order + (active && dir === "DESC" ? " ASC" : " DESC");
        setParams({ order: state.order === DEFAULT_ORDER ? null : state.order });
        reload();
      });
      if (c.id === "sel") {
        const all = h("input", { type: "checkbox", "aria-label": "select none", title: "clear selection", checked: state.sel.size > 0, onchange: () => { state.sel.clear(); saveSel(); paint(); } });
        cell.append(all);
      }
      return cell;
    }));
  }

  function drawPicker() {
    // Redrawn only when a page brought keys not seen before.
    const n = seenKeys.metrics.size + seenKeys.params.size + seenKeys.tags.size;
    if (n === pickerKeys) return;
    pickerKeys = n;
    const bodyEl = picker.querySelector(".picker-body");
    const groups = [["metrics", "Metrics"], ["params", "Parameters"], ["tags", "Tags"]];
    bodyEl.replaceChildren(...groups.map(([kind, label]) => {
      const keys = [...seenKeys[kind]].filter((k) => kind !== "tags" || !k.startsWith("mlflow.")).sort();
      return h("fieldset", {}, h("legend", {}, label), keys.length ? keys.map((k) => {
        const spec = kind + "." + k;
        return h("label", {}, h("input", { type: "checkbox", "data-col": spec, checked: state.cols.includes(spec), onchange: (e) => {
          state.cols = e.target.checked ? [...state.cols, spec] : state.cols.filter((x) => x !== spec);
          setParams({ cols: state.cols });
          drawHeader(); paint();
        } }), " " + k);
      }) : h("span", { class: "muted" }, "none"));
    }));
  }

  function rebuild() {
    children = new Map();
    const top = [];
    for (const run of runs) {
      const parent = run._tags["mlflow.parentRunId"];
      if (!state.flat && parent && byId.has(parent)) {
        if (!children.has(parent)) children.set(parent, []);
        children.get(parent).push(run);
      } else top.push(run);
    }
    display = [];
    for (const run of top) {
      display.push({ run, depth: 0 });
      if (state.expanded.has(run.info.run_id)) for (const c of children.get(run.info.run_id) || []) display.push({ run: c, depth: 1 });
    }
    body.style.height = display.length * ROW + "px";
    body.style.width = totalWidth() + "px";
    count.textContent = `${runs.length}${token ? "+" : ""} runs` + (state.sel.size ? ` · ${state.sel.size} selected` : "");
    paint();
  }

  function cellText(c, run) {
    const i = run.info;
    switch (c.id) {
      case "start": return fmtTime(i.start_time);
      case "duration": return fmtDuration(runDuration(i));
      case "user": return i.user_id || "";
      case "source": return source(run._tags);
      default: {
        if (c.kind === "metrics") { const m = run._metrics[c.key]; return m ? fmtNum(Number(m.value)) : ""; }
        if (c.kind === "params") return run._params[c.key] ?? "";
        if (c.kind === "tags") return run._tags[c.key] ?? "";
        return "";
      }
    }
  }

  function paint() {
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - OVERSCAN);
    const visible = Math.ceil(scroller.clientHeight / ROW) + OVERSCAN * 2;
    const last = Math.min(display.length, first + visible);
    const cols = columns();
    const tpl = template();
    const rows = [];
    if (!display.length) {
      const why = loading ? "Loading…" : !errLine.hidden ? "" : state.filter ? "No runs match this filter." : "No runs in this experiment yet.";
      body.replaceChildren(h("div", { class: "empty muted" }, why));
    }
    for (let k = first; k < last; k++) {
      const { run, depth } = display[k];
      const id = run.info.run_id;
      const kids = children.get(id);
      const row = h("div", { class: "grid-row" + (k === state.cursor ? " cursor" : "") + (state.sel.has(id) ? " selected" : ""),
        role: "row", "data-run": id, "data-index": k, "aria-selected": state.sel.has(id) ? "true" : "false" });
      row.style.top = k * ROW + "px";
      row.style.gridTemplateColumns = tpl;
      for (const c of cols) {
        let cell;
        if (c.id === "sel") {
          cell = h("div", { class: "cell" }, h("input", { type: "checkbox", checked: state.sel.has(id), "aria-label": "select " + (run.info.run_name || id),
            onchange: () => toggleSel(id) }));
        } else if (c.id === "name") {
          const toggle = kids && !state.flat
            ? h("button", { class: "twisty", "aria-label": state.expanded.has(id) ? "collapse" : "expand", onclick: (e) => { e.stopPropagation(); toggleOpen(id); } }, state.expanded.has(id) ? "▾" : "▸")
            : h("span", { class: "twisty" });
          cell = h("div", { class: "cell name", style: `padding-left:${4 + depth * 18}px` }, toggle,
            h("a", { href: `#/runs/${id}`, tabindex: "-1" }, run.info.run_name || id.slice(0, 8)),
            kids && !state.flat ? h("span", { class: "muted small" }, ` (${kids.length})`) : null,
            run._tags["whet.kind"] === "study" ? h("a", { href: `#/studies/${id}`, class: "small study-link", tabindex: "-1", title: "leaderboard, best score over time, final model" }, " study ›") : null);
        } else if (c.id === "status") {
          cell = h("div", { class: "cell" }, statusBadge(run.info.status));
        } else {
          const text = cellText(c, run);
          cell = h("div", { class: "cell" + (c.numeric || c.id === "duration" ? " num" : ""), title: text }, text);
        }
        row.append(cell);
      }
      row.addEventListener("click", (e) => { if (e.target.tagName !== "INPUT" && e.target.tagName !== "A") { state.cursor = k; paint(); } });
      rows.push(row);
    }
    body.replaceChildren(...rows);
    const n = state.sel.size;
    compareBtn.href = `#/compare?runs=${[...state.sel].join(",")}`;
    compareBtn.classList.toggle("disabled", n < 2 || n > 20);
    compareBtn.textContent = n ? `Compare ${n}` : "Compare";
    moreIfNear(last);
  }

  // The next page once the reader is within a fifth of a page of the end of what is loaded.
  function moreIfNear(last) {
    if (!loading && token && last + PAGE / 5 > display.length) loadPage();
  }

  function toggleSel(id) {
    if (state.sel.has(id)) state.sel.delete(id); else state.sel.add(id);
    saveSel(); rebuild();
  }
  function saveSel() { setParams({ sel: [...state.sel] }); }
  function toggleOpen(id, open) {
    const now = open === undefined ? !state.expanded.has(id) : open;
    if (now) state.expanded.add(id); else state.expanded.delete(id);
    setParams({ open: [...state.expanded] });
    rebuild();
  }

  function ingest(list) {
    for (const run of list) {
      const d = api.runData(run);
      run._metrics = d.metrics; run._params = d.params; run._tags = d.tags;
      for (const k of Object.keys(d.metrics)) seenKeys.metrics.add(k);
      for (const k of Object.keys(d.params)) seenKeys.params.add(k);
      for (const k of Object.keys(d.tags)) seenKeys.tags.add(k);
      const old = byId.get(run.info.run_id);
      if (old) { Object.assign(old, run); continue; }
      byId.set(run.info.run_id, run);
      runs.push(run);
    }
  }

  async function loadPage() {
    const gen = generation;
    const first = !token;
    const req = { experiment_ids: [expId], max_results: first ? FIRST_PAGE : PAGE, order_by: [state.order], filter: state.filter };
    if (token) req.page_token = token;
    inflight = new AbortController();
    // Marks for bench/ui_100k.py (and anyone's performance panel): when a view's first page
    // was asked for, arrived and was drawn.
    if (first) performance.mark("whet:runs:request");
    loading = api.post("runs/search", req, inflight.signal);
    scroller.setAttribute("aria-busy", "true");
    try {
      const res = await loading;
      if (gen !== generation) return;
      if (first) performance.mark("whet:runs:response");
      token = res.next_page_token || null;
      ingest(res.runs || []);
      errLine.hidden = true;
      search.classList.remove("bad");
      rebuild();
      if (first) performance.mark("whet:runs:drawn");
      drawPicker();
    } catch (err) {
      if (gen !== generation) return;
      if (err.code === "INVALID_PARAMETER_VALUE") showFilterError(err);
      else main.prepend(errorBox(err));
    } finally {
      if (gen === generation) {
        loading = null; inflight = null;
        scroller.setAttribute("aria-busy", "false");
        // A page that arrived while the reader sat at the end asks for the next one at once
        // (the scroll that asked for it happened while this page was on its way). Not before
        // the first scroll: a sort or filter right after the first rows would wait behind it.
        if (token && errLine.hidden && scroller.scrollTop > 0) requestAnimationFrame(() => { if (gen === generation) paint(); });
      }
    }
  }

  function showFilterError(err) {
    search.classList.add("bad");
    const first = err.message.split("\n")[0];
    errLine.hidden = false;
    if (err.position !== null && state.filter) {
      const p = Math.min(err.position, state.filter.length);
      const bad = state.filter.slice(p, p + Math.max(1, (state.filter.slice(p).match(/^\S+/) || [" "])[0].length));
      errLine.replaceChildren(h("div", {}, first),
        h("code", { class: "where" }, state.filter.slice(0, p), h("mark", { "data-position": p }, bad || " "), state.filter.slice(p + bad.length)),
        h("div", { class: "muted small" }, (err.message.match(/hint: (.*)/) || ["", ""])[1]));
      search.focus();
      search.setSelectionRange(p, p + bad.length);
    } else {
      errLine.replaceChildren(h("div", {}, err.message));
    }
    runs = []; byId = new Map(); token = null; rebuild();
  }

  function reload() {
    generation++;
    if (inflight) inflight.abort();
    runs = []; byId = new Map(); token = null; loading = null; inflight = null;
    scroller.scrollTop = 0;
    drawHeader();
    return loadPage();
  }

  function applyFilter() {
    state.filter = search.value.trim();
    setParams({ filter: state.filter });
    reload();
  }

  scroller.addEventListener("scroll", () => requestAnimationFrame(paint), { passive: true });
  scroller.addEventListener("keydown", (e) => {
    if (e.target !== scroller) return;
    const page = Math.max(1, Math.floor(scroller.clientHeight / ROW) - 1);
    const cur = display[state.cursor];
    let moved = true;
    switch (e.key) {
      case "ArrowDown": state.cursor = Math.min(display.length - 1, state.cursor + 1); break;
      case "ArrowUp": state.cursor = Math.max(0, state.cursor - 1); break;
      case "PageDown": state.cursor = Math.min(display.length - 1, state.cursor + page); break;
      case "PageUp": state.cursor = Math.max(0, state.cursor - page); break;
      case "Home": state.cursor = 0; break;
      case "End": state.cursor = display.length - 1; break;
      case " ": if (cur) toggleSel(cur.run.info.run_id); break;
      case "Enter": if (cur) location.hash = `#/runs/${cur.run.info.run_id}`; break;
      case "ArrowRight": if (cur && children.has(cur.run.info.run_id)) toggleOpen(cur.run.info.run_id, true); break;
      case "ArrowLeft":
        if (cur && cur.depth) { state.cursor = display.findIndex((d) => d.run.info.run_id === cur.run._tags["mlflow.parentRunId"]); }
        else if (cur) toggleOpen(cur.run.info.run_id, false);
        break;
      default: moved = false;
    }
    if (!moved) return;
    e.preventDefault();
    const top = state.cursor * ROW, headerH = header.offsetHeight;
    if (top < scroller.scrollTop) scroller.scrollTop = top;
    else if (top + ROW > scroller.scrollTop + scroller.clientHeight - headerH) scroller.scrollTop = top + ROW - scroller.clientHeight + headerH;
    setParams({ row: state.cursor || null });
    paint();
  });
  const slash = (e) => {
    if (e.key === "/" && document.activeElement !== search && !e.target.matches("input, textarea, select")) { e.preventDefault(); search.focus(); }
  };
  document.addEventListener("keydown", slash);

  drawHeader();
  await loadPage();

  // Live: the runs still running among those on screen, re-read every 2 s.
  live(async () => {
    if (!document.body.contains(scroller)) { document.removeEventListener("keydown", slash); return false; }
    const running = display.map((d) => d.run).filter((x) => x.info.status === "RUNNING").slice(0, 50);
    if (!running.length) return "idle";
    const fresh = await Promise.all(running.map((x) => api.get("runs/get", { run_id: x.info.run_id }).then((y) => y.run).catch(() => null)));
    ingest(fresh.filter(Boolean));
    rebuild();
    return true;
  }, false);
}

function splitOrder(order) {
  const m = /^(.*?)(?:\s+(ASC|DESC))?$/i.exec(order.trim());
  return [m[1], (m[2] || "ASC").toUpperCase()];
}
