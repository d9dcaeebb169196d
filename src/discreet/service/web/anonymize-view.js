// The anonymize view: one image, the scenes to cover and the method (both read from the server),
// the original and the covered image side by side with how many regions were covered, and a download.
import { $, api, busy, checkbox, checked, dropZone, offer, saveBlob, sceneChoices } from "./app.js";

const EXTENSIONS = { "image/png": "png", "image/webp": "webp", "image/gif": "gif", "image/bmp": "bmp", "image/tiff": "tif" };

let picked = null;

function anonymizedName(name, mimeType) {
  return `${name.replace(/\.[^.]+$/, "")}-anonymized.${EXTENSIONS[mimeType] || "jpg"}`;
}

function pick([image]) {
  picked = image;
  $("#anon-picked").textContent = image.name;
  $("#anon-run").disabled = false;
  clear();
}

// Object URLs hold their image in memory until revoked: let go of the ones replaced.
function clear() {
  for (const img of [$("#anon-before"), $("#anon-after")]) {
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.removeAttribute("src");
  }
  $("#anon-result").hidden = true;
  $("#anon-download").hidden = true;
}

async function anonymize() {
  const form = new FormData();
  form.append("image", picked, picked.name);
  form.append("method", checked("anon-method")[0]);
  form.append("redact", checked("anon-scene").join(","));
  const response = await api("/v1/anonymize", { method: "POST", body: form });
  const regions = Number(response.headers.get("X-Discreet-Regions"));
  const blob = await response.blob();
  clear();
  const name = anonymizedName(picked.name, blob.type);
  $("#anon-before").src = URL.createObjectURL(picked);
  $("#anon-before").alt = `${picked.name}, as sent`;
  $("#anon-after").src = URL.createObjectURL(blob);
  $("#anon-after").alt = `${picked.name}, anonymized`;
  $("#anon-count").textContent = `${regions} region${regions === 1 ? "" : "s"} covered`;
  const link = saveBlob($("#anon-download"), blob, name);
  link.textContent = `Download ${name}`;
  link.hidden = false;
  $("#anon-result").hidden = false;
}

async function loadChoices() {
  const { scenes, cover_methods: methods, covered_by_default: defaults } = await offer;
  const coverable = scenes.filter((scene) => scene.coverable);
  $("#anon-scenes").replaceChildren($("#anon-scenes legend"),
    ...sceneChoices(coverable, "anon-scene", (scene) => defaults.includes(scene.scene)));
  $("#anon-methods").replaceChildren($("#anon-methods legend"), ...methods.map((method, i) => {
    const label = checkbox("anon-method", method, method, "", "radio");
    label.querySelector("input").checked = i === 0;
    return label;
  }));
}

dropZone($("#anon-drop"), $("#anon-file"), "image", pick);
$("#anon-run").addEventListener("click", () => busy(anonymize, clear));
loadChoices().catch(() => {}); // app.js shows why the offer could not be read
