// What a human would call a broken layout, measured in the page (bench/screens.py,
// tests/test_layout_browser.py): returns a list of problems, [] when there are none.
// Looked at: the main area (not the sidebar), as it is laid out now.
() => {
  const problems = [];
  const W = window.innerWidth;
  const main = document.querySelector("[data-testid='stMain']") || document.body;
  const SCROLLERS = "[data-testid='stCode'], [data-testid='stTable']";  // scroll inside
  const visible = (e) => {
    const r = e.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) return false;
    const s = getComputedStyle(e);
    return s.visibility !== "hidden" && s.display !== "none" && !e.closest("[hidden]");
  };
  const name = (e) => {
    const keyed = e.closest("[class*='st-key-']");
    const key = keyed && [...keyed.classList].find((c) => c.startsWith("st-key-"));
    const id = e.getAttribute("data-testid") || e.tagName.toLowerCase();
    const text = (e.innerText || e.textContent || "").trim().replace(/\s+/g, " ");
    return `${id}${key ? " in " + key : ""} "${text.slice(0, 40)}"`;
  };
  const px = (value) => value.toFixed(0);
  const all = (selector) => [...main.querySelectorAll(selector)].filter(visible);

  // 1. The page never scrolls sideways (nor does Streamlit's own scrolling main area).
  const pageWidth = document.scrollingElement.scrollWidth;
  if (pageWidth > W + 1) problems.push(`the page scrolls sideways: ${pageWidth} > ${W}`);
  if (main.scrollWidth > main.clientWidth + 1) {
    problems.push(`the main area scrolls sideways: ${main.scrollWidth} > ${main.clientWidth}`);
  }

  // 2. No element, nor what it holds, sticks out of the screen or out of its column (a
  //    st.columns column, or a cell of a grid page.css lays out).
  for (const e of all("[data-testid='stElementContainer']")) {
    let { left, right } = e.getBoundingClientRect();
    for (const inner of e.querySelectorAll("img, svg, canvas, table, button, [data-testid='stMetric']")) {
      if (!visible(inner) || inner.closest(SCROLLERS)) continue;
      const r = inner.getBoundingClientRect();
      left = Math.min(left, r.left);
      right = Math.max(right, r.right);
    }
    if (left < -1 || right > W + 1) {
      problems.push(`${name(e)} sticks out of the screen: ${px(left)}..${px(right)} of ${W}`);
      continue;
    }
    const column = e.parentElement.closest(
      "[data-testid='stColumn'], .st-key-draw_area > *, [class*='st-key-figures_'] > *");
    if (column) {
      const c = column.getBoundingClientRect();
      if (left < c.left - 2 || right > c.right + 2) {
        problems.push(`${name(e)} sticks out of its column: ${px(left)}..${px(right)} ` +
                      `in ${px(c.left)}..${px(c.right)}`);
      }
    }
  }

  // 3. No two pictures, charts, figures, buttons, tables, captions or headings overlap.
  const boxes = all(
    "[data-testid='stImage'] img, [data-testid='stVegaLiteChart'], [data-testid='stMetric'], " +
    ".st-key-canvas, .st-key-prediction [data-testid='stMarkdownContainer'], " +
    "[data-testid='stButton'], [data-testid='stTable'], [data-testid='stImageCaption'], " +
    "[data-testid='stCaptionContainer'], [data-testid='stHeading']");
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.contains(b) || b.contains(a)) continue;
      const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
      const dx = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const dy = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (dx > 1 && dy > 1) problems.push(`${name(a)} overlaps ${name(b)} by ${px(dx)}x${px(dy)} px`);
    }
  }

  // 4. No text cut off: by its own box ("(60000,…", "56 of 1…"), by a box around it that
  //    hides what sticks out, or a word broken across lines ("labe / l 0").
  const texts = all(
    "[data-testid='stMetricValue'], [data-testid='stMetricValue'] *, " +
    "[data-testid='stMetricLabel'], [data-testid='stMetricLabel'] p, " +
    "button p, button [data-testid='stMarkdownContainer'], [role='tab'] p, " +
    "h1, h2, h3, h4, h5, [data-testid='stCaptionContainer'], " +
    "[data-testid='stImageCaption'], .st-key-prediction *")
    .filter((e) => !e.closest(SCROLLERS));
  for (const e of texts) {
    if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== "visible") {
      problems.push(`${name(e)} is cut off: ${e.scrollWidth} px of text in ${e.clientWidth} px`);
      continue;
    }
    const range = document.createRange();
    range.selectNodeContents(e);
    const t = range.getBoundingClientRect();
    if (t.width < 1) continue;
    for (let box = e.parentElement; box && box !== main; box = box.parentElement) {
      const s = getComputedStyle(box);
      if (s.overflowX === "visible" && s.overflowY === "visible") continue;
      const b = box.getBoundingClientRect();
      if (t.left < b.left - 1 || t.right > b.right + 1) {
        problems.push(`${name(e)} is cut off by the box around it`);
        break;
      }
    }
  }
  const labels = all(
    "[data-testid='stMetricValue'], [data-testid='stMetricLabel'], button, " +
    "[data-testid='stImageCaption'], .st-key-prediction, [role='tab'], h1, h2, h3, h4");
  for (const e of labels) {
    const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const word of node.textContent.matchAll(/\S{2,}/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0)
          .map((r) => Math.round(r.top)));
        if (lines.size > 1) problems.push(`${name(e)}: "${word[0]}" is broken across lines`);
      }
    }
  }

  // 5. Charts: no wider than their box, and no title or label shortened by Vega
  //    ("How likel…") or outside the chart (an SVG cuts off what leaves it).
  for (const chart of all("[data-testid='stVegaLiteChart']")) {
    const svg = chart.querySelector("svg.marks");
    if (!svg) continue;
    const frame = svg.getBoundingClientRect();
    const c = chart.getBoundingClientRect();
    const title = svg.querySelector(".role-title-text")?.textContent || "";
    if (frame.right > c.right + 2 || frame.left < c.left - 2) {
      problems.push(`chart "${title}" is wider than its box: ${px(frame.width)} > ${px(c.width)}`);
    }
    for (const text of svg.querySelectorAll("text")) {
      const content = text.textContent;
      if (!content || !visible(text)) continue;
      if (content.endsWith("…")) problems.push(`chart text "${content}" is shortened`);
      const r = text.getBoundingClientRect();
      const slack = r.height / 4;  // a text's box includes the font's ascent, above the glyphs
      if (r.left < frame.left - 1 || r.right > frame.right + 1 ||
          r.top < frame.top - slack || r.bottom > frame.bottom + slack) {
        problems.push(`chart text "${content}" leaves its chart`);
      }
    }
  }
  return problems;
}
