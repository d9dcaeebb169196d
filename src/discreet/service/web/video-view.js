// The video view: upload one video (POST /v1/video/async), follow its task's progress to 100%, show
// each scanned frame as a tick on a timeline (a click tells what that frame holds) and, when an
// anonymized copy was asked for, download it.
import { $, ApiError, POLL_MS, api, busy, button, checked, dropZone, offer, saveBlob, sceneChoices } from "./app.js";
import { moderationChoice, segmentItems } from "./moderation.js";

const FINISHED = new Set(["succeeded", "failed", "canceled"]);
const FRAME_FIELDS = new Set(["index", "time", "moderation"]);

let picked = null;
let pollTimer = null;

function pick([video]) {
  picked = video;
  $("#video-picked").textContent = video.name;
  $("#video-run").disabled = false;
}

function clear() {
  clearTimeout(pollTimer);
  $("#video-task").hidden = true;
  $("#video-ticks").replaceChildren();
  $("#video-frame").replaceChildren();
  $("#video-segments").replaceChildren();
  $("#video-download").hidden = true;
}

async function upload() {
  clear();
  const form = new FormData();
  form.append("video", picked, picked.name);
  form.append("data_id", picked.name);
  form.append("scenes", checked("video-scene").join(","));
  form.append("interval", $("#video-interval").value || "1");
  form.append("anonymize", String($("#video-anonymize").checked));
  form.append("method", $("#video-method").value);
  const moderation = moderationChoice("video-");
  if (moderation !== false) form.append("moderation", String(moderation));
  const task = await (await api("/v1/video/async", { method: "POST", body: form })).json();
  showProgress(task);
  await follow(task.task_id);
}

// Polls the task until it ends; each answer moves the bar (the task's progress is the share of
// frames done, and a finished task is at 100%).
async function follow(taskId) {
  const task = await (await api(`/v1/tasks/${encodeURIComponent(taskId)}`)).json();
  showProgress(task);
  if (!FINISHED.has(task.status)) {
    await new Promise((resolve) => { pollTimer = setTimeout(resolve, POLL_MS); });
    return follow(taskId);
  }
  if (task.status === "failed") throw new ApiError(task.error.code, task.error.message, null, 0);
  if (task.status === "succeeded") showResult(task);
}

function showProgress(task) {
  const percent = task.status === "succeeded" ? 100 : Math.floor(100 * (task.progress || 0));
  $("#video-task").hidden = false;
  $("#video-progress").value = percent;
  $("#video-percent").textContent = `${percent}%`;
  $("#video-status").textContent = `${task.data_id}: ${task.status}`;
}

// What a scanned frame holds, scene by scene: lists by their length, nudity by its regions.
function frameCounts(frame) {
  return Object.entries(frame)
    .filter(([name, value]) => !FRAME_FIELDS.has(name) && value !== null && value !== undefined)
    .map(([name, value]) => [name, Array.isArray(value) ? value.length : (value.regions || []).length]);
}

function clock(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${(seconds - minutes * 60).toFixed(1).padStart(4, "0")}`;
}

function describe(frame) {
  const counts = frameCounts(frame).map(([name, count]) => `${name} ${count}`).join(", ");
  const decision = frame.moderation ? `, ${frame.moderation.suggestion}` : "";
  return `${clock(frame.time)} (frame ${frame.index}): ${counts || "nothing asked"}${decision}`;
}

function showFrame(tick, frame) {
  for (const other of $("#video-ticks").querySelectorAll(".tick[aria-pressed]")) other.removeAttribute("aria-pressed");
  tick.setAttribute("aria-pressed", "true");
  const detail = document.createElement("p");
  detail.textContent = describe(frame);
  $("#video-frame").replaceChildren(detail);
}

// One tick per scanned frame at its time along the video; a frame where something was found is
// marked, and decisions over time (when moderation was asked) are bands under the ticks.
function showResult(task) {
  const { video, frames, segments, anonymized } = task.result;
  const duration = video.duration || 1;
  const ticks = frames.map((frame) => {
    const tick = button("", () => showFrame(tick, frame));
    tick.className = frameCounts(frame).some(([, count]) => count > 0) ? "tick found" : "tick";
    tick.style.left = `${(100 * frame.time) / duration}%`;
    tick.setAttribute("aria-label", describe(frame));
    tick.title = describe(frame);
    return tick;
  });
  const bands = (segments || []).map((segment) => {
    const band = document.createElement("span");
    band.className = `band ${segment.suggestion}`;
    band.style.left = `${(100 * segment.start) / duration}%`;
    band.style.width = `${(100 * (segment.end - segment.start)) / duration}%`;
    band.title = `${clock(segment.start)}–${clock(segment.end)}: ${segment.suggestion} ${segment.labels.join(", ")}`;
    return band;
  });
  $("#video-ticks").replaceChildren(...bands, ...ticks);
  $("#video-segments").replaceChildren(...segmentItems(segments || [], clock));
  $("#video-end").textContent = clock(duration);
  $("#video-timeline").hidden = false;
  const found = frames.filter((frame) => frameCounts(frame).some(([, count]) => count > 0)).length;
  $("#video-frame").textContent = `${frames.length} frames scanned over ${clock(duration)}, something found in ${found}. Pick a tick to see what.`;
  const download = $("#video-download");
  download.hidden = !anonymized;
  if (anonymized) download.onclick = () => busy(() => downloadVideo(anonymized.download, task.data_id), () => {});
}

// The download needs the key, so it is fetched here and handed to the browser as a blob.
async function downloadVideo(path, name) {
  const blob = await (await api(path)).blob();
  const link = saveBlob(document.createElement("a"), blob, `${name.replace(/\.[^.]+$/, "")}-anonymized.mp4`);
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), POLL_MS);
}

async function loadChoices() {
  const { scenes, cover_methods: methods } = await offer;
  $("#video-scenes").replaceChildren($("#video-scenes legend"),
    ...sceneChoices(scenes, "video-scene", (scene) => scene === scenes[0]));
  $("#video-method").replaceChildren(...methods.map((method) => new Option(method, method)));
}

dropZone($("#video-drop"), $("#video-file"), "video", pick);
$("#video-run").addEventListener("click", () => busy(upload, clear));
loadChoices().catch(() => {}); // app.js shows why the offer could not be read
