// Two page-side shortcuts to the canvas's own toolbar (streamlit-drawable-canvas 0.13),
// found by their labels: if a canvas release renames a button, that shortcut does nothing
// and the app works as without it.
// - The canvas sends a drawing 200 ms after the pen lifts; its "Update the app" button
//   sends at once, so it is pressed when a stroke ends.
// - The app's Clear costs two reruns on the server; the canvas's own reset empties it in
//   the page and sends once, so a click on Clear presses that instead.
const SEND_BUTTON_LABEL = "Update the app with this drawing";
const RESET_BUTTON_LABEL = "Reset canvas & history";
export default function () {
  const findButton = (root, label) => {
    for (const element of root.querySelectorAll("*")) {
      if (element.tagName === "BUTTON" && element.getAttribute("aria-label") === label) {
        return element;
      }
      const inner = element.shadowRoot && findButton(element.shadowRoot, label);
      if (inner) return inner;
    }
    return null;
  };
  const canvasButton = (label) => {
    const canvas = document.querySelector(".st-key-canvas");
    return canvas && findButton(canvas, label);
  };
  const within = (event, className) => event.composedPath().some(
    (element) => element.classList && element.classList.contains(className));
  let drawing = false;
  const down = (event) => { drawing = within(event, "st-key-canvas"); };
  const up = () => {
    if (!drawing) return;
    drawing = false;
    // After the canvas has handled the same event (it adds the stroke, then schedules
    // its delayed send): the button sends the finished stroke now.
    setTimeout(() => {
      const button = canvasButton(SEND_BUTTON_LABEL);
      if (button) button.click();
    }, 0);
  };
  const cancel = () => { drawing = false; };
  const clear = (event) => {
    if (!within(event, "st-key-clear")) return;
    const reset = canvasButton(RESET_BUTTON_LABEL);
    if (!reset) return;  // Clear goes to the server as usual
    event.stopPropagation();
    event.preventDefault();
    reset.click();
  };
  window.addEventListener("pointerdown", down, true);
  window.addEventListener("pointerup", up, true);
  window.addEventListener("pointercancel", cancel, true);
  window.addEventListener("click", clear, true);
  return () => {
    window.removeEventListener("pointerdown", down, true);
    window.removeEventListener("pointerup", up, true);
    window.removeEventListener("pointercancel", cancel, true);
    window.removeEventListener("click", clear, true);
  };
}
