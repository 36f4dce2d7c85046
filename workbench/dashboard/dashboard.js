// workbench dashboard: draws every plot as inline SVG from the JSON block #wb-data.
// No library and no network: this file is inlined into the page by workbench/dashboard/__init__.py.
// Every plot is a <section data-plot="ID">; every mark that carries a datum has data-point, so a
// test (and a person) can tell an empty plot from a drawn one.
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("wb-data").textContent);
  var P = DATA.profiles;
  var SVGNS = "http://www.w3.org/2000/svg";
  // Okabe-Ito: distinguishable with the common colour-vision deficiencies.
  var COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];

  // ---------- small helpers ----------
  function h(tag, attrs, parent, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function s(tag, attrs, parent, text) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function tip(node, text) { s("title", {}, node, text); return node; }
  function m(p, name) {
    var x = p.metrics[name];
    return x && typeof x.value === "number" ? x.value : null;
  }
  function meta(p, name) { return p.metrics[name] || null; }
  function fmt(v, unit) {
    if (v === null || v === undefined) return "-";
    if (unit && unit.indexOf("fraction") === 0) return v.toFixed(3);
    if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
    if (Number.isInteger(v)) return String(v);
    return v.toPrecision(3);
  }
  function colorMap(keys) {
    var map = {}, n = 0;
    keys.forEach(function (k) { if (!(k in map)) map[k] = COLORS[n++ % COLORS.length]; });
    return map;
  }
  function uniq(a) { return a.filter(function (x, i) { return a.indexOf(x) === i; }); }
  function groupBy(items, keyFn) {
    var out = {}, order = [];
    items.forEach(function (it) {
      var k = keyFn(it);
      if (!(k in out)) { out[k] = []; order.push(k); }
      out[k].push(it);
    });
    return order.map(function (k) { return [k, out[k]]; });
  }
  function niceTicks(lo, hi, n) {
    if (hi <= lo) hi = lo + 1;
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
    var err = (n * step) / (hi - lo);
    if (err <= 0.15) step *= 10; else if (err <= 0.35) step *= 5; else if (err <= 0.75) step *= 2;
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
    return out;
  }
  function logTicks(lo, hi) {
    var out = [];
    for (var e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      [1, 2, 5].forEach(function (f) { var v = f * Math.pow(10, e); if (v >= lo && v <= hi) out.push(v); });
    }
    return out;
  }
  function short(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return +(v / 1e9).toPrecision(3) + "G";
    if (a >= 1e6) return +(v / 1e6).toPrecision(3) + "M";
    if (a >= 1e3) return +(v / 1e3).toPrecision(3) + "k";
    return +v.toPrecision(3) + "";
  }

  // ---------- layout ----------
  var app = document.getElementById("app");
  document.getElementById("subtitle").textContent =
    P.length + " profile(s) · generated " + DATA.generated_utc + " by workbench " + DATA.workbench +
    " · every figure names its unit and source";

  function card(id, title, note) {
    var sec = h("section", { "class": "card", "data-plot": id, id: "plot-" + id }, app);
    h("h2", {}, sec, title);
    if (note) h("p", { "class": "note" }, sec, note);
    return sec;
  }
  function empty(sec, why) { h("p", { "class": "empty" }, sec, why); }

  // An XY frame with axes; returns scales. opts: w, h, x:[lo,hi], y:[lo,hi], xlog, xlabel, ylabel.
  function frame(parent, o) {
    var W = o.w || 560, H = o.h || 320, L = 70, R = 16, T = 14, B = 46;
    var x0 = o.x[0], x1 = o.x[1], y0 = o.y[0], y1 = o.y[1];
    var svg = s("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "chart",
                         "data-x0": x0, "data-x1": x1, "data-y0": y0, "data-y1": y1 }, parent);
    var X = o.xlog
      ? function (v) { return L + (Math.log10(v) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0)) * (W - L - R); }
      : function (v) { return L + (v - x0) / (x1 - x0 || 1) * (W - L - R); };
    var Y = function (v) { return H - B - (v - y0) / (y1 - y0 || 1) * (H - T - B); };
    var g = s("g", { "class": "axis" }, svg);
    (o.xlog ? logTicks(x0, x1) : niceTicks(x0, x1, 6)).forEach(function (t) {
      if (t < x0 || t > x1) return;
      s("line", { x1: X(t), x2: X(t), y1: T, y2: H - B, "class": "grid" }, g);
      s("text", { x: X(t), y: H - B + 16, "text-anchor": "middle" }, g, o.xfmt ? o.xfmt(t) : short(t));
    });
    niceTicks(y0, y1, 5).forEach(function (t) {
      if (t < y0 || t > y1) return;
      s("line", { x1: L, x2: W - R, y1: Y(t), y2: Y(t), "class": "grid" }, g);
      s("text", { x: L - 6, y: Y(t) + 4, "text-anchor": "end" }, g, o.yfmt ? o.yfmt(t) : short(t));
    });
    s("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, "class": "domain" }, g);
    s("line", { x1: L, x2: L, y1: T, y2: H - B, "class": "domain" }, g);
    s("text", { x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle", "class": "label" }, g, o.xlabel);
    s("text", { x: 14, y: (T + H - B) / 2, "text-anchor": "middle", "class": "label",
                transform: "rotate(-90 14 " + (T + H - B) / 2 + ")" }, g, o.ylabel);
    return { svg: svg, X: X, Y: Y, L: L, R: R, T: T, B: B, W: W, H: H };
  }

  function legend(parent, items) {
    var ul = h("ul", { "class": "legend" }, parent);
    items.forEach(function (it) {
      var li = h("li", {}, ul);
      h("span", { "class": "swatch" + (it.dashed ? " dashed" : ""), style: "background:" + it.color }, li);
      h("span", {}, li, it.text);
    });
    return ul;
  }

  // Room for the longest row label (11px sans: ~6.2 px a character), within reason.
  function labelWidth(labels) {
    var n = labels.reduce(function (a, l) { return Math.max(a, l.length); }, 0);
    return Math.min(460, Math.max(100, Math.ceil(n * 6.2) + 16));
  }

  // Horizontal stacked bars: rows [{label, parts:[{key, value, color, title}]}].
  function hbars(parent, rows, o) {
    var longest = rows.reduce(function (a, r) { return Math.max(a, String(r.total || "").length); }, 0);
    var rowH = 22, L = labelWidth(rows.map(function (r) { return r.label; })), R = Math.max(70, longest * 6.2 + 12),
        T = 8, B = 40;
    var W = Math.max(o.w || 760, L + 260), H = T + B + rows.length * rowH;
    var max = 0;
    rows.forEach(function (r) {
      var tot = r.parts.reduce(function (a, p) { return a + (p.value || 0); }, 0);
      if (tot > max) max = tot;
    });
    if (o.max) max = Math.max(max, o.max);
    if (max <= 0) max = 1;
    var svg = s("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "chart" }, parent);
    var X = function (v) { return L + v / max * (W - L - R); };
    var g = s("g", { "class": "axis" }, svg);
    niceTicks(0, max, 5).forEach(function (t) {
      s("line", { x1: X(t), x2: X(t), y1: T, y2: H - B, "class": "grid" }, g);
      s("text", { x: X(t), y: H - B + 15, "text-anchor": "middle" }, g, o.tick ? o.tick(t) : short(t));
    });
    s("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", "class": "label" }, g, o.xlabel);
    rows.forEach(function (r, i) {
      var y = T + i * rowH;
      s("text", { x: L - 8, y: y + rowH / 2 + 4, "text-anchor": "end", "class": "rowlabel" }, svg, r.label);
      var x = 0;
      r.parts.forEach(function (p) {
        if (p.value === null || p.value === undefined) return;
        var rect = s("rect", { x: X(x), y: y + 3, width: Math.max(0.5, X(x + p.value) - X(x)), height: rowH - 6,
                               fill: p.color, "data-point": "" }, svg);
        tip(rect, p.title || (p.key + ": " + fmt(p.value)));
        x += p.value;
      });
      if (r.total !== undefined) {
        s("text", { x: X(x) + 4, y: y + rowH / 2 + 4, "class": "value" }, svg, r.total);
      }
    });
    return svg;
  }

  // ---------- the summary table ----------
  (function summary() {
    var sec = h("section", { "class": "card wide", id: "summary" }, app);
    h("h2", {}, sec, "Profiles");
    var t = h("table", { "class": "summary" }, sec);
    var head = h("tr", {}, h("thead", {}, t));
    ["configuration", "dataset", "accuracy (device)", "full window", "new window", "cost unit (source)", "RAM B",
     "flash B", "file"].forEach(function (c) { h("th", {}, head, c); });
    var body = h("tbody", {}, t);
    P.forEach(function (p) {
      var tr = h("tr", {}, body);
      var c = meta(p, "cost.full_window.median");
      h("td", { "class": "label" }, tr, p.label);
      h("td", {}, tr, p.dataset + " " + p.split + " (" + p.count + ")");
      h("td", { "class": "num" }, tr, fmt(m(p, "accuracy.device"), "fraction"));
      h("td", { "class": "num" }, tr, fmt(m(p, "cost.full_window.median")));
      h("td", { "class": "num" }, tr, fmt(m(p, "cost.stream_window.median")));
      h("td", {}, tr, c ? c.unit + " (" + c.source + ")" : "-");
      h("td", { "class": "num" }, tr, fmt(ramTotal(p)));
      h("td", { "class": "num" }, tr, fmt(flashTotal(p)));
      h("td", { "class": "file" }, tr, p.file);
    });
  })();

  // ---------- where the time goes ----------
  var STAGE_COLORS = { lower: ["#0072B2", "#7FB8D8"], upper: ["#009E73", "#7FCEB9"], head: ["#E69F00", "#F2CF7F"],
                       io: ["#CC79A7", "#CC79A7"], other: ["#999999", "#999999"],
                       checkpoints: ["#444444", "#444444"] };
  (function breakdown() {
    var sec = card("breakdown", "Where the time goes",
      "One bar per profile: the share of a full window's cost in each stage — the lower level (the cell over " +
      "each brick), the upper level (over the brick outputs), the head (classifier), io (runner and glue) and " +
      "other (the composition's loops). Dark: matrix products (mac); light: the rest (activations, " +
      "requantization, state updates). Shares of instructions (exact, qemu-plugin-instructions); hover for " +
      "the counts and the estimated cycles.");
    sec.id = "breakdown";
    var rows = P.filter(function (p) { return p.breakdown; });
    if (!rows.length) return empty(sec, "No profile has a stage breakdown (QEMU runs with the profile plugin have one).");
    hbars(sec, rows.map(function (p) {
      var b = p.breakdown, total = b.stages.reduce(function (a, st) { return a + (st.value || 0); }, 0) || 1;
      var parts = [];
      b.stages.forEach(function (st) {
        var c = STAGE_COLORS[st.stage];
        var split = st.mac !== undefined && st.mac !== null ? [["mac", st.mac, c[0]], ["act", st.act, c[1]]]
                                                            : [["", st.value, c[0]]];
        split.forEach(function (sp) {
          if (!sp[1]) return;
          parts.push({ key: st.stage + (sp[0] ? " " + sp[0] : ""), value: 100 * sp[1] / total, color: sp[2],
                       title: p.label + "\n" + st.stage + (sp[0] ? " (" + sp[0] + ")" : "") + ": " + fmt(sp[1]) + " " +
                              b.unit + " (" + (100 * sp[1] / total).toFixed(1) + "%)" +
                              (st.cycles !== null && !sp[0] ? "\nestimated " + fmt(st.cycles) + " cycles (" +
                               b.cycles_source + ")" : "") });
        });
      });
      var lat = p.latency && p.latency.full_window;
      return { label: p.label, parts: parts,
               total: short(total) + " " + b.unit.slice(0, 5) + "." + (lat ? " · " + lat.value.toPrecision(3) + " ms" +
                      (lat.basis === "estimate" ? " (est.)" : "") : "") };
    }), { xlabel: "share of a full window (%)", w: 900, max: 100, tick: function (t) { return t + "%"; } });
    var items = [];
    ["lower", "upper", "head"].forEach(function (st) {
      items.push({ color: STAGE_COLORS[st][0], text: st + " (mac)" }, { color: STAGE_COLORS[st][1], text: st + " (act)" });
    });
    items.push({ color: STAGE_COLORS.io[0], text: "io" }, { color: STAGE_COLORS.other[0], text: "other" });
    if (rows.some(function (p) { return p.breakdown.stages.some(function (st) { return st.stage === "checkpoints"; }); })) {
      items.push({ color: STAGE_COLORS.checkpoints[0], text: "checkpoints (their own time, --breakdown builds)" });
    }
    legend(sec, items);
  })();

  // ---------- milliseconds per inference ----------
  (function latency() {
    var sec = card("latency", "Milliseconds per inference",
      "At each board file's clock. Estimates (badged) come from the Cortex-M4 cycle model: the TRM's timing " +
      "tables applied to the instructions that ran, plus the board's flash wait states (estimate-cm4-trm) — " +
      "not measurements. Cycles a DWT counted on a board are measured; Renode's are virtual time.");
    var rows = P.filter(function (p) { return p.latency && p.latency.full_window; });
    if (!rows.length) return empty(sec, "No profile has cycle figures (a Cortex-M4 QEMU run with the profile plugin, " +
                                        "or a board's DWT).");
    if (rows.some(function (p) { return p.latency.full_window.basis === "estimate"; })) {
      sec.querySelector("h2").appendChild(h("span", { "class": "badge" }, null, "estimate"));
    }
    var out = [];
    rows.forEach(function (p) {
      [["full_window", "full", "#0072B2"], ["stream_window", "new", "#E69F00"]].forEach(function (w) {
        var l = p.latency[w[0]];
        if (!l) return;
        var tag = l.basis === "estimate" ? " (est.)" : l.basis === "virtual time" ? " (virtual)" : "";
        out.push({ label: p.label + " " + w[1], total: l.value.toPrecision(3) + " ms" + tag,
                   parts: [{ key: w[1], value: l.value, color: w[2], title: p.label + "\n" + w[1] + " window: " +
                             l.value.toPrecision(4) + " ms at " + (DATA.boards[p.board] ?
                             DATA.boards[p.board].clock_hz / 1e6 + " MHz" : "the board's clock") + " (" + l.basis + ", " +
                             l.source + ")" }] });
      });
    });
    hbars(sec, out, { xlabel: "ms per inference", w: 900 });
    legend(sec, [{ color: "#0072B2", text: "full window" }, { color: "#E69F00", text: "new window (streamed)" }]);
  })();

  function ramTotal(p) {
    var parts = ["ram.data", "ram.bss", "ram.stack_peak"].map(function (n) { return m(p, n); });
    return parts.every(function (v) { return v === null; }) ? null
      : parts.reduce(function (a, v) { return a + (v || 0); }, 0);
  }
  function flashTotal(p) {
    var parts = ["flash.code", "flash.weights"].map(function (n) { return m(p, n); });
    return parts.every(function (v) { return v === null; }) ? null
      : parts.reduce(function (a, v) { return a + (v || 0); }, 0);
  }
  function costGroups(name, filter) {
    // Numbers of different units or sources never share an axis.
    var rows = P.filter(function (p) { return m(p, name) !== null && (!filter || filter(p)); });
    return groupBy(rows, function (p) { var c = meta(p, name); return c.unit + " (" + c.source + ")"; });
  }

  // ---------- 1. cost per new window against k, with c·(T/k + k) ----------
  (function costVsK() {
    var sec = card("cost-vs-k", "Cost per new window against k",
      "Streaming: each new window costs one brick of k steps in the lower cell plus T/k steps of the upper " +
      "cell, O(T/k + k) in the paper. Dots: measured medians. Dashed: c·(T/k + k) with the constant c fitted " +
      "per series by least squares through the origin, c = Σ y·f / Σ f² with f = T/k + k.");
    var groups = costGroups("cost.stream_window.median", function (p) { return p.k; });
    if (!groups.length) return empty(sec, "No profile has a streamed cost and a brick length k.");
    groups.forEach(function (grp) {
      var unit = grp[0], rows = grp[1];
      var series = groupBy(rows, function (p) { return p.series; });
      var colors = colorMap(series.map(function (x) { return x[0]; }));
      var ks = rows.map(function (p) { return p.k; });
      var kmin = Math.min.apply(null, ks), kmax = Math.max.apply(null, ks);
      if (kmin === kmax) { kmin = Math.max(1, kmin - 1); kmax = kmax + 1; }
      var fits = series.map(function (sr) {
        var num = 0, den = 0, T = sr[1][0].T;
        var own = uniq(sr[1].map(function (p) { return p.k; }));
        sr[1].forEach(function (p) { var f = T / p.k + p.k; num += m(p, "cost.stream_window.median") * f; den += f * f; });
        var c = num / den, ssr = 0, sst = 0;
        var ys = sr[1].map(function (p) { return m(p, "cost.stream_window.median"); });
        var mean = ys.reduce(function (a, v) { return a + v; }, 0) / ys.length;
        sr[1].forEach(function (p, i) { var f = T / p.k + p.k; ssr += Math.pow(ys[i] - c * f, 2); sst += Math.pow(ys[i] - mean, 2); });
        // A curve through fewer than three k says nothing about its shape: no curve, no constant.
        return { name: sr[0], rows: sr[1], c: c, T: T, r2: sst > 0 ? 1 - ssr / sst : null, fitted: own.length >= 3,
                 kmin: Math.min.apply(null, own), kmax: Math.max.apply(null, own) };
      });
      var ymax = 0;
      fits.forEach(function (f) {
        f.rows.forEach(function (p) { ymax = Math.max(ymax, m(p, "cost.stream_window.median")); });
        if (f.fitted) for (var k = f.kmin; k <= f.kmax; k += (f.kmax - f.kmin) / 60) ymax = Math.max(ymax, f.c * (f.T / k + k));
      });
      var fr = frame(sec, { x: [kmin * 0.9, kmax * 1.05], y: [0, ymax * 1.08], xlabel: "k (steps per brick)",
                            ylabel: unit.split(" (")[0] + " per new window", xfmt: function (t) { return String(t); } });
      h("p", { "class": "note" }, sec, "y: " + unit);
      fits.forEach(function (f) {
        if (f.fitted) {
          var d = "";
          for (var i = 0; i <= 80; i++) {
            var k = f.kmin + (f.kmax - f.kmin) * i / 80;
            d += (i ? "L" : "M") + fr.X(k).toFixed(1) + "," + fr.Y(f.c * (f.T / k + k)).toFixed(1);
          }
          tip(s("path", { d: d, "class": "fit", stroke: colors[f.name], "data-series": f.name }, fr.svg),
              f.name + ": c = " + fmt(f.c) + " per step");
        }
        f.rows.slice().sort(function (a, b) { return a.k - b.k; }).forEach(function (p) {
          var v = m(p, "cost.stream_window.median");
          tip(s("circle", { cx: fr.X(p.k), cy: fr.Y(v), r: 5, fill: colors[f.name], "data-point": "" }, fr.svg),
              p.label + "\nk=" + p.k + ": " + fmt(v) + " " + unit);
        });
      });
      legend(sec, fits.map(function (f) {
        if (!f.fitted) return { color: colors[f.name], text: f.name + " — " + f.rows.length + " point(s): no curve " +
                                "(a fit needs three k or more)" };
        return { color: colors[f.name], text: f.name + " — c = " + fmt(f.c) + " per step, T = " + f.T +
                 (f.r2 !== null ? ", R² = " + f.r2.toFixed(3) : "") };
      }));
    });
  })();

  // ---------- 2. accuracy against cost, Pareto front ----------
  (function pareto() {
    var sec = card("pareto", "Accuracy against cost (Pareto front)",
      "One dot per profile, coloured by family and cells. The line joins the Pareto-optimal profiles: none " +
      "other is both cheaper and at least as accurate. Cost: median full-window inference.");
    var groups = costGroups("cost.full_window.median", function (p) { return m(p, "accuracy.device") !== null; });
    if (!groups.length) return empty(sec, "No profile has both an accuracy and a full-window cost.");
    groups.forEach(function (grp) {
      var unit = grp[0], rows = grp[1];
      var kinds = colorMap(rows.map(function (p) { return p.kind; }));
      var xs = rows.map(function (p) { return m(p, "cost.full_window.median"); });
      var lo = Math.min.apply(null, xs), hi = Math.max.apply(null, xs);
      var xlog = hi / lo > 8, pad = Math.max((hi - lo) * 0.1, hi * 0.05, 1);
      var x0 = xlog ? lo / 1.3 : Math.max(0, lo - pad), x1 = xlog ? hi * 1.3 : hi + pad;
      // The accuracy axis spans the data (with a margin), not 0..1: profiles at 0.95..1.0 stay apart.
      var accs = rows.map(function (p) { return m(p, "accuracy.device"); });
      var alo = Math.min.apply(null, accs), ahi = Math.max.apply(null, accs);
      var apad = Math.max((ahi - alo) * 0.12, 0.01);
      var y0 = Math.max(0, alo - apad), y1 = Math.min(1, ahi + apad);
      if (y1 - y0 < 0.02) { y0 = Math.max(0, y1 - 0.02); }
      var fr = frame(sec, { x: [x0, x1], xlog: xlog, y: [y0, y1], xlabel: unit + " per full window",
                            ylabel: "accuracy on device",
                            yfmt: function (t) { return t.toFixed(y1 - y0 < 0.1 ? 3 : 2); } });
      var sorted = rows.slice().sort(function (a, b) {
        return m(a, "cost.full_window.median") - m(b, "cost.full_window.median") ||
               m(b, "accuracy.device") - m(a, "accuracy.device");
      });
      var front = [], best = -1;
      sorted.forEach(function (p) { if (m(p, "accuracy.device") > best) { front.push(p); best = m(p, "accuracy.device"); } });
      var d = "";
      front.forEach(function (p, i) {
        var x = fr.X(m(p, "cost.full_window.median")), y = fr.Y(m(p, "accuracy.device"));
        d += i ? "H" + x.toFixed(1) + "V" + y.toFixed(1) : "M" + x.toFixed(1) + "," + y.toFixed(1);
      });
      if (front.length) s("path", { d: d, "class": "front" }, fr.svg);
      rows.forEach(function (p) {
        var onFront = front.indexOf(p) >= 0;
        var c = s("circle", { cx: fr.X(m(p, "cost.full_window.median")), cy: fr.Y(m(p, "accuracy.device")),
                              r: onFront ? 6 : 4.5, fill: kinds[p.kind], "class": onFront ? "on-front" : "",
                              "data-point": "" }, fr.svg);
        tip(c, p.label + "\naccuracy " + fmt(m(p, "accuracy.device"), "fraction") + ", " +
               fmt(m(p, "cost.full_window.median")) + " " + unit + (onFront ? "\non the Pareto front" : ""));
      });
      legend(sec, Object.keys(kinds).map(function (k) { return { color: kinds[k], text: k }; })
        .concat([{ color: "#444", text: "Pareto front (" + front.length + " of " + rows.length + ")", dashed: true }]));
    });
  })();

  // ---------- 3. RAM and flash, stacked ----------
  (function memory() {
    var sec = card("memory", "RAM and flash",
      "Stacked per profile. RAM: initialised data and bss (static-elf; bss split into model state and the " +
      "rest) plus the peak stack measured by stack painting. Flash: code and weights (static-elf).");
    var rows = P.filter(function (p) { return ramTotal(p) !== null || flashTotal(p) !== null; });
    if (!rows.length) return empty(sec, "No profile has memory figures.");
    var RAM = [["ram.data", "data", "#0072B2"], ["bss-other", "bss (runner, buffers)", "#56B4E9"],
               ["ram.model_state", "model state", "#009E73"], ["ram.stack_peak", "stack (peak)", "#E69F00"]];
    var FLASH = [["flash.code", "code", "#CC79A7"], ["flash.weights", "weights", "#D55E00"]];
    function part(p, spec) {
      var v = spec[0] === "bss-other" ? (m(p, "ram.bss") === null ? null : m(p, "ram.bss") - (m(p, "ram.model_state") || 0))
                                       : m(p, spec[0]);
      var src = spec[0] === "bss-other" ? meta(p, "ram.bss") : meta(p, spec[0]);
      return { key: spec[1], value: v, color: spec[2],
               title: p.label + "\n" + spec[1] + ": " + fmt(v) + " bytes" + (src ? " (" + src.source + ")" : "") };
    }
    var wrap = h("div", { "class": "pair" }, sec);
    var a = h("div", {}, wrap), b = h("div", {}, wrap);
    h("h3", {}, a, "RAM (bytes)");
    hbars(a, rows.map(function (p) {
      return { label: p.label, parts: RAM.map(function (sp) { return part(p, sp); }), total: fmt(ramTotal(p)) };
    }), { xlabel: "bytes", w: 620, labelWidth: 250 });
    legend(a, RAM.map(function (sp) { return { color: sp[2], text: sp[1] }; }));
    h("h3", {}, b, "Flash (bytes)");
    hbars(b, rows.map(function (p) {
      return { label: p.label, parts: FLASH.map(function (sp) { return part(p, sp); }), total: fmt(flashTotal(p)) };
    }), { xlabel: "bytes", w: 620, labelWidth: 250 });
    legend(b, FLASH.map(function (sp) { return { color: sp[2], text: sp[1] }; }));
  })();

  // ---------- 4. confusion matrix ----------
  (function confusion() {
    var sec = card("confusion", "Confusion matrix (device)",
      "Windows by true class (rows) and the class the device predicted (columns). Choose a profile:");
    var rows = P.filter(function (p) { var c = p.metrics["confusion.device"]; return c && Array.isArray(c.value) && c.value.length; });
    if (!rows.length) return empty(sec, "No profile has a confusion matrix.");
    // Open on the profile with the most windows, and of those the one with the fewest empty rows (a
    // short sweep run leaves classes without a window).
    function emptyRows(p) {
      return p.metrics["confusion.device"].value.filter(function (r) {
        return r.reduce(function (a, v) { return a + v; }, 0) === 0;
      }).length;
    }
    var first = 0;
    rows.forEach(function (p, i) {
      var b = rows[first];
      if (p.count > b.count || (p.count === b.count && emptyRows(p) < emptyRows(b))) first = i;
    });
    var sel = h("select", { "aria-label": "profile" }, sec);
    rows.forEach(function (p, i) { h("option", { value: String(i) }, sel, p.label); });
    sel.value = String(first);
    var holder = h("div", {}, sec);
    function draw(p) {
      holder.textContent = "";
      var M = p.metrics["confusion.device"].value, n = M.length;
      var names = p.class_names && p.class_names.length === n ? p.class_names : M.map(function (_, i) { return String(i); });
      var cell = Math.max(34, Math.min(64, Math.floor(420 / n))), L = 110, T = 90;
      var W = L + n * cell + 20, H = T + n * cell + 20;
      var svg = s("svg", { width: W, height: H, viewBox: "0 0 " + W + " " + H, "class": "chart" }, holder);
      var max = 0;
      M.forEach(function (r) { r.forEach(function (v) { max = Math.max(max, v); }); });
      names.forEach(function (nm, j) {
        s("text", { x: L + j * cell + cell / 2, y: T - 8, "text-anchor": "start", "class": "rowlabel",
                    transform: "rotate(-40 " + (L + j * cell + cell / 2) + " " + (T - 8) + ")" }, svg, nm);
        s("text", { x: L - 8, y: T + j * cell + cell / 2 + 4, "text-anchor": "end", "class": "rowlabel" }, svg, nm);
      });
      M.forEach(function (r, i) {
        var total = r.reduce(function (a, v) { return a + v; }, 0);
        r.forEach(function (v, j) {
          var t = max ? v / max : 0;
          var fill = i === j ? "rgba(0,114,178," + (0.12 + 0.88 * t) + ")" : (v ? "rgba(213,94,0," + (0.15 + 0.85 * t) + ")" : "#f6f6f6");
          tip(s("rect", { x: L + j * cell, y: T + i * cell, width: cell - 2, height: cell - 2, fill: fill, "data-point": "" }, svg),
              "true " + names[i] + ", predicted " + names[j] + ": " + v + " of " + total + " windows");
          s("text", { x: L + j * cell + cell / 2 - 1, y: T + i * cell + cell / 2 + 4, "text-anchor": "middle",
                      "class": t > 0.55 ? "cell dark" : "cell" }, svg, String(v));
        });
      });
      h("p", { "class": "note" }, holder, p.label + " — " + p.dataset + " " + p.split + ", accuracy " +
        fmt(m(p, "accuracy.device"), "fraction") + " (" + p.metrics["confusion.device"].source + ")");
    }
    sel.addEventListener("change", function () { draw(rows[+sel.value]); });
    draw(rows[first]);
  })();

  // ---------- 5. device/host agreement ----------
  (function agreement() {
    var sec = card("agreement", "Device/host agreement",
      "Fractions of windows: device logits bit-equal to the same C kernel compiled for the host; streamed " +
      "(brick by brick) logits bit-equal to the full window's; device class equal to torch's class. Every " +
      "check is summarised in one row; only profiles below 1.000 get a bar.");
    var KINDS = [["agreement.device_host", "device = host C (bit-equal)", "#0072B2"],
                 ["agreement.device_reference", "device = integer reference (bit-equal)", "#56B4E9"],
                 ["agreement.stream_full", "stream = full window (bit-equal)", "#009E73"],
                 ["agreement.device_torch_class", "device class = torch class", "#E69F00"]];
    var have = KINDS.filter(function (k) { return P.some(function (p) { return m(p, k[0]) !== null; }); });
    if (!have.length) return empty(sec, "No profile has agreement figures.");
    var t = h("table", { "class": "summary" }, sec);
    var head = h("tr", {}, h("thead", {}, t));
    ["check", "profiles", "at 1.000", "below 1.000", "lowest"].forEach(function (c) { h("th", {}, head, c); });
    var body = h("tbody", {}, t);
    var below = [];
    have.forEach(function (k) {
      var rows = P.filter(function (p) { return m(p, k[0]) !== null; });
      var exact = rows.filter(function (p) { return m(p, k[0]) === 1; });
      var low = rows.slice().sort(function (a, b) { return m(a, k[0]) - m(b, k[0]); })[0];
      var tr = h("tr", { "data-point": "", "data-check": k[0] }, body);
      h("td", {}, tr, k[1]);
      h("td", { "class": "num" }, tr, String(rows.length));
      h("td", { "class": "num" }, tr, String(exact.length));
      h("td", { "class": "num" }, tr, String(rows.length - exact.length));
      h("td", {}, tr, exact.length === rows.length ? "all exact" : fmt(m(low, k[0]), "fraction") + " — " + low.label);
      rows.forEach(function (p) { if (m(p, k[0]) < 1) below.push({ p: p, k: k }); });
    });
    if (!below.length) {
      h("p", { "class": "note" }, sec, "Every profile agrees exactly on every check it has: no bars to draw.");
      return;
    }
    hbars(sec, below.map(function (b) {
      var v = m(b.p, b.k[0]);
      return { label: b.p.label + " — " + b.k[1], total: v.toFixed(3),
               parts: [{ key: b.k[1], value: v, color: b.k[2], title: b.p.label + "\n" + b.k[1] + ": " + v.toFixed(3) }] };
    }), { xlabel: "fraction of windows (profiles below 1.000 only)", w: 900, max: 1,
          tick: function (t) { return t.toFixed(2); } });
  })();

  // ---------- 6. boards side by side ----------
  (function boards() {
    var sec = card("boards", "Boards side by side",
      "One panel per board, each on its own axis: counts from different boards can have different units and " +
      "sources (an emulator counts instructions; a DWT counts cycles) and are never drawn on one axis. Bars: " +
      "median cost per full window and per new window of each configuration.");
    var rows = P.filter(function (p) { return m(p, "cost.full_window.median") !== null; });
    if (!rows.length) return empty(sec, "No profile has a full-window cost.");
    var byBoard = groupBy(rows, function (p) { return p.board; });
    if (byBoard.length === 1) h("p", { "class": "note" }, sec, "Only one board (" + byBoard[0][0] + ") in these profiles.");
    var wrap = h("div", { "class": "pair" }, sec);
    var configs = uniq(rows.map(function (p) { return p.label.split(" · ")[0]; }));
    byBoard.forEach(function (bb) {
      var board = bb[0], list = bb[1], info = DATA.boards[board];
      var panel = h("div", { "class": "board", "data-board": board }, wrap);
      h("h3", {}, panel, board);
      if (info) h("p", { "class": "note" }, panel, info.cpu + ", " + (info.clock_hz / 1e6) + " MHz, " +
        (info.ram_bytes / 1024) + " KB RAM, " + (info.flash_bytes / 1024) + " KB flash");
      var units = groupBy(list, function (p) { var c = meta(p, "cost.full_window.median"); return c.unit + " (" + c.source + ")"; });
      units.forEach(function (u) {
        var sorted = u[1].slice().sort(function (a, b) {
          return configs.indexOf(a.label.split(" · ")[0]) - configs.indexOf(b.label.split(" · ")[0]);
        });
        hbars(panel, [].concat.apply([], sorted.map(function (p) {
          var name = p.label.split(" · ")[0];
          return [
            { label: name + " full", parts: [{ key: "full window", value: m(p, "cost.full_window.median"), color: "#0072B2",
              title: name + " on " + board + "\nfull window: " + fmt(m(p, "cost.full_window.median")) + " " + u[0] }],
              total: short(m(p, "cost.full_window.median")) },
            { label: name + " new", parts: [{ key: "new window", value: m(p, "cost.stream_window.median"), color: "#E69F00",
              title: name + " on " + board + "\nnew window: " + fmt(m(p, "cost.stream_window.median")) + " " + u[0] }],
              total: m(p, "cost.stream_window.median") === null ? "-" : short(m(p, "cost.stream_window.median")) }];
        })), { xlabel: u[0], w: 600, labelWidth: 220 });
      });
    });
    legend(sec, [{ color: "#0072B2", text: "full window (median)" }, { color: "#E69F00", text: "new window, streamed (median)" }]);
  })();

  // ---------- 7. energy per inference (estimate) ----------
  (function energy() {
    var sec = card("energy", "Energy per inference — estimate",
      "E = cycles × (µA/MHz) × V × 1e-12 J, from the board file's typical run current and supply voltage. " +
      "Emulated profiles count instructions, not cycles: their estimate uses the Cortex-M4 cycle estimate " +
      "where the profile has one, else assumes one cycle per instruction (the basis below says which). " +
      "Not a measurement.");
    sec.querySelector("h2").appendChild(h("span", { "class": "badge" }, null, "estimate"));
    var rows = P.filter(function (p) { return p.energy && p.energy.full_window; });
    if (!rows.length) return empty(sec, "No profile has a cost and a board file with energy figures.");
    hbars(sec, [].concat.apply([], rows.map(function (p) {
      var e = p.energy, out = [];
      [["full_window", "full", "#D55E00"], ["stream_window", "new", "#CC79A7"]].forEach(function (w) {
        if (!e[w[0]]) return;
        var v = e[w[0]].value;
        out.push({ label: p.label + " " + w[1], total: fmt(v) + " µJ",
                   parts: [{ key: w[1], value: v, color: w[2],
                             title: p.label + "\n" + w[1] + " window: " + v.toPrecision(3) + " µJ (estimate)\n" +
                                    e[w[0]].basis + "\nfrom " + e[w[0]].from + "; " + e.ua_per_mhz + " µA/MHz × " +
                                    e.volts + " V (" + e.board_source + ")" }] });
      });
      return out;
    })), { xlabel: "µJ per inference (estimate)", w: 900, labelWidth: 300 });
    var bases = uniq(rows.map(function (p) { return p.energy.full_window.basis; }));
    h("p", { "class": "note" }, sec, "Basis: " + bases.join("; ") + ". Board figures: " +
      uniq(rows.map(function (p) { return p.board + ": " + p.energy.ua_per_mhz + " µA/MHz, " + p.energy.volts + " V (" +
        p.energy.board_source + ")"; })).join("; "));
    legend(sec, [{ color: "#D55E00", text: "full window" }, { color: "#CC79A7", text: "new window (streamed)" }]);
  })();

  // ---------- two cores: critical path against k, with c0 + c1·T/k + c2·k ----------
  (function parallelK() {
    var S = DATA.parallel || [];
    if (!S.length) return;              // only with two-core profiles (workbench run --cores 2)
    var sec = card("parallel-k", "Two cores: critical path of a full window against k",
      "k-wise parallelism: the lower level's bricks split across two cores, core 0 also runs the upper level. " +
      "Dots: the critical path of the two cores' counts (equal clocks, no bus contention: a lower bound on the " +
      "real time). Hollow: the same model on one core. Dashed: c0 + c1·T/k + c2·k fitted by least squares " +
      "(c1·T/k: the upper level; c2·k: a brick; c0: the lower-level steps each core still runs in turn).");
    var curve = function (f, T, k) { return f.c0 + f.c1 * T / k + f.c2 * k; };
    S.forEach(function (sr, n) {        // one frame per series: float and int16 counts differ by 6x
      var c = COLORS[n % COLORS.length], unit = sr.unit + " (" + sr.source + ")";
      var ks = [], ys = [];
      sr.points.forEach(function (p) { ks.push(p.k); ys.push(p.critical); });
      sr.one_core.forEach(function (p) { ks.push(p.k); ys.push(p.cost); });
      var kmin = Math.min.apply(null, ks), kmax = Math.max.apply(null, ks);
      if (kmin === kmax) { kmin = Math.max(1, kmin - 1); kmax = kmax + 1; }
      if (sr.fit) for (var j = 0; j <= 60; j++) ys.push(curve(sr.fit, sr.T, kmin + (kmax - kmin) * j / 60));
      h("h3", {}, sec, sr.series);
      var fr = frame(sec, { x: [kmin * 0.9, kmax * 1.05], y: [0, Math.max.apply(null, ys) * 1.08],
                            xlabel: "k (steps per brick)", ylabel: sr.unit + " per full window",
                            xfmt: function (t) { return String(t); } });
      if (sr.fit) {
        var d = "";
        for (var i = 0; i <= 80; i++) {
          var k = kmin + (kmax - kmin) * i / 80;
          d += (i ? "L" : "M") + fr.X(k).toFixed(1) + "," + fr.Y(curve(sr.fit, sr.T, k)).toFixed(1);
        }
        tip(s("path", { d: d, "class": "fit", stroke: c }, fr.svg), sr.series + ": c0 = " + fmt(sr.fit.c0) +
            ", c1 = " + fmt(sr.fit.c1) + ", c2 = " + fmt(sr.fit.c2));
      }
      sr.points.forEach(function (p) {
        tip(s("circle", { cx: fr.X(p.k), cy: fr.Y(p.critical), r: 5, fill: c, "data-point": "" }, fr.svg),
            sr.series + "\nk=" + p.k + ", two cores: critical path " + fmt(p.critical) + " " + unit +
            "\ncore 0 " + fmt(p.core0) + ", core 1 " + fmt(p.core1));
      });
      sr.one_core.forEach(function (p) {
        tip(s("circle", { cx: fr.X(p.k), cy: fr.Y(p.cost), r: 5, fill: "none", style: "stroke:" + c +
                          ";stroke-width:1.6", "data-point": "" }, fr.svg), sr.series + "\nk=" + p.k + ", one core: " + fmt(p.cost) + " " + unit);
      });
      legend(sec, [{ color: c, text: "two cores, critical path" + (sr.fit ? "; fit c0 = " + fmt(sr.fit.c0) +
                     ", c1 = " + fmt(sr.fit.c1) + ", c2 = " + fmt(sr.fit.c2) + ", T = " + sr.T
                     : " (fewer than three k: no fit)") + "; hollow: one core — y: " + unit }]);
    });
  })();

  document.body.setAttribute("data-ready", "1");
})();
