// The router: the URL fragment names the page and holds its state (#/experiments/1?filter=…),
// so a reload or a shared link shows the same view. Pages that watch running runs register a
// poller; it runs every 2 s until the reader navigates away.

import { put, route, errorBox, experimentsPage, runPage, comparePage, modelsPage, modelPage, datasetPage, h } from "/ui/pages.js";
import { runsPage } from "/ui/runs.js";
import { statusPage } from "/ui/status.js";
import { studyPage } from "/ui/study.js";

const POLL_MS = 2000;
let poller = null;
let generation = 0;

// A poller returns true while it shows running runs, "idle" to keep watching without them,
// anything else to stop.
function live(fn, running = true) { poller = fn; document.getElementById("live").hidden = !running; }

async function render() {
  const gen = ++generation;
  poller = null;
  document.getElementById("live").hidden = true;
  const main = document.getElementById("main");
  const { parts } = route();
  const page = parts[0] || "experiments";
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === page || (["runs", "studies", "datasets"].includes(page) && a.dataset.nav === "experiments"));
  const guard = (fn) => (...args) => (gen === generation ? fn(...args) : undefined);
  const liveHere = guard(live);
  try {
    document.body.dataset.page = page;
    document.body.removeAttribute("data-ready");
    if (page === "experiments" && parts[1]) await runsPage(main, parts[1], liveHere);
    else if (page === "experiments") await experimentsPage(main);
    else if (page === "runs" && parts[1]) await runPage(main, parts[1], liveHere);
    else if (page === "studies" && parts[1]) await studyPage(main, parts[1], liveHere);
    else if (page === "datasets" && parts[2] !== undefined) await datasetPage(main, parts[1], parts[2]);
    else if (page === "compare") await comparePage(main);
    else if (page === "models" && parts[1]) await modelPage(main, parts[1]);
    else if (page === "models") await modelsPage(main);
    else if (page === "status") await statusPage(main, liveHere);
    else put(main, h("h1", {}, "Not found"), h("p", {}, "No page at ", h("code", {}, location.hash), ". ", h("a", { href: "#/experiments" }, "Experiments")));
    document.title = "whet · " + ((main.querySelector("h1") || {}).textContent || page);
  } catch (err) {
    if (gen !== generation) return;
    put(main, errorBox(err));
  }
  // Tests and people with screen readers both wait on this: the page has its data.
  if (gen === generation) document.body.dataset.ready = "1";
}

async function tick() {
  const f = poller;
  if (f && !document.hidden) {
    const gen = generation;
    poller = null;
    let keep = false;
    try { keep = await f(); } catch { keep = true; }
    if (gen === generation) {
      if ((keep === true || keep === "idle") && poller === null) poller = f;
      document.getElementById("live").hidden = !(poller !== null && keep !== "idle");
    }
  }
  setTimeout(tick, POLL_MS);
}

window.addEventListener("hashchange", render);
if (!location.hash) history.replaceState(null, "", "#/experiments");
render();
setTimeout(tick, POLL_MS);
