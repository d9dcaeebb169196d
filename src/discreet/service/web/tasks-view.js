// The tasks view: every task of the key's tenant (GET /v1/tasks without ids), newest first, a page at
// a time, filtered by status, each one deletable (DELETE /v1/tasks/{id}).
import { $, api, busy, button, offer, removeTask, whyButton } from "./app.js";

const PAGE_SIZE = 20;

// cursors[i] is the cursor that fetches page i (none for the first); going back reuses them, so a
// page holds still while new tasks arrive at the top.
const paging = { cursors: [null], page: 0, next: null };

function kind(task) {
  if (!task.result) return "—"; // the list says what a task was only once its result is in
  return task.result.frames ? "video" : "image";
}

function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

function summary(task) {
  if (task.error) return `${task.error.code}: ${task.error.message}`;
  if (task.progress !== undefined && task.status === "running") return `${Math.floor(100 * task.progress)}% done`;
  return "";
}

function row(task) {
  const tr = document.createElement("tr");
  tr.className = `task status-${task.status}`;
  tr.dataset.taskId = task.task_id;
  const cells = [when(task.created_at), task.data_id, kind(task), task.status, task.task_id].map((text, i) => {
    const td = document.createElement("td");
    td.textContent = text;
    td.dataset.label = ["Created", "Name", "Kind", "Status", "Task"][i];
    return td;
  });
  cells[3].className = "status";
  cells[3].title = summary(task);
  const actions = document.createElement("td");
  if (task.error) actions.append(whyButton(task.error));
  const remove = button("Delete", () => busy(() => deleteTask(task.task_id), () => {}));
  remove.setAttribute("aria-label", `Delete task ${task.data_id}`);
  actions.append(remove);
  tr.append(...cells, actions);
  return tr;
}

async function load() {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const status = $("#tasks-status").value;
  if (status) params.set("status", status);
  const cursor = paging.cursors[paging.page];
  if (cursor) params.set("cursor", cursor);
  const answer = await (await api(`/v1/tasks?${params}`)).json();
  paging.next = answer.next_cursor;
  $("#all-tasks tbody").replaceChildren(...answer.tasks.map(row));
  $("#all-tasks").hidden = answer.tasks.length === 0;
  $("#all-tasks-empty").hidden = answer.tasks.length > 0;
  $("#all-tasks-empty").textContent = status ? `No ${status} tasks.` : "No tasks.";
  $("#tasks-page").textContent = `Page ${paging.page + 1}`;
  $("#tasks-newer").disabled = paging.page === 0;
  $("#tasks-older").disabled = !paging.next;
}

function clear() {
  $("#all-tasks tbody").replaceChildren();
}

function firstPage() {
  paging.cursors = [null];
  paging.page = 0;
  return busy(load, clear);
}

async function deleteTask(taskId) {
  await removeTask(taskId);
  await load();
}

async function loadStatuses() {
  const { task_statuses: statuses } = await offer;
  $("#tasks-status").append(...statuses.map((status) => new Option(status, status)));
}

loadStatuses().catch(() => {}); // app.js shows why the offer could not be read
$("#tasks-status").addEventListener("change", firstPage);
$("#tasks-refresh").addEventListener("click", () => busy(load, clear));
$("#tasks-older").addEventListener("click", () => {
  paging.cursors[paging.page + 1] = paging.next;
  paging.page += 1;
  busy(load, clear);
});
$("#tasks-newer").addEventListener("click", () => {
  paging.page -= 1;
  busy(load, clear);
});
document.addEventListener("view-shown", (event) => {
  if (event.detail === "tasks") firstPage();
});
