// The Discreet console: the scan view (pick images, scan them through the HTTP API, draw what was
// found over the pictures, follow the tasks queued from this tab) and what every view shares. Plain
// DOM code, no build step, nothing inline, so it runs under a strict Content-Security-Policy. An ES
// module: the other views (anonymize-view.js, video-view.js, tasks-view.js) and keyboard.js import
// the functions exported here.

const SVG_NS = "http://www.w3.org/2000/svg";
const KEY_STORAGE = "discreet.apiKey";
const TASKS_STORAGE = "discreet.tasks";
const FINISHED = new Set(["succeeded", "failed", "canceled"]);
export const POLL_MS = 1000;

export const $ = (selector) => document.querySelector(selector);

// What other modules add to the scan view: fields of each scan request, and sections shown first in
// each result card (moderation.js adds the decision asked for and shows it).
const requestFields = [];
const resultSections = [];

export function extendScans({ request, result }) {
  if (request) requestFields.push(request);
  if (result) resultSections.push(result);
}

const state = {
  files: new Map(), // data_id -> File, for drawing results (queued ones too) over their picture
  tasks: loadTasks(), // task_id -> {task_id, data_id, status, result?, error?}
  pollTimer: null,
};

// ---------- API ----------

export class ApiError extends Error {
  constructor(code, message, requestId, status) {
    super(message);
    this.code = code;
    this.requestId = requestId;
    this.status = status;
  }
}

export async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (err) {
    throw new ApiError("service_unreachable", `The service did not answer (${err.message}).`, null, 0);
  }
  if (response.ok) return response;
  let error = { code: "http_error", message: `HTTP ${response.status} ${response.statusText}` };
  try {
    const body = await response.json();
    if (body && body.error) error = body.error;
  } catch (_) {
    // not JSON: keep the HTTP status as the message
  }
  throw new ApiError(error.code, error.message, error.request_id || null, response.status);
}

// What this server offers (GET /v1/scenes, no key needed), fetched once for every view.
export const offer = api("/v1/scenes").then((response) => response.json());

// ---------- views ----------

// One view shows at a time; the nav button of the one shown carries aria-current. A view is a
// <section id="view-NAME" class="view"> in <main>, a <button data-view="NAME"> in nav.views, and its
// own module script in index.html; it hears "view-shown" (detail: NAME) on document when shown.
export function showView(name) {
  for (const view of document.querySelectorAll("main > .view")) view.hidden = view.id !== `view-${name}`;
  for (const tab of document.querySelectorAll("nav.views [data-view]")) {
    if (tab.dataset.view === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  document.dispatchEvent(new CustomEvent("view-shown", { detail: name }));
}

export function currentView() {
  return document.querySelector("main > .view:not([hidden])").id.replace(/^view-/, "");
}

// ---------- inputs ----------

// A drop zone is a <label> for a visually hidden file input: a click opens the picker, a drop hands
// over the dropped files; either way onFiles gets them.
// Files dropped on `zone` or chosen with `input` reach `onFiles` when any is of `kind` ("image",
// "video"); a file whose type the browser cannot name is passed on too, for the server to judge.
export function dropZone(zone, input, kind, onFiles) {
  const take = (fileList) => {
    const files = [...fileList].filter((file) => file.type.startsWith(`${kind}/`) || file.type === "");
    if (files.length) onFiles(files);
  };
  input.addEventListener("change", () => take(input.files));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    take(event.dataTransfer.files);
  });
}

// Hands a blob to the browser as a download named `name`, and returns the link for showing again.
export function saveBlob(link, blob, name) {
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  link.download = name;
  return link;
}

export function checked(name) {
  return [...document.querySelectorAll(`input[name="${name}"]:checked`)].map((input) => input.value);
}

// "request" is the form field that carries the JSON, so no file part may take that name
function uniqueId(name) {
  let id = name;
  for (let n = 2; state.files.has(id) || id === "request"; n += 1) id = `${name} (${n})`;
  return id;
}

function pickFiles(images) {
  state.files.clear();
  for (const file of images) state.files.set(uniqueId(file.name), file);
  $("#picked").textContent = `${images.length} image${images.length > 1 ? "s" : ""}: ${[...state.files.keys()].join(", ")}`;
  for (const id of ["#scan", "#queue"]) $(id).disabled = false;
  clearError();
}

// Multipart: the JSON request in the `request` field, each file as a part named by its data_id
// (the service's convention), so images go up as bytes rather than base64.
function scanForm() {
  const form = new FormData();
  const tasks = [...state.files.keys()].map((dataId) => ({ data_id: dataId }));
  const request = { scenes: checked("scene"), attributes: checked("attribute"), tasks };
  for (const fields of requestFields) Object.assign(request, fields());
  form.append("request", JSON.stringify(request));
  for (const [dataId, file] of state.files) form.append(dataId, file, file.name);
  return form;
}

// ---------- errors and busy state ----------

export function showError(err) {
  const box = $("#error-text");
  box.replaceChildren();
  const title = document.createElement("strong");
  title.textContent = err.code || "error";
  const message = document.createElement("span");
  message.textContent = ` ${err.message}`;
  box.append(title, message);
  if (err.requestId) {
    const id = document.createElement("small");
    id.textContent = ` (request ${err.requestId})`;
    box.append(id);
  }
  $("#error").hidden = false;
}

export function clearError() {
  $("#error").hidden = true;
}

// Runs an action with the busy line shown; on failure, `clear` empties what the action's view shows
// (results left from an earlier action would read as this one's) and the error is shown instead.
export async function busy(work, clear = clearResults) {
  clearError();
  $("#busy").hidden = false;
  try {
    await work();
  } catch (err) {
    clear();
    showError(err);
  } finally {
    $("#busy").hidden = true;
  }
}

// ---------- drawing results ----------

function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (parent) parent.append(node);
  return node;
}

// Each finding is one <g> and one list item sharing a data-ref, so either can point at the other.
function mark(layer, scene, ref) {
  return svg("g", { class: "mark", "data-scene": scene, "data-ref": ref }, layer);
}

function drawBox(group, box, kind, label) {
  svg("rect", { class: kind, x: box.x1, y: box.y1, width: box.x2 - box.x1, height: box.y2 - box.y1 }, group);
  if (label) {
    svg("title", {}, group).textContent = label;
    const text = svg("text", { class: "label" }, group);
    text.textContent = label;
    Object.assign(text.dataset, { x1: box.x1, y1: box.y1, y2: box.y2 });
  }
}

// Width of a label in em, a little wider than the page's bold sans-serif; with the outline drawn
// around the letters (0.1 em a side) the spots reserved below hold the whole visible label.
const LABEL_EM_PER_CHARACTER = 0.66;

// Labels are placed one by one, each at the first spot that overlaps no label placed before it: above
// its box, inside the box's top edge, below the box. In a crowd where no spot is free the label keeps
// only its number ("face 12" -> "12"), and where even that collides it is hidden: the box's tooltip
// and its line in the linked list still name it.
function placeLabels(layer) {
  const size = Number(layer.getAttribute("font-size"));
  const height = Number(layer.viewBox.baseVal.height);
  const placed = [];
  const free = (r) => !placed.some((p) => r.x1 < p.x2 && p.x1 < r.x2 && r.y1 < p.y2 && p.y1 < r.y2);
  for (const text of layer.querySelectorAll("text.label")) {
    const { x1, y1, y2 } = Object.fromEntries(Object.entries(text.dataset).map(([k, v]) => [k, Number(v)]));
    const full = text.textContent;
    const number = full.match(/\d+$/);
    const baselines = [y1 - size / 4, y1 + size, y2 + size].filter((y) => y >= size && y <= height);
    const spot = [full, ...(number && number[0] !== full ? [number[0]] : [])].flatMap((words) =>
      baselines.map((y) => ({ words, y, x: x1 + size / 6, x1: x1, y1: y - 1.05 * size, y2: y + 0.35 * size,
                               x2: x1 + size / 3 + words.length * size * LABEL_EM_PER_CHARACTER })),
    ).find(free);
    if (!spot) {
      text.classList.add("crowded");
      continue;
    }
    placed.push(spot);
    text.textContent = spot.words;
    text.setAttribute("x", spot.x);
    text.setAttribute("y", spot.y);
  }
}

function drawPolygon(group, points, kind) {
  svg("polygon", { class: kind, points: points.map((p) => `${p.x},${p.y}`).join(" ") }, group);
}

function formatValue(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${k.replaceAll("_", " ")} ${formatValue(v)}`).join(", ");
  }
  return String(value);
}

// A yes/no attribute reads "smile: yes (0.93)"; head pose and quality list their fields. Where the
// face does not show it, the server abstains with a reason: "smile: cannot tell (too blurred)".
function formatAttribute(name, value) {
  const label = name.replaceAll("_", " ");
  if (value.reason) return `${label}: cannot tell (${value.reason.replaceAll("_", " ")})`;
  if (typeof value.value === "boolean") return `${label}: ${formatValue(value.value)} (${formatValue(value.probability)})`;
  return `${label}: ${formatValue(value)}`;
}

function listItem(list, text, kind, ref) {
  const item = document.createElement("li");
  item.className = kind;
  if (ref) item.dataset.ref = ref;
  item.textContent = text;
  list.append(item);
  return item;
}

function renderFindings(container, result) {
  const sections = [];
  const list = (title, kind) => {
    const heading = document.createElement("h4");
    heading.textContent = title;
    const ul = document.createElement("ul");
    ul.className = `findings-${kind}`;
    sections.push(heading, ul);
    return ul;
  };
  if (result.faces) {
    const ul = list(`Faces: ${result.faces.length}`, "faces");
    result.faces.forEach((face, i) => {
      const item = listItem(ul, `#${i + 1} score ${formatValue(face.score)}`, "face", `faces-${i}`);
      const attributes = Object.entries(face.attributes || {}).filter(([, value]) => value !== null);
      if (attributes.length) {
        const details = document.createElement("ul");
        details.className = "attributes";
        for (const [name, value] of attributes) listItem(details, formatAttribute(name, value), `attribute-${name}`);
        item.append(details);
      }
    });
  }
  if (result.codes) {
    const ul = list(`Codes: ${result.codes.length}`, "codes");
    result.codes.forEach((code, i) => listItem(ul, `${code.format}: ${code.payload}`, "code", `codes-${i}`));
  }
  if (result.text) {
    const ul = list(`Text lines: ${result.text.length}`, "text");
    result.text.forEach((line, i) => listItem(ul, `“${line.text}” (${formatValue(line.confidence)})`, "text", `text-${i}`));
  }
  if (result.nudity) {
    const ul = list(`Nudity: ${result.nudity.suggestion} (score ${formatValue(result.nudity.score)})`, "nudity");
    result.nudity.regions.forEach((region, i) => listItem(ul, `${region.category} ${formatValue(region.score)}`, "nudity", `nudity-${i}`));
  }
  container.replaceChildren(...sections);
}

function renderResult(item, title) {
  const card = $("#result-template").content.firstElementChild.cloneNode(true);
  card.dataset.dataId = item.data_id;
  card.querySelector(".result-title").textContent = title || item.data_id;
  card.querySelector(".json").textContent = JSON.stringify(item, null, 2);
  const findings = card.querySelector(".findings");
  const picture = card.querySelector(".picture");
  const layer = card.querySelector(".overlay");
  const file = state.files.get(item.data_id);
  if (file) {
    picture.src = URL.createObjectURL(file);
    picture.alt = item.data_id;
  } else {
    card.querySelector(".frame").hidden = true;
    card.querySelector(".zoom").hidden = true;
  }
  if (item.error) {
    card.classList.add("failed");
    const message = document.createElement("p");
    message.className = "error";
    message.textContent = `${item.error.code}: ${item.error.message}`;
    findings.replaceChildren(message);
    return card;
  }
  // Boxes are pixels of the upright image; the browser shows <img> upright too (EXIF orientation),
  // so a viewBox of the image's size lines the overlay up at any displayed size.
  const draw = () => {
    const width = item.width || picture.naturalWidth;
    const height = item.height || picture.naturalHeight;
    layer.setAttribute("viewBox", `0 0 ${width} ${height}`);
    // labels are in image pixels too: size them to the image so they read the same on any photo
    layer.setAttribute("font-size", Math.max(12, Math.round(Math.max(width, height) / 45)));
    (item.faces || []).forEach((face, i) => drawBox(mark(layer, "faces", `faces-${i}`), face.box, "face", `face ${i + 1}`));
    (item.codes || []).forEach((code, i) => {
      const group = mark(layer, "codes", `codes-${i}`);
      drawPolygon(group, code.corners, "code");
      drawBox(group, code.box, "code-box", code.payload);
    });
    (item.text || []).forEach((line, i) => drawPolygon(mark(layer, "text", `text-${i}`), line.polygon, "text"));
    ((item.nudity && item.nudity.regions) || []).forEach((r, i) => drawBox(mark(layer, "nudity", `nudity-${i}`), r.box, "nudity", r.category));
    placeLabels(layer);
    addLayerToggles(card, layer);
    card.classList.add("drawn");
  };
  if (!file || item.width) draw();
  else picture.addEventListener("load", draw, { once: true });
  renderFindings(findings, item);
  for (const section of resultSections) findings.prepend(...section(item));
  linkHover(card);
  addZoom(card);
  return card;
}

const ZOOM_LEVELS = [1, 1.5, 2, 3, 4];

// The picture and its overlay grow together inside a frame that scrolls, so boxes stay on their faces.
function addZoom(card) {
  let level = 0;
  const set = (next) => {
    level = Math.max(0, Math.min(ZOOM_LEVELS.length - 1, next));
    card.querySelector(".stage").style.width = `${ZOOM_LEVELS[level] * 100}%`;
    card.querySelector(".zoom-level").textContent = `${ZOOM_LEVELS[level] * 100}%`;
    card.querySelector(".zoom-out").disabled = level === 0;
    card.querySelector(".zoom-in").disabled = level === ZOOM_LEVELS.length - 1;
  };
  card.querySelector(".zoom-in").addEventListener("click", () => set(level + 1));
  card.querySelector(".zoom-out").addEventListener("click", () => set(level - 1));
  set(0);
}

// One checkbox per scene drawn, to see the picture without that scene's marks.
function addLayerToggles(card, layer) {
  const scenes = [...new Set([...layer.querySelectorAll(".mark")].map((node) => node.dataset.scene))];
  const box = card.querySelector(".layers");
  box.replaceChildren(...scenes.map((scene) => {
    const label = checkbox("layer", scene, `show ${scene}`);
    const input = label.querySelector("input");
    input.checked = true;
    input.addEventListener("change", () => {
      for (const node of layer.querySelectorAll(`.mark[data-scene="${scene}"]`)) node.classList.toggle("off", !input.checked);
    });
    return label;
  }));
  box.hidden = scenes.length === 0;
}

// Pointing at a box lights up its line in the list, and pointing at a line lights up its box.
function linkHover(card) {
  const light = (ref, on) => {
    for (const node of card.querySelectorAll(`[data-ref="${ref}"]`)) node.classList.toggle("highlight", on);
  };
  // a line clicked brings its box into sight in a zoomed picture
  card.querySelector(".findings").addEventListener("click", (event) => {
    const line = event.target.closest("[data-ref]");
    const box = line && card.querySelector(`.overlay [data-ref="${line.dataset.ref}"]`);
    if (box) box.scrollIntoView({ block: "nearest", inline: "nearest" });
  });
  for (const type of ["mouseover", "mouseout"]) {
    card.addEventListener(type, (event) => {
      const target = event.target.closest("[data-ref]");
      if (target) light(target.dataset.ref, type === "mouseover");
    });
  }
}

// Object URLs hold their image in memory until revoked: let go of those of the cards replaced.
export function clearResults() {
  const results = $("#results");
  for (const node of results.querySelectorAll('img.picture[src^="blob:"]')) URL.revokeObjectURL(node.src);
  results.replaceChildren();
  return results;
}

function showResults(items, heading) {
  clearResults().replaceChildren(...items.map((item) => renderResult(item, heading && `${heading}: ${item.data_id}`)));
}

// ---------- actions ----------

async function scanNow() {
  const response = await api("/v1/scan", { method: "POST", body: scanForm() });
  const answer = await response.json();
  showResults(answer.results);
}

// crypto.randomUUID exists only in secure contexts; getRandomValues also works over plain http on a LAN
function randomKey() {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function queueScan() {
  const response = await api("/v1/scan/async", {
    method: "POST",
    body: scanForm(),
    headers: { "Idempotency-Key": randomKey() },
  });
  const answer = await response.json();
  for (const task of answer.tasks) state.tasks.set(task.task_id, task);
  saveTasks();
  renderTasks();
  poll();
}

// ---------- tasks ----------

function loadTasks() {
  try {
    return new Map(JSON.parse(sessionStorage.getItem(TASKS_STORAGE) || "[]").map((t) => [t.task_id, t]));
  } catch (_) {
    return new Map();
  }
}

function saveTasks() {
  // results stay in memory only: they describe images, and the page keeps no more than it must
  const slim = [...state.tasks.values()].map(({ task_id, data_id, status }) => ({ task_id, data_id, status }));
  sessionStorage.setItem(TASKS_STORAGE, JSON.stringify(slim));
}

function taskRow(task) {
  const row = document.createElement("tr");
  row.dataset.taskId = task.task_id;
  row.className = `task status-${task.status}`;
  const cells = [task.task_id, task.data_id || "", task.status].map((text) => {
    const cell = document.createElement("td");
    cell.textContent = text;
    return cell;
  });
  cells[2].className = "status";
  if (task.error) cells[2].title = `${task.error.code}: ${task.error.message}`;
  const actions = document.createElement("td");
  if (task.status === "succeeded" && task.result) {
    actions.append(button("Show", () => showResults([{ data_id: task.data_id, ...task.result }], "Task")));
  }
  if (task.status === "failed" && task.error) actions.append(whyButton(task.error));
  actions.append(button("Delete", () => busy(() => deleteTask(task.task_id))));
  row.append(...cells, actions);
  return row;
}

export function button(label, onClick) {
  const node = document.createElement("button");
  node.type = "button";
  node.textContent = label;
  node.addEventListener("click", onClick);
  return node;
}

function renderTasks() {
  $("#tasks tbody").replaceChildren(...[...state.tasks.values()].map(taskRow));
  $("#no-tasks").hidden = state.tasks.size > 0;
  $("#tasks").hidden = state.tasks.size === 0;
}

// A failed task's error, shown where every error is.
export function whyButton(error) {
  return button("Why", () => showError(new ApiError(error.code, error.message, null, 0)));
}

export async function removeTask(taskId) {
  try {
    await api(`/v1/tasks/${encodeURIComponent(taskId)}`, { method: "DELETE" });
  } catch (err) {
    if (err.status !== 404) throw err; // already gone on the server: what asked shows it gone too
  }
}

async function deleteTask(taskId) {
  await removeTask(taskId);
  state.tasks.delete(taskId);
  saveTasks();
  renderTasks();
}

async function refreshTasks() {
  const pending = [...state.tasks.values()].filter((t) => !FINISHED.has(t.status) || (t.status === "succeeded" && !t.result));
  if (!pending.length) return false;
  const ids = pending.map((t) => t.task_id).join(",");
  const response = await api(`/v1/tasks?ids=${encodeURIComponent(ids)}`);
  const answer = await response.json();
  for (const task of answer.tasks) state.tasks.set(task.task_id, { ...state.tasks.get(task.task_id), ...task });
  saveTasks();
  renderTasks();
  return [...state.tasks.values()].some((t) => !FINISHED.has(t.status));
}

function poll() {
  clearTimeout(state.pollTimer);
  refreshTasks()
    .then((more) => {
      if (more) state.pollTimer = setTimeout(poll, POLL_MS);
    })
    .catch((err) => {
      showError(err);
      state.pollTimer = setTimeout(poll, POLL_MS * 5);
    });
}

// ---------- what the server offers ----------

export function checkbox(name, value, text, title, type = "checkbox") {
  const label = document.createElement("label");
  const input = document.createElement("input");
  input.type = type;
  input.name = name;
  input.value = value;
  label.title = title || "";
  label.append(input, ` ${text}`);
  return label;
}

// One checkbox per scene of the server's offer; a scene whose models are not installed is shown,
// greyed, with how to install it.
export function sceneChoices(scenes, name, isChecked) {
  return scenes.map((scene) => {
    const label = checkbox(name, scene.scene, scene.scene, scene.description);
    const input = label.querySelector("input");
    input.checked = scene.installed && isChecked(scene);
    if (!scene.installed) {
      input.disabled = true;
      label.classList.add("unavailable");
      const hint = document.createElement("small");
      hint.className = "muted";
      hint.textContent = scene.extra
        ? ` (needs the ${scene.extra} extra: scripts/install ${scene.extra})`
        : " (its models are not installed on this server)";
      label.append(hint);
    }
    return label;
  });
}

// Scenes and attributes come from the server, so the page offers exactly what this server answers;
// the attributes it refuses are listed with why, next to the ones it offers.
async function loadOffer() {
  const { scenes, attributes, refused_attributes: refused, auth } = await offer;
  foldKeyWhenNotNeeded(auth);
  $("#scene-list").replaceWith(...sceneChoices(scenes, "scene", (scene) => scene === scenes[0]));
  $("#attribute-list").replaceWith(...attributes.map((a) => checkbox("attribute", a.name, a.name.replaceAll("_", " "), a.description)));
  $("#refused-list").replaceChildren(...refused.map((r) => {
    const item = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = r.name.replaceAll("_", " ");
    item.append(name, `: ${r.reason}`);
    return item;
  }));
  $("#attributes").hidden = false;
}

// ---------- wiring ----------

function wire() {
  const keyInput = $("#api-key");
  keyInput.value = sessionStorage.getItem(KEY_STORAGE) || "";
  $("#key-state").textContent = keyInput.value ? "key kept for this tab" : "";
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
    $("#key-state").textContent = key ? "key kept for this tab" : "no key";
    if (state.tasks.size) poll();
  });

  dropZone($("#drop"), $("#files"), "image", pickFiles);
  $("#error-close").addEventListener("click", clearError);
  for (const tab of document.querySelectorAll("nav.views [data-view]")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }

  $("#scan").addEventListener("click", () => busy(scanNow));
  $("#queue").addEventListener("click", () => busy(queueScan));

  renderTasks();
  if (state.tasks.size) poll();
  loadOffer().catch(showError);
}

// The server says whether this caller needs a key (GET /v1/scenes needs none itself), so the page
// learns it without a request that fails with 401.
function foldKeyWhenNotNeeded(auth) {
  if (auth !== "none" || sessionStorage.getItem(KEY_STORAGE)) return;
  $("#key-box").open = false;
  $("#key-box summary").textContent = "API key (not needed: this server runs in local mode)";
}

document.addEventListener("DOMContentLoaded", wire);
