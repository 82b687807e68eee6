// The stroke watcher (window.__drawWatch), installed in every page by bench/appserver.py,
// which calls this with the prediction's and the model view's selectors. It stamps mouse-ups,
// websocket messages and changes of the prediction or of the model's view with
// performance.now(), looked at once per animation frame: when the answer reaches the screen.
(prediction, modelView) => {
  if (window.__drawWatch) return;
  const watch = window.__drawWatch = {ups: [], sends: [], recvs: [], marks: [], last: "",
                                      waiters: []};
  const read = () => {
    const p = document.querySelector(prediction);
    // The model's view: the image nearest the prediction (other tabs show images too).
    let area = p;
    while (area && !area.querySelector(modelView) && area.getAttribute("role") !== "tabpanel") {
      area = area.parentElement;
    }
    const img = area ? area.querySelector(modelView) : null;
    const text = p ? p.textContent.replace(/\s+/g, " ").trim() : "";  // no layout
    return [text, img ? img.getAttribute("src") || "" : ""];
  };
  const check = () => {
    const [text, src] = read();
    const key = text + "\u0000" + src;
    if (key !== watch.last) {
      watch.last = key;
      watch.marks.push({t: performance.now(), text, src});
      watch.waiters = watch.waiters.filter(test => !test());
    }
  };
  // Counts and the last text/src, taken before a stroke.
  watch.state = () => {
    const m = watch.marks[watch.marks.length - 1];
    return {ups: watch.ups.length, sends: watch.sends.length, marks: watch.marks.length,
            text: m ? m.text : "", src: m ? m.src : ""};
  };
  // Whether the stroke after `before` has its answer on screen: the model's view changed.
  watch.strokeDone = (before) => {
    if (watch.ups.length <= before.ups) return false;
    const up = watch.ups[watch.ups.length - 1];
    return watch.marks.slice(before.marks).some(m => m.t >= up && m.src && m.src !== before.src);
  };
  // Whether the stroke's rerun is over without changing the page (a stroke that adds no
  // visible ink, e.g. off the canvas): sent, answered, the app idle for 0.5 s since.
  watch.quietEnd = (before) => {
    if (watch.ups.length <= before.ups) return null;
    const up = watch.ups[watch.ups.length - 1];
    const send = watch.sends.slice(before.sends).find(t => t >= up);
    const recv = send === undefined ? undefined : watch.recvs.filter(t => t >= send).pop();
    const app = document.querySelector(".stApp");
    if (recv === undefined || !app || app.dataset.testScriptState !== "notRunning") return null;
    // Only while a digit is shown: a page still showing the hint is still to update (a
    // busy browser can take seconds), or the stroke was lost (then: no answer, an error).
    if (!/^\d/.test(watch.last)) return null;
    return performance.now() - recv > 500 ? recv : null;
  };
  // Resolves once strokeDone(before) or quietEnd(before), rejects after timeout ms.
  watch.waitStroke = (before, timeout) => new Promise((resolve, reject) => {
    if (watch.strokeDone(before)) return resolve();
    const done = () => { clearTimeout(timer); clearInterval(quiet); resolve(); };
    const timer = setTimeout(() => {
      clearInterval(quiet);
      reject(new Error(`no answer within ${timeout} ms`));
    }, timeout);
    const quiet = setInterval(() => { if (watch.quietEnd(before) !== null) done(); }, 100);
    watch.waiters.push(() => {
      if (!watch.strokeDone(before)) return false;
      done();
      return true;
    });
  });
  // The stroke's timings: mouse-up -> the prediction's text changed (or, if a stroke left
  // it as it was, the model's view changed); -> the canvas sent its drawing; -> the last
  // server message before the answer showed (the one that carried it).
  watch.result = (before) => {
    const up = watch.ups[watch.ups.length - 1];
    const after = watch.marks.slice(before.marks).filter(m => m.t >= up);
    const byText = after.find(m => m.text !== before.text && /^\d/.test(m.text));
    const byImage = after.find(m => m.src && m.src !== before.src);
    const hit = byText || byImage;
    if (!hit) {  // the rerun ended without a visible change (watch.quietEnd)
      const end = watch.quietEnd(before);
      return {ms: end === null ? null : end - up, send: null, recv: null, by: "none",
              text: watch.last.split("\u0000")[0]};
    }
    const send = watch.sends.slice(before.sends).find(t => t >= up);
    const recv = watch.recvs.filter(t => t >= up && t <= hit.t).pop();
    return {ms: hit.t - up, send: send === undefined ? null : send - up,
            recv: recv === undefined ? null : recv - up,
            by: byText ? "text" : "image", text: after[after.length - 1].text};
  };
  // A whole stroke dispatched to the drawing surface (what the canvas library listens
  // to), then its answer: one call per stroke keeps many sessions' driver light.
  watch.stroke = async (points, timeout) => {
    const find = (root) => {
      for (const e of root.querySelectorAll("*")) {
        if (e.tagName === "CANVAS" && e.classList.contains("upper-canvas")) return e;
        const inner = e.shadowRoot && find(e.shadowRoot);
        if (inner) return inner;
      }
      return null;
    };
    const surface = find(document.querySelector(".st-key-canvas"));
    if (!surface) throw new Error("no drawing surface");
    const fire = (type, [x, y], buttons) => {
      const init = {bubbles: true, composed: true, cancelable: true, clientX: x, clientY: y,
                    button: 0, buttons, view: window};
      surface.dispatchEvent(new PointerEvent("pointer" + type,
        {...init, pointerId: 1, pointerType: "mouse", isPrimary: true}));
      surface.dispatchEvent(new MouseEvent("mouse" + type, init));
    };
    // Paced like a hand: a few moves per animation frame, not the whole stroke at once.
    const frame = () => new Promise(resolve => requestAnimationFrame(resolve));
    const before = watch.state();
    fire("down", points[0], 1);
    await frame();
    const moves = points.length > 1 ? points.slice(1) : [[points[0][0] + 1, points[0][1] + 1]];
    for (let i = 0; i < moves.length; i++) {
      fire("move", moves[i], 1);
      if (i % 4 === 3) await frame();
    }
    await frame();
    fire("up", moves[moves.length - 1], 0);
    await watch.waitStroke(before, timeout);
    return watch.result(before);
  };
  window.addEventListener("mouseup", () => watch.ups.push(performance.now()), true);
  const send = WebSocket.prototype.send;  // when the canvas's update leaves for the server
  WebSocket.prototype.send = function (data) {
    watch.sends.push(performance.now());
    if (!this.__watched) {
      this.__watched = true;
      this.addEventListener("message", () => watch.recvs.push(performance.now()));
    }
    return send.call(this, data);
  };
  let pending = false;
  const onMutation = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; check(); });
  };
  const start = () => {
    new MutationObserver(onMutation).observe(document.documentElement, {
      subtree: true, childList: true, characterData: true, attributes: true,
      attributeFilter: ["src"],
    });
    check();
  };
  if (document.documentElement) start();
  else document.addEventListener("DOMContentLoaded", start);
}
