// Moderation decisions on the page: a toggle and a policy picker (the scan view's and the video
// view's), filled from the tenant's policies when the toggle is turned on, so policies made since
// the page loaded are offered; and, in each result card, the image's decision with what drove it.
import { $, api, extendScans, showError } from "./app.js";

// The picker of a view: #PREFIXmoderate (the toggle) and #PREFIXpolicy (the select).
function picker(prefix) {
  return { toggle: $(`#${prefix}moderate`), select: $(`#${prefix}policy`) };
}

// What a request's `moderation` field says: false when off, true for the tenant's default policy
// (the built-in one when the tenant has none), or a policy's name.
export function moderationChoice(prefix = "") {
  const { toggle, select } = picker(prefix);
  if (!toggle.checked) return false;
  return select.value || true;
}

function policyOption(policy) {
  const option = document.createElement("option");
  option.value = policy.name;
  option.textContent = `${policy.name} v${policy.version}${policy.is_default ? " (default)" : ""}`;
  option.selected = policy.is_default;
  return option;
}

async function fillPolicies(select) {
  const { policies } = await (await api("/v1/moderation/policies")).json();
  const builtIn = document.createElement("option");
  builtIn.value = "";
  builtIn.textContent = policies.some((p) => p.is_default) ? "the tenant's default" : "built-in default";
  select.replaceChildren(builtIn, ...policies.map(policyOption));
  select.dataset.loaded = "true";
}

function wirePicker(prefix) {
  const { toggle, select } = picker(prefix);
  toggle.addEventListener("change", () => {
    select.disabled = !toggle.checked;
    if (toggle.checked) fillPolicies(select).catch(showError);
  });
}

// ---------- the decision in a result card ----------

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function suggestionBadge(suggestion) {
  return element("span", `suggestion ${suggestion}`, suggestion);
}

function formatScore(score) {
  return Number(score).toFixed(2);
}

// The text a term matched in: the line of the text scene or the payload of the code it names.
function matchedIn(item, match) {
  if (match.scene === "text") return (item.text || [])[match.index]?.text;
  return (item.codes || [])[match.index]?.payload;
}

// The whole text with the matching span marked, so the reader sees the term where it was found.
function highlighted(text, match) {
  const line = element("q", "found-text");
  const span = element("mark", "term-span", text.slice(match.start, match.end));
  line.append(text.slice(0, match.start), span, text.slice(match.end));
  return line;
}

function termItem(item, match) {
  const entry = element("li", `term ${match.action}`);
  entry.append(suggestionBadge(match.action), ` ${match.list}: “${match.term}” in ${match.scene === "text" ? "text line" : "code"} ${match.index + 1}: `);
  const text = matchedIn(item, match);
  entry.append(text === undefined ? element("mark", "term-span", match.text) : highlighted(text, match));
  return entry;
}

function pictureItem(match) {
  const entry = element("li", `picture-match ${match.kind}`);
  entry.append(suggestionBadge(match.kind), ` ${match.list_name}: distance ${match.distance} of 256 bits`);
  return entry;
}

function decisionSection(item) {
  const decision = item.moderation;
  if (!decision) return [];
  const section = element("section", `decision ${decision.suggestion}`);
  const heading = element("h4", "decision-title");
  heading.append(suggestionBadge(decision.suggestion), ` score ${formatScore(decision.score)}`);
  const policy = element("p", "decision-policy", `policy ${decision.policy} v${decision.policy_version}`);
  const labels = element("p", "decision-labels", decision.labels.length ? `labels: ${decision.labels.join(", ")}` : "no label raised");
  const scenes = element("ul", "scene-decisions");
  for (const [scene, sceneDecision] of Object.entries(decision.scenes)) {
    const entry = element("li", `scene-decision ${sceneDecision.suggestion}`);
    entry.dataset.scene = scene;
    const why = sceneDecision.labels.length ? ` (${sceneDecision.labels.join(", ")}; ${formatScore(sceneDecision.score)})` : "";
    entry.append(`${scene}: `, suggestionBadge(sceneDecision.suggestion), why);
    scenes.append(entry);
  }
  section.append(heading, policy, labels, scenes);
  if (decision.terms.length) {
    const list = element("ul", "term-matches");
    list.append(...decision.terms.map((match) => termItem(item, match)));
    section.append(element("h5", "", `Term-list matches: ${decision.terms.length}`), list);
  }
  if (decision.image_lists.length) {
    const list = element("ul", "picture-matches");
    list.append(...decision.image_lists.map(pictureItem));
    section.append(element("h5", "", `Picture-list matches: ${decision.image_lists.length}`), list);
  }
  return [section];
}

// A video's decisions over time, one line a segment: its span, suggestion, labels and matches.
export function segmentItems(segments, clock) {
  return segments.map((segment) => {
    const entry = element("li", `segment ${segment.suggestion}`);
    entry.append(`${clock(segment.start)}–${clock(segment.end)} `, suggestionBadge(segment.suggestion));
    if (segment.labels.length) entry.append(` ${segment.labels.join(", ")}`);
    const found = [
      ...(segment.terms || []).map((match) => {
        const found = element("span", "term", `${match.list}: `);
        found.append(element("mark", "term-span", match.text));
        return found;
      }),
      ...(segment.image_lists || []).map((match) => element("span", "picture-match", `${match.list_name} (distance ${match.distance})`)),
    ];
    for (const node of found) entry.append(" ", node);
    return entry;
  });
}

extendScans({
  request: () => {
    const choice = moderationChoice();
    return choice === false ? {} : { moderation: choice };
  },
  result: decisionSection,
});

document.addEventListener("DOMContentLoaded", () => {
  wirePicker("");
  wirePicker("video-");
});
