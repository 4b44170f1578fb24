/* Small SVG charts for the dashboard: a time-series line chart and horizontal bars.
 *
 * Written for this page instead of pulling a charting library from a CDN: the server may be
 * offline, and the page's Content-Security-Policy allows only its own scripts. Every text
 * from the data goes through textContent (never innerHTML), so product names cannot inject
 * markup.
 */
(function () {
  "use strict";

  const SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, content, attrs) {
    const node = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    node.textContent = content;
    return node;
  }

  function niceStep(range, ticks) {
    const raw = range / Math.max(ticks, 1);
    const power = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    const unit = raw / power;
    const nice = unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 2.5 ? 2.5 : unit <= 5 ? 5 : 10;
    return nice * power;
  }

  function empty(container, message) {
    container.replaceChildren();
    const note = document.createElement("p");
    note.className = "empty";
    note.textContent = message || "No data for this selection.";
    container.appendChild(note);
  }

  /* series: [{name, color, values: [number|null], dash?, dots?}] sharing labels: [Date];
     `dash` draws a dashed line, `dots: false` leaves its points unmarked. */
  function line(container, labels, series, options) {
    const opts = Object.assign({ height: 260, format: String, yMin: null, yMax: null }, options);
    if (!labels.length) return empty(container);
    const width = Math.max(container.clientWidth || 600, 320);
    const height = opts.height;
    const pad = { top: 16, right: 16, bottom: 28, left: 64 };
    const innerW = width - pad.left - pad.right;
    const innerH = height - pad.top - pad.bottom;
    const all = series.flatMap((s) => s.values.filter((v) => v !== null && isFinite(v)));
    let lo = opts.yMin !== null ? opts.yMin : Math.min(0, ...all);
    let hi = opts.yMax !== null ? opts.yMax : Math.max(...all, lo + 1);
    const step = niceStep(hi - lo, 4);
    lo = Math.floor(lo / step) * step;
    hi = Math.ceil(hi / step) * step;
    const n = labels.length;
    const x = (i) => pad.left + (n === 1 ? innerW / 2 : (i * innerW) / (n - 1));
    const y = (v) => pad.top + innerH - ((v - lo) / (hi - lo || 1)) * innerH;

    const svg = el("svg", {
      viewBox: `0 0 ${width} ${height}`, width: "100%", height: height, role: "img",
      "aria-label": opts.label || "line chart",
    });
    const grid = el("g", { class: "grid" }, svg);
    for (let v = lo; v <= hi + step / 2; v += step) {
      el("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v) }, grid);
      text(grid, pad.left - 8, y(v) + 4, opts.format(v), { "text-anchor": "end", class: "axis" });
    }
    const axis = el("g", { class: "axis" }, svg);
    let previous = null;
    let lastX = -Infinity;
    labels.forEach((d, i) => {
      const key = opts.xKey ? opts.xKey(d) : String(i);
      if (key === previous) return;
      previous = key;
      if (x(i) - lastX < 48) return;
      lastX = x(i);
      text(axis, x(i), height - 8, opts.xLabel ? opts.xLabel(d) : key, { "text-anchor": "middle" });
    });
    series.forEach((s, index) => {
      let path = "";
      s.values.forEach((v, i) => {
        if (v === null || !isFinite(v)) return;
        path += (path ? "L" : "M") + x(i).toFixed(1) + "," + y(v).toFixed(1);
      });
      if (index === 0 && opts.area !== false && path) {
        const first = s.values.findIndex((v) => v !== null && isFinite(v));
        const last = s.values.length - 1 - [...s.values].reverse().findIndex((v) => v !== null && isFinite(v));
        const base = y(Math.max(lo, 0)).toFixed(1);
        el("path", {
          d: `${path}L${x(last).toFixed(1)},${base}L${x(first).toFixed(1)},${base}Z`,
          fill: s.color, class: "area",
        }, svg);
      }
      const attrs = { d: path, class: "series", stroke: s.color, fill: "none" };
      if (s.dash) attrs["stroke-dasharray"] = s.dash;
      el("path", attrs, svg);
      if (n <= 40 && s.dots !== false) {
        s.values.forEach((v, i) => {
          if (v !== null) el("circle", { cx: x(i), cy: y(v), r: 3.5, fill: s.color }, svg);
        });
      }
    });

    const guide = el("line", { class: "guide", y1: pad.top, y2: pad.top + innerH, x1: 0, x2: 0 }, svg);
    guide.style.display = "none";
    const tip = document.createElement("div");
    tip.className = "tooltip";
    tip.hidden = true;
    const overlay = el("rect", {
      x: pad.left, y: pad.top, width: innerW, height: innerH, fill: "transparent",
    }, svg);
    overlay.addEventListener("mousemove", (event) => {
      const box = svg.getBoundingClientRect();
      const px = ((event.clientX - box.left) / box.width) * width;
      const i = Math.max(0, Math.min(n - 1, Math.round(((px - pad.left) / innerW) * (n - 1))));
      guide.setAttribute("x1", x(i));
      guide.setAttribute("x2", x(i));
      guide.style.display = "";
      tip.replaceChildren();
      const head = document.createElement("strong");
      head.textContent = opts.tipLabel ? opts.tipLabel(labels[i]) : String(labels[i]);
      tip.appendChild(head);
      series.forEach((s) => {
        const row = document.createElement("div");
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = s.color;
        row.appendChild(swatch);
        row.appendChild(document.createTextNode(`${s.name}: ${s.values[i] === null ? "–" : opts.format(s.values[i], true)}`));
        tip.appendChild(row);
      });
      tip.hidden = false;
      const left = (x(i) / width) * box.width;
      tip.style.left = `${Math.min(left + 12, box.width - 180)}px`;
      tip.style.top = "8px";
    });
    overlay.addEventListener("mouseleave", () => {
      guide.style.display = "none";
      tip.hidden = true;
    });

    const legend = document.createElement("div");
    legend.className = "legend";
    series.forEach((s) => {
      const item = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = s.color;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(s.name));
      legend.appendChild(item);
    });
    container.replaceChildren(legend, svg, tip);
  }

  /* items: [{label, value, note?}] drawn as horizontal bars, largest first as given. */
  function bars(container, items, options) {
    const opts = Object.assign({ format: String, color: "#2563eb", labelWidth: 170 }, options);
    if (!items.length) return empty(container);
    const width = Math.max(container.clientWidth || 420, 300);
    const row = 26;
    const height = items.length * row + 8;
    const valueW = 86;
    const barW = width - opts.labelWidth - valueW - 12;
    const max = Math.max(...items.map((d) => d.value), 0) || 1;
    const svg = el("svg", {
      viewBox: `0 0 ${width} ${height}`, width: "100%", height: height, role: "img",
      "aria-label": opts.label || "bar chart",
    });
    items.forEach((d, i) => {
      const g = el("g", { class: "bar" + (d.highlight ? " highlight" : "") }, svg);
      const yTop = 4 + i * row;
      const label = d.label.length > 26 ? d.label.slice(0, 25) + "…" : d.label;
      text(g, opts.labelWidth - 8, yTop + 16, label, { "text-anchor": "end", class: "label" });
      el("rect", {
        x: opts.labelWidth, y: yTop + 3, height: row - 8, rx: 3,
        width: Math.max(1, (Math.max(d.value, 0) / max) * barW),
        fill: d.color || opts.color,
      }, g);
      text(g, opts.labelWidth + barW + 8, yTop + 16, opts.format(d.value), { class: "value" });
      const title = el("title", {}, g);
      title.textContent = `${d.label}: ${opts.format(d.value, true)}${d.note ? " · " + d.note : ""}`;
    });
    container.replaceChildren(svg);
  }

  window.Charts = { line: line, bars: bars, empty: empty };
})();
