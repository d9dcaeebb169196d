// Keyboard use: Escape dismisses the error shown, else closes the view back to Scan; "o" opens the
// file picker of the view shown, "s" runs its main action, "1" to "4" switch views. Letters act only
// when the focus is not in a field, so typing a key or a number is never taken for a shortcut.
import { $, clearError, currentView, showView } from "./app.js";

const TYPING = 'input:not([type="checkbox"], [type="radio"], [type="file"]), select, textarea';

function visibleView() {
  return $(`#view-${currentView()}`);
}

function open() {
  const input = visibleView().querySelector('input[type="file"]');
  if (input) input.click();
}

function run() {
  const action = visibleView().querySelector('button[aria-keyshortcuts="s"]');
  if (action && !action.disabled) action.click();
}

function escape() {
  if (!$("#error").hidden) {
    clearError();
    return;
  }
  if (currentView() !== "scan") {
    showView("scan");
    $('nav.views [data-view="scan"]').focus();
  }
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    escape();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.matches(TYPING)) return;
  const tab = $(`nav.views [aria-keyshortcuts="${event.key}"]`);
  if (tab) {
    showView(tab.dataset.view);
    tab.focus();
  } else if (event.key === "o") {
    open();
  } else if (event.key === "s") {
    run();
  } else {
    return;
  }
  event.preventDefault();
});
