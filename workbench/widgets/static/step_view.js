// One step of a soft execution trace: a bar chart per variable and the input cells read.
// Synced traitlets (JSON only): `data` = workbench.viz.trace_view.step_view(spec, step),
// `inputs` = spec["inputs"] (cells as rows of 0..1 grey levels). Plain DOM + canvas, no build step.

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function bars(variable) {
  const box = el("div", "ntpt-var");
  box.appendChild(el("div", "ntpt-var-title", `${variable.site}  [${variable.domain}]`));
  const probs = variable.probs || [];
  let best = 0;
  probs.forEach((p, i) => { if ((p || 0) > (probs[best] || 0)) best = i; });
  probs.forEach((p, i) => {
    const row = el("div", "ntpt-bar-row" + (i === best ? " ntpt-best" : ""));
    row.appendChild(el("span", "ntpt-bar-label", variable.values[i]));
    const track = el("span", "ntpt-bar-track");
    const fill = el("span", "ntpt-bar-fill");
    fill.style.width = `${Math.max(0, Math.min(1, p || 0)) * 100}%`;
    track.appendChild(fill);
    row.appendChild(track);
    row.appendChild(el("span", "ntpt-bar-value", (p || 0).toFixed(2)));
    box.appendChild(row);
  });
  return box;
}

function cellsCanvas(info, attention) {
  const cells = info.cells;
  if (!cells || !cells.length) return null;
  const h = cells[0].length, w = cells[0][0].length, gap = 2, scale = 2.5;
  const canvas = el("canvas", "ntpt-cells");
  canvas.width = info.cols * w + (info.cols - 1) * gap;
  canvas.height = info.rows * h + (info.rows - 1) * gap;
  canvas.style.width = `${canvas.width * scale}px`;
  const ctx = canvas.getContext("2d");
  if (!ctx) return canvas;
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  cells.forEach((cell, k) => {
    const r = Math.floor(k / info.cols), c = k % info.cols;
    const a = Math.max(0, Math.min(1, attention[k] || 0));
    const image = ctx.createImageData(w, h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = cell[y][x], o = 4 * (y * w + x), base = 0.12 + 0.88 * a;
        image.data[o] = 255 * Math.min(1, v * (a * 1.0 + (1 - a) * 0.55) * base + 0.08 * (1 - a));
        image.data[o + 1] = 255 * Math.min(1, v * (a * 0.62 + (1 - a) * 0.55) * base + 0.08 * (1 - a));
        image.data[o + 2] = 255 * Math.min(1, v * (a * 0.1 + (1 - a) * 0.6) * base + 0.08 * (1 - a));
        image.data[o + 3] = 255;
      }
    }
    ctx.putImageData(image, c * (w + gap), r * (h + gap));
  });
  return canvas;
}

function render({ model, el: root }) {
  const draw = () => {
    const data = model.get("data") || {};
    const inputs = model.get("inputs") || {};
    root.replaceChildren();
    const wrap = el("div", "ntpt-step-view");
    wrap.appendChild(el("div", "ntpt-step-title",
      `step ${data.step === "" ? "·" : data.step} (${(data.index || 0) + 1} of ${data.steps || 0})` +
      ` · example ${data.example} · restart ${data.restart}`));
    const reads = (data.reads && data.reads.attention) || {};
    Object.keys(reads).forEach((name) => {
      if (!inputs[name]) return;
      const box = el("div", "ntpt-reads");
      const used = (data.reads.sites || []).reduce((s, x) => s + (x.weight || 0), 0);
      box.appendChild(el("div", "ntpt-var-title", `'${name}' cells read (used ${Math.min(1, used).toFixed(2)})`));
      const canvas = cellsCanvas(inputs[name], reads[name]);
      if (canvas) box.appendChild(canvas);
      box.appendChild(el("div", "ntpt-attention", reads[name].map((a) => a.toFixed(2)).join("  ")));
      wrap.appendChild(box);
    });
    const grid = el("div", "ntpt-vars");
    (data.variables || []).forEach((v) => grid.appendChild(bars(v)));
    wrap.appendChild(grid);
    root.appendChild(wrap);
  };
  draw();
  model.on("change:data", draw);
  model.on("change:inputs", draw);
  return () => {
    model.off("change:data", draw);
    model.off("change:inputs", draw);
  };
}

export default { render };
