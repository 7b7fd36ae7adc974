/*
 * covid-etl public dashboard: headlines and three uPlot charts in sync, from the API (relative
 * URLs: works behind a path prefix). 7-day averages are the API's (the NYT's rule). The place's
 * NYT notes (/api/v1/anomalies) are marked on the daily charts and listed; how its figures
 * settled (/revisions) is a bar row. #as_of=YYYY-MM-DD adds as_of= to every data request; a
 * day clicked lists its publication history (/api/v1/changes).
 * For a strict CSP: no inline script or style; styles only through the CSSOM (element.style).
 */
(function () {
  "use strict";

  var ENDPOINTS = {
    records: "api/v1/records?format=json",
    summary: "api/v1/summary",
    runChanges: "api/v1/runs/{id}/changes?series=national&format=json",
    notes: "api/v1/anomalies?geoid=",
    changes: "api/v1/changes?series={series}&start={day}&end={day}",
  };
  var NATIONAL = { geoid: "USA", name: "the United States" };
  var DAY = 86400; // seconds; uPlot time scales use Unix seconds
  var MAX_PAGES = 100;

  var COLORS = {
    cases: "#1f5fa8",
    casesThin: "rgba(31, 95, 168, 0.38)",
    deaths: "#b3261e",
    deathsThin: "rgba(179, 38, 30, 0.45)",
    recovered: "#1e7a3c",
    axis: "#4a5360",
    grid: "#e9ecf0",
    tick: "#cfd5dc",
    marker: "#6b7480",
    revised: "#b26a00",
    omitted: "#1b1f24",
    omittedFill: "rgba(255, 255, 255, 0.75)",
    note: "rgba(106, 61, 154, 0.5)",
    noteBand: "rgba(106, 61, 154, 0.12)",
  };
  // The daily charts, one per measure: its name in the notes' "type", columns and colours.
  var MEASURES = {
    daily: {
      type: "cases",
      label: "Cases",
      key: "new_cases",
      color: COLORS.cases,
      thin: COLORS.casesThin,
    },
    deaths: {
      type: "deaths",
      label: "Deaths",
      key: "new_deaths",
      color: COLORS.deaths,
      thin: COLORS.deathsThin,
    },
  };
  var MARK_STRIP = 18; // CSS px above a daily chart's plot area, where the notes' marks sit
  var ISO_DAY = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;

  var state = {
    records: [],
    summary: null,
    xs: [],
    full: null, // [min, max] of the x data
    range: null, // current visible x range
    log: false,
    charts: {}, // name -> uPlot instance
    drawn: {}, // name -> true once drawn with data
    syncing: false,
    recoveredStop: null, // Unix seconds of the first date without a recovered value
    revised: [], // Unix seconds of the days the last run revised (the change log)
    observers: [],
    place: null, // { geoid, name } whose notes are asked for or shown
    notes: [], // the NYT's notes for that place
    notesTicket: 0, // the latest notes request; older answers are ignored
    historyTicket: 0, // the latest day-history request
    settledTicket: 0, // the latest revisions request
  };

  /* as of */

  // The hash: state=FIPS&as_of=YYYY-MM-DD, either optional.
  function hashParams() {
    var out = {};
    window.location.hash
      .replace(/^#/, "")
      .split("&")
      .forEach(function (part) {
        var i = part.indexOf("=");
        if (i > 0) out[part.slice(0, i)] = decodeURIComponent(part.slice(i + 1));
      });
    return out;
  }

  function hashAsOf() {
    var day = hashParams().as_of;
    return day && ISO_DAY.test(day) ? day : "";
  }

  function hashWith(changes) {
    var params = hashParams();
    Object.keys(changes).forEach(function (key) {
      params[key] = changes[key];
    });
    var parts = [];
    if (params.state) parts.push("state=" + params.state);
    if (params.as_of) parts.push("as_of=" + params.as_of);
    return parts.length ? "#" + parts.join("&") : "";
  }

  // Fixed for the page's life; "" is the latest.
  var AS_OF = hashAsOf();

  function withAsOf(url) {
    return AS_OF ? url + (url.indexOf("?") < 0 ? "?" : "&") + "as_of=" + AS_OF : url;
  }

  // A new as-of day reloads the page, as a shared link would; states.js handles the state.
  function setAsOf(day) {
    var hash = hashWith({ as_of: day });
    if (window.location.hash === hash || (hash === "" && !window.location.hash)) return;
    window.location.hash = hash;
  }

  function wireAsOf() {
    var input = $("as-of");
    input.value = AS_OF;
    input.max = new Date().toISOString().slice(0, 10);
    $("as-of-form").addEventListener("submit", function (e) {
      e.preventDefault();
      var day = input.value;
      setAsOf(ISO_DAY.test(day) ? day : "");
    });
    $("as-of-clear").addEventListener("click", function () {
      setAsOf("");
    });
    window.addEventListener("hashchange", function () {
      if (hashAsOf() !== AS_OF) window.location.reload();
    });
    if (!AS_OF) return;
    setText("as-of-day", AS_OF).setAttribute("datetime", AS_OF);
    $("as-of-banner").hidden = false;
    document.body.dataset.asOf = AS_OF;
  }

  /* utils */

  function $(id) {
    return document.getElementById(id);
  }

  function fmtInt(v) {
    if (v == null || !isFinite(v)) return "–";
    return Math.round(v).toLocaleString("en-US");
  }

  function fmtCompact(v) {
    if (v == null || !isFinite(v)) return "";
    if (Math.abs(v) < 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 2 });
    return v.toLocaleString("en-US", { notation: "compact", maximumFractionDigits: 2 });
  }

  function dateToTs(iso) {
    var p = String(iso).split("-");
    return Date.UTC(+p[0], +p[1] - 1, +p[2]) / 1000;
  }

  function tsToDate(ts) {
    return new Date(ts * 1000).toISOString().slice(0, 10);
  }

  function addDays(iso, n) {
    return tsToDate(dateToTs(iso) + n * DAY);
  }

  function fmtDateTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function setText(id, text) {
    var el = $(id);
    if (el) el.textContent = text;
    return el;
  }

  function positiveOrNull(v) {
    return v == null || !(v > 0) ? null : v;
  }

  /* data */

  function fetchJSON(url) {
    return fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    }).then(function (res) {
      if (!res.ok) {
        // The error body says why (no_history).
        return res.json().then(null, Object).then(function (body) {
          var e = (body && body.error) || {};
          var err = new Error(e.message || "the server answered HTTP " + res.status + " for " + url);
          err.code = e.code;
          throw err;
        });
      }
      return res.json();
    });
  }

  // Every item of a paged list (`key` in each page), following offsets until `total`.
  function loadPages(base, key) {
    return fetchJSON(base).then(function (first) {
      if (!first || !Array.isArray(first[key])) {
        throw new Error("unexpected response from " + base);
      }
      var all = first[key].slice();
      var total = typeof first.total === "number" ? first.total : all.length;
      var limit = typeof first.limit === "number" && first.limit > 0 ? first.limit : null;
      var pages = 1;

      // Follow pagination if the API returned only part of the rows.
      function next() {
        if (all.length >= total || pages >= MAX_PAGES) return all;
        var url = base + "&offset=" + all.length + (limit ? "&limit=" + limit : "");
        pages += 1;
        return fetchJSON(url).then(function (page) {
          if (!page || !Array.isArray(page[key]) || page[key].length === 0) return all;
          all = all.concat(page[key]);
          return next();
        });
      }
      return next();
    });
  }

  function prepare(records) {
    records = records
      .filter(function (r) {
        return r && typeof r.date === "string";
      })
      .sort(function (a, b) {
        return a.date < b.date ? -1 : a.date > b.date ? 1 : 0;
      });
    state.records = records;
    state.xs = records.map(function (r) {
      return dateToTs(r.date);
    });
    state.full = [state.xs[0], state.xs[state.xs.length - 1]];
    state.range = state.full.slice();

    var lastRecovered = -1;
    for (var i = records.length - 1; i >= 0; i--) {
      if (records[i].recovered != null) {
        lastRecovered = i;
        break;
      }
    }
    state.lastRecoveredIndex = lastRecovered;
    state.recoveredStop =
      lastRecovered >= 0 && lastRecovered < records.length - 1
        ? dateToTs(records[lastRecovered + 1].date)
        : null;
  }

  // A column's values; with `flag`, only where the row's flag is `want` (elsewhere null).
  function column(key, log, flag, want) {
    return state.records.map(function (r) {
      var v = r[key];
      if (v == null || (flag && !!r[flag] !== want)) return null;
      v = Number(v);
      return log ? positiveOrNull(v) : v;
    });
  }

  /* headlines */

  function lastNonNull(key) {
    for (var i = state.records.length - 1; i >= 0; i--) {
      if (state.records[i][key] != null) return state.records[i];
    }
    return null;
  }

  function renderHeadlines() {
    var summary = state.summary || {};
    var latest = summary.latest || state.records[state.records.length - 1] || {};
    var totals = summary.totals || {};

    var cases = totals.cases != null ? totals.cases : latest.cases;
    var deaths = totals.deaths != null ? totals.deaths : latest.deaths;
    var recovered = totals.recovered !== undefined ? totals.recovered : latest.recovered;

    setText("headline-cases", fmtInt(cases));
    setText("headline-deaths", fmtInt(deaths));

    var casesAvg = lastNonNull("new_cases_7d_avg");
    setText(
      "headline-cases-note",
      casesAvg ? fmtInt(casesAvg.new_cases_7d_avg) + " new a day (7-day average)" : ""
    );
    var deathsAvg = lastNonNull("new_deaths_7d_avg");
    setText(
      "headline-deaths-note",
      deathsAvg ? fmtInt(deathsAvg.new_deaths_7d_avg) + " new a day (7-day average)" : ""
    );

    var recEl = $("headline-recovered");
    if (recovered != null) {
      recEl.textContent = fmtInt(recovered);
      recEl.classList.remove("is-missing");
      setText("headline-recovered-note", "");
      return;
    }

    // Not reported in the latest row: say since when, derived from the records
    // (first date after the last non-null value); fall back to the summary.
    var lastRow = state.lastRecoveredIndex >= 0 ? state.records[state.lastRecoveredIndex] : null;
    var since = null;
    if (lastRow && state.lastRecoveredIndex < state.records.length - 1) {
      since = state.records[state.lastRecoveredIndex + 1].date;
    } else if (summary.recovered_last_reported && summary.recovered_last_reported.date) {
      since = addDays(summary.recovered_last_reported.date, 1);
    }
    recEl.classList.add("is-missing");
    recEl.textContent = "not reported";
    if (since) {
      recEl.appendChild(document.createTextNode(" since "));
      var sinceEl = document.createElement("time");
      sinceEl.className = "nowrap";
      sinceEl.setAttribute("datetime", since);
      sinceEl.textContent = since;
      recEl.appendChild(sinceEl);
    }

    var last = summary.recovered_last_reported;
    var lastValue = last && last.value != null ? last.value : lastRow ? lastRow.recovered : null;
    var lastDate = last && last.date ? last.date : lastRow ? lastRow.date : null;
    setText(
      "headline-recovered-note",
      lastValue != null && lastDate
        ? "Last reported: " + fmtInt(lastValue) + " on " + lastDate
        : ""
    );
  }

  function renderStatus() {
    var summary = state.summary || {};
    var through = summary.data_through || (state.records.length ? state.records[state.records.length - 1].date : null);
    var dt = setText("data-through", through || "unknown");
    if (through) dt.setAttribute("datetime", through);

    var el = $("last-run");
    el.textContent = "";
    var run = summary.last_run;
    if (!run) {
      el.textContent = "no run recorded yet";
      return;
    }
    var status = String(run.status || "unknown");
    var badge = document.createElement("span");
    badge.className = "run-status";
    if (/^(succeeded|success|ok)$/i.test(status)) badge.classList.add("is-ok");
    else if (/^(running|pending|started|queued)$/i.test(status)) badge.classList.add("is-running");
    else badge.classList.add("is-bad");
    badge.textContent = status;
    el.appendChild(badge);

    var when = run.finished_at || run.started_at;
    if (when) {
      el.appendChild(document.createTextNode(" "));
      var t = document.createElement("time");
      t.className = "run-time";
      t.setAttribute("datetime", when);
      t.textContent = fmtDateTime(when) + (run.trigger ? " (" + run.trigger + ")" : "");
      el.appendChild(t);
    }
    var counts = ["inserted", "updated", "unchanged"]
      .filter(function (k) {
        return run[k] != null;
      })
      .map(function (k) {
        return fmtInt(run[k]) + " " + k;
      });
    if (counts.length) el.title = "Rows " + counts.join(", ");
  }

  /* change log */

  // What the last run changed in the national series, from its change-log entries.
  function loadLastChanges() {
    var run = (state.summary || {}).last_run;
    if (!run || run.status !== "succeeded") return Promise.resolve(null);
    return fetchJSON(ENDPOINTS.runChanges.replace("{id}", String(run.id))).then(
      function (page) {
        return page.changes || [];
      },
      function () {
        return undefined; // the panel says so; the charts do not depend on it
      }
    );
  }

  function largestRevision(changes) {
    var best = null;
    changes.forEach(function (c) {
      if (c.kind !== "updated" || !c.before || !c.after) return;
      ["cases", "deaths", "recovered"].forEach(function (k) {
        if (c.before[k] == null || c.after[k] == null) return;
        var delta = c.after[k] - c.before[k];
        if (delta !== 0 && (!best || Math.abs(delta) >= Math.abs(best.delta))) {
          best = { figure: k, date: c.date, delta: delta };
        }
      });
    });
    return best;
  }

  function describeChanges(changes) {
    if (!changes.length) return "nothing changed";
    var counts = { inserted: 0, updated: 0, removed: 0 };
    changes.forEach(function (c) {
      counts[c.kind] += 1;
    });
    var parts = [];
    if (counts.inserted) parts.push(fmtInt(counts.inserted) + " day(s) added");
    if (counts.updated) parts.push(fmtInt(counts.updated) + " past day(s) revised");
    if (counts.removed) parts.push(fmtInt(counts.removed) + " day(s) removed");
    var text = parts.join(", ");
    var best = largestRevision(changes);
    if (best) {
      var sign = best.delta > 0 ? "+" : "\u2212";
      text += "; largest: " + best.figure + " on " + best.date + " " + sign + fmtInt(Math.abs(best.delta));
    }
    return text;
  }

  function renderLastChanges(changes) {
    var el = $("last-changes");
    if (!el) return;
    if (changes === undefined) el.textContent = "unavailable";
    else if (changes === null) el.textContent = "no data change recorded";
    else el.textContent = describeChanges(changes);
    state.revised = (changes || [])
      .filter(function (c) {
        return c.kind === "updated";
      })
      .map(function (c) {
        return dateToTs(c.date);
      });
    document.body.dataset.revised = String(state.revised.length);
  }

  // A short tick under each day the last run revised, on the daily chart.
  function drawRevisedMarks(u) {
    if (!state.revised.length) return;
    var ctx = u.ctx;
    var px = uPlot.pxRatio || 1;
    var bottom = u.bbox.top + u.bbox.height;
    ctx.save();
    ctx.fillStyle = COLORS.revised;
    state.revised.forEach(function (ts) {
      if (ts < u.scales.x.min || ts > u.scales.x.max) return;
      var x = Math.round(u.valToPos(ts, "x", true));
      ctx.beginPath();
      ctx.moveTo(x, bottom - 8 * px);
      ctx.lineTo(x - 4 * px, bottom);
      ctx.lineTo(x + 4 * px, bottom);
      ctx.closePath();
      ctx.fill();
    });
    ctx.restore();
  }

  /* notes */

  // The NYT's notes on the place shown: asked for again whenever the place changes.
  function loadNotes(place) {
    var ticket = ++state.notesTicket;
    state.place = place;
    state.notes = [];
    document.body.dataset.notes = "loading";
    setText("notes-title", "Notes from The New York Times on " + place.name);
    setText("notes-status", "Loading the notes…");
    $("notes-table").hidden = true;
    hideDayHistory();
    redrawDaily();
    loadSettled(place);
    return loadPages(ENDPOINTS.notes + encodeURIComponent(place.geoid), "anomalies").then(
      function (notes) {
        if (ticket !== state.notesTicket) return;
        state.notes = notes.filter(function (n) {
          return n && typeof n.date === "string";
        });
        renderNotes();
        redrawDaily();
        document.body.dataset.notes = place.geoid;
      },
      function (err) {
        if (ticket !== state.notesTicket) return;
        var why = err && err.message ? err.message : String(err);
        setText("notes-status", "The notes could not load: " + why + ".");
        document.body.dataset.notes = "error";
      }
    );
  }

  function measureText(type) {
    return type === "both" ? "cases and deaths" : String(type);
  }

  function noteDays(n) {
    return n.end_date && n.end_date !== n.date ? n.date + " to " + n.end_date : n.date;
  }

  // One line for a mark's label and tip: the days, measure, average and description.
  function noteText(n) {
    return (
      noteDays(n) + ", " + measureText(n.type) + " (" +
      (n.omit_from_rolling_average ? "left out of" : "counted in") + " the 7-day average): " +
      (n.description || "no description")
    );
  }

  function cell(tr, text, tag) {
    var td = document.createElement(tag || "td");
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function renderNotes() {
    var table = $("notes-table");
    var body = table.querySelector("tbody");
    body.textContent = "";
    var n = state.notes.length;
    var count = n + (n === 1 ? " note" : " notes") + ", oldest first.";
    setText("notes-status", n ? count : "The NYT has no notes for this place.");
    state.notes.forEach(function (note) {
      var tr = document.createElement("tr");
      tr.dataset.date = note.date;
      var th = cell(tr, noteDays(note), "th");
      th.scope = "row";
      cell(tr, measureText(note.type)).dataset.label = "Measure";
      cell(tr, note.omit_from_rolling_average ? "yes" : "no").dataset.label = "Left out of average";
      cell(tr, note.description || "–");
      body.appendChild(tr);
    });
    table.hidden = !n;
  }

  function notesOn(measure) {
    return state.notes.filter(function (n) {
      return n.type === measure.type || n.type === "both";
    });
  }

  // A note's days as x positions (CSS px from the plot's left): each day is the slot around it.
  function noteSpan(u, n) {
    var from = dateToTs(n.date);
    var to = n.end_date ? Math.max(from, dateToTs(n.end_date)) : from;
    return [u.valToPos(from - DAY / 2, "x"), u.valToPos(to + DAY / 2, "x")];
  }

  // Under the bars: a band over each note's days, or a line where that would be under 3 px.
  function drawNoteBands(u, measure) {
    var notes = notesOn(measure);
    if (!notes.length) return;
    var ctx = u.ctx;
    var px = uPlot.pxRatio || 1;
    var left = u.bbox.left;
    var right = left + u.bbox.width;
    ctx.save();
    notes.forEach(function (n) {
      var span = noteSpan(u, n);
      var x0 = Math.max(left, left + span[0] * px);
      var x1 = Math.min(right, left + span[1] * px);
      if (x1 < left || x0 > right) return;
      if (x1 - x0 >= 3 * px) {
        ctx.fillStyle = COLORS.noteBand;
        ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
      } else {
        ctx.fillStyle = COLORS.note;
        ctx.fillRect(Math.round((x0 + x1) / 2 - px / 2), u.bbox.top, px, u.bbox.height);
      }
    });
    ctx.restore();
  }

  // Above the plot: one focusable mark per note, labelled with its text; placed on every draw.
  function placeNoteMarks(u, measure) {
    var layer = u.root.querySelector(".note-layer");
    if (!layer) {
      layer = document.createElement("div");
      layer.className = "note-layer";
      u.root.querySelector(".u-wrap").appendChild(layer);
      wireNoteLayer(layer);
    }
    var notes = notesOn(measure);
    if (layer.notes !== state.notes) {
      layer.notes = state.notes;
      layer.textContent = "";
      notes.forEach(function (n) {
        var mark = document.createElement("button");
        mark.type = "button";
        mark.className = "note-mark" + (n.omit_from_rolling_average ? " is-omitted" : "");
        mark.dataset.date = n.date;
        if (n.end_date) mark.dataset.endDate = n.end_date;
        mark.dataset.type = n.type;
        mark.setAttribute("aria-label", "NYT note, " + noteText(n));
        mark.note = n;
        layer.appendChild(mark);
      });
    }
    var px = uPlot.pxRatio || 1;
    var left = u.bbox.left / px;
    var width = u.bbox.width / px;
    layer.style.left = left + "px";
    layer.style.top = u.bbox.top / px - MARK_STRIP + "px";
    layer.style.width = width + "px";
    Array.prototype.forEach.call(layer.children, function (mark) {
      var span = noteSpan(u, mark.note);
      var x0 = Math.max(0, span[0]);
      var x1 = Math.min(width, span[1]);
      mark.hidden = x1 < 0 || x0 > width;
      var w = Math.max(10, x1 - x0);
      mark.style.left = Math.min(width - w, Math.max(0, (x0 + x1 - w) / 2)) + "px";
      mark.style.width = w + "px";
    });
  }

  // Hover, focus or tap a mark for its note; the tip leaves with the pointer, focus or Escape.
  function wireNoteLayer(layer) {
    function show(e) {
      if (e.target.note) showNoteTip(e.target);
    }
    layer.addEventListener("pointerover", show);
    layer.addEventListener("focusin", show);
    layer.addEventListener("click", show);
    layer.addEventListener("pointerout", function (e) {
      if (e.pointerType === "mouse" && e.target !== document.activeElement) hideNoteTip();
    });
    layer.addEventListener("focusout", hideNoteTip);
    layer.addEventListener("keydown", function (e) {
      if (e.key === "Escape") hideNoteTip();
    });
  }

  // One tip, moved into the figure of the chart shown (the charts' own elements are rebuilt).
  function showNoteTip(mark) {
    var tip = $("note-tip") || document.createElement("div");
    tip.id = "note-tip";
    tip.className = "note-tip";
    tip.setAttribute("aria-hidden", "true"); // the mark's own label carries the same text
    var chart = mark.closest(".chart-figure");
    var n = mark.note;
    tip.textContent = "";
    var head = document.createElement("strong");
    head.textContent = noteDays(n) + " · " + measureText(n.type);
    tip.appendChild(head);
    var average = n.omit_from_rolling_average ? "Left out of" : "Counted in";
    cell(tip, average + " the 7-day average", "span");
    cell(tip, n.description || "No description.", "span");
    chart.appendChild(tip);
    tip.hidden = false;
    var wrap = chart.getBoundingClientRect();
    var box = mark.getBoundingClientRect();
    var x = box.left - wrap.left + box.width / 2 - tip.offsetWidth / 2;
    tip.style.left = Math.max(0, Math.min(x, wrap.width - tip.offsetWidth)) + "px";
    tip.style.top = box.bottom - wrap.top + 4 + "px";
  }

  function hideNoteTip() {
    var tip = $("note-tip");
    if (tip) tip.hidden = true;
  }

  function redrawDaily() {
    Object.keys(MEASURES).forEach(function (name) {
      if (state.charts[name]) state.charts[name].redraw(false);
    });
  }

  /* settled */

  // The share of the place's days still revised k days after first published. No as_of there.
  function loadSettled(place) {
    var ticket = ++state.settledTicket;
    var fips = place.geoid.slice(4);
    var url = "api/v1/" + (fips ? "states/" + fips + "/" : "") + "revisions?limit=1&measure=";
    $("settled-chart").hidden = true;
    setText("settled-note", "Loading how the figures settled…");
    document.body.dataset.settled = "loading";
    Promise.all([fetchJSON(url + "cases"), fetchJSON(url + "deaths")]).then(
      function (bodies) {
        if (ticket !== state.settledTicket) return;
        var known = bodies[0].settled_after.some(function (s) {
          return s.share_still_revised !== null;
        });
        $("settled-bars").textContent = "";
        if (known) {
          settledRow(bodies[0].settled_after, "Cases", COLORS.cases);
          settledRow(bodies[1].settled_after, "Deaths", COLORS.deaths);
        }
        setText("settled-note", known ? "" : "No revision history stored for " + place.name + ".");
        setText("settled-caption", "Share of days whose figure was still revised k days after " +
          "first published, " + place.name + " (all versions stored)");
        $("settled-chart").hidden = !known;
        document.body.dataset.settled = known ? place.geoid : "none";
      },
      function (err) {
        if (ticket !== state.settledTicket) return;
        setText("settled-note", "The revision figures could not load: " + err.message + ".");
        document.body.dataset.settled = "error";
      }
    );
  }

  function svgNode(parent, tag, attrs, text) {
    var el = parent.appendChild(document.createElementNS("http://www.w3.org/2000/svg", tag));
    Object.keys(attrs).forEach(function (k) {
      el.setAttribute(k, attrs[k]);
    });
    el.textContent = text || "";
    return el;
  }

  function pct(x) {
    return x === null ? "–" : Math.round(x * 1000) / 10 + "%";
  }

  // One measure's bars, k = 1 … 90 days, each labelled with its share.
  function settledRow(shares, label, color) {
    var svg = svgNode($("settled-bars"), "svg", { viewBox: "0 0 420 96", role: "img" });
    var said = shares.map(function (s) {
      var x = 70 + 50 * shares.indexOf(s), h = Math.round(s.share_still_revised * 60);
      svgNode(svg, "rect", { x: x + 8, y: 78 - h, width: 34, height: h, fill: color,
        "data-days": s.days, "data-share": s.share_still_revised });
      svgNode(svg, "text", { x: x + 25, y: 74 - h }, pct(s.share_still_revised));
      svgNode(svg, "text", { x: x + 25, y: 93 }, s.days + " d");
      return s.days + " d " + pct(s.share_still_revised);
    });
    svgNode(svg, "text", { x: 0, y: 76, "text-anchor": "start" }, label);
    svg.setAttribute("aria-label", label + " still revised after " + said.join(", "));
  }

  /* day history */

  // A click (not a drag) or Enter on a daily chart: the day at its cursor, which the arrow
  // keys, Home and End move.
  function wireDayPick(u, measure) {
    var over = u.over;
    var downX = null;
    over.tabIndex = 0;
    over.setAttribute("role", "button");
    over.setAttribute("aria-label", measure.label + ": arrow keys pick a day, Enter its history");
    over.addEventListener("mousedown", function (e) {
      downX = e.clientX;
    });
    over.addEventListener("click", function (e) {
      if (downX !== null && Math.abs(e.clientX - downX) > 3) return;
      var idx = u.posToIdx(e.clientX - over.getBoundingClientRect().left);
      if (idx != null && u.data[0][idx] != null) showDayHistory(tsToDate(u.data[0][idx]));
    });
    over.addEventListener("keydown", function (e) {
      var xs = u.data[0];
      var idxs = u.series[0].idxs || [0, xs.length - 1];
      var idx = u.cursor.idx != null ? u.cursor.idx : idxs[1];
      var moves = { ArrowLeft: idx - 1, ArrowRight: idx + 1, Home: idxs[0], End: idxs[1] };
      if (e.key in moves) {
        e.preventDefault();
        idx = Math.max(idxs[0], Math.min(idxs[1], moves[e.key]));
        u.setCursor({ left: u.valToPos(xs[idx], "x"), top: u.bbox.height / (2 * (uPlot.pxRatio || 1)) });
      } else if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        if (xs[idx] != null) showDayHistory(tsToDate(xs[idx]));
      }
    });
  }

  function seriesOf(place) {
    return place.geoid === NATIONAL.geoid ? "national" : place.geoid.replace(/^USA-/, "");
  }

  function signed(delta) {
    return (delta < 0 ? "\u2212" : "+") + fmtInt(Math.abs(delta));
  }

  // "217,130 (+3,351)"
  function changedText(c, key) {
    var after = c.after ? c.after[key] : null;
    var before = c.before ? c.before[key] : null;
    if (after == null) return before == null ? "–" : "removed (was " + fmtInt(before) + ")";
    if (before == null || before === after) return fmtInt(after);
    return fmtInt(after) + " (" + signed(after - before) + ")";
  }

  var KINDS = { inserted: "first published", updated: "revised", removed: "removed" };

  // The day's change-log entries for the place shown; as of a day, those published by then.
  function showDayHistory(day) {
    var place = state.place || NATIONAL;
    var ticket = ++state.historyTicket;
    var url = ENDPOINTS.changes.replace("{series}", seriesOf(place)).split("{day}").join(day);
    $("day-history").hidden = false;
    $("day-history-table").hidden = true;
    setText("day-history-title", "How " + day + " was published: " + place.name);
    setText("day-history-status", "Loading the publication history…");
    document.body.dataset.dayHistory = "loading";
    loadPages(url, "changes").then(
      function (changes) {
        if (ticket !== state.historyTicket) return;
        renderDayHistory(
          day,
          changes.filter(function (c) {
            return c.date === day && (!AS_OF || !c.as_of || c.as_of <= AS_OF);
          })
        );
        document.body.dataset.dayHistory = day;
      },
      function (err) {
        if (ticket !== state.historyTicket) return;
        var why = err && err.message ? err.message : String(err);
        setText("day-history-status", "The publication history could not load: " + why + ".");
        document.body.dataset.dayHistory = "error";
      }
    );
  }

  function renderDayHistory(day, changes) {
    var table = $("day-history-table");
    var body = table.querySelector("tbody");
    body.textContent = "";
    var revisions = changes.filter(function (c) {
      return c.kind === "updated";
    }).length;
    var status = !changes.length
      ? "No publication of " + day + " is recorded" + (AS_OF ? " by " + AS_OF : "") + "."
      : (revisions ? "Revised " + revisions + (revisions === 1 ? " time" : " times") : "Never revised") +
        (AS_OF ? " by " + AS_OF : "") + " (oldest first).";
    setText("day-history-status", status);
    changes.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.dataset.kind = c.kind;
      var th = cell(tr, c.as_of || "unknown", "th");
      th.scope = "row";
      th.title = "run " + c.run_id;
      cell(tr, KINDS[c.kind] || c.kind).dataset.label = "Change";
      cell(tr, changedText(c, "cases")).dataset.label = "Cases";
      cell(tr, changedText(c, "deaths")).dataset.label = "Deaths";
      body.appendChild(tr);
    });
    table.hidden = !changes.length;
  }

  function hideDayHistory() {
    state.historyTicket += 1;
    $("day-history").hidden = true;
    delete document.body.dataset.dayHistory;
  }

  function wireDayHistory() {
    $("day-history-close").addEventListener("click", hideDayHistory);
  }

  /* charts */

  function legendValue(u, v) {
    return v == null ? "–" : fmtInt(v);
  }

  function axisValues(u, splits) {
    return splits.map(fmtCompact);
  }

  function chartSize(el) {
    var width = Math.max(200, Math.floor(el.clientWidth));
    var height = width < 500 ? 240 : width < 800 ? 300 : 340;
    return { width: width, height: height };
  }

  // Min/max of the visible data (series[0].idxs, set by uPlot) of the shown series on
  // `scaleKey`, widened to include zero.
  function visibleExtent(u, scaleKey, withZero) {
    var idxs = u.series[0].idxs || [0, u.data[0].length - 1];
    var i0 = idxs[0] == null ? 0 : idxs[0];
    var i1 = idxs[1] == null ? u.data[0].length - 1 : idxs[1];
    var lo = withZero === false ? Infinity : 0;
    var hi = withZero === false ? -Infinity : 0;
    for (var s = 1; s < u.series.length; s++) {
      if (u.series[s].scale !== scaleKey || u.series[s].show === false) continue;
      var ys = u.data[s];
      for (var i = i0; i <= i1; i++) {
        var v = ys[i];
        if (v == null) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    return lo <= hi ? [lo, hi] : [0, 0];
  }

  // Cumulative chart: the visible window's own min to max with a margin, not from zero, so a
  // zoomed window uses the whole height.
  function fittedLinearRange(u, dataMin, dataMax, key) {
    var own = visibleExtent(u, key, false);
    var pad = (own[1] - own[0]) * 0.05 || Math.abs(own[1]) * 0.05 || 1;
    var min = own[0] - pad;
    if (own[0] >= 0 && min < 0) min = 0; // never an axis below zero for counts
    return [min, own[1] + pad];
  }

  // Left ("y") and right ("d") linear scales with zero at the same height on both, even when
  // one series dips below zero.
  function alignedLinearRange(u, dataMin, dataMax, key) {
    var ext = { y: visibleExtent(u, "y"), d: visibleExtent(u, "d") };
    var negFrac = 0;
    ["y", "d"].forEach(function (k) {
      var e = ext[k];
      if (e[1] - e[0] > 0) negFrac = Math.max(negFrac, -e[0] / (e[1] - e[0]));
    });
    negFrac = Math.min(negFrac, 0.9);
    var own = ext[key] || [0, 0];
    var max = own[1] > 0 ? own[1] * 1.05 : own[0] < 0 ? 0 : 1;
    var min = negFrac > 0 ? (-negFrac * max) / (1 - negFrac) : 0;
    if (own[0] < min) min = own[0] * 1.05; // all-negative window
    if (max <= min) max = min + 1;
    return [min, max];
  }

  // Tick label formats for the time axis, per tick spacing:
  // [min spacing (s), label, label on a new year, on a new month, on a new day,
  //  on a new hour, on a new minute, on a new second, 1 = only the first change applies]
  var X_TICK_FORMATS = [
    [DAY * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [DAY * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [DAY, "{MMM} {D}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MMM} {D}", null, null, null, 1],
    [1, "{HH}:{mm}:{ss}", "\n{YYYY}-{MM}-{DD}", null, "\n{MMM} {D}", null, null, null, 1],
  ];

  // With a `measure`, one axis in its colour and room above the plot for the notes' marks.
  function baseOptions(size, log, measure) {
    var yScale = log ? { distr: 3, log: 10 } : { distr: 1, range: alignedLinearRange };
    var dScale = log ? { distr: 3, log: 10 } : { distr: 1, range: alignedLinearRange };
    var opts = {
      width: size.width,
      height: size.height,
      tzDate: function (ts) {
        return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
      },
      cursor: {
        sync: { key: "covid-etl" },
        y: false, // two y scales per chart, so a horizontal crosshair means little
        drag: { x: true, y: false, setScale: true },
      },
      scales: {
        x: { time: true },
        y: yScale,
        d: dScale,
      },
      legend: { live: true },
      axes: [
        {
          stroke: COLORS.axis,
          values: X_TICK_FORMATS,
          grid: { stroke: COLORS.grid, width: 1 },
          ticks: { stroke: COLORS.tick, width: 1 },
        },
        {
          scale: "y",
          stroke: COLORS.cases,
          values: axisValues,
          size: 56,
          grid: { stroke: COLORS.grid, width: 1 },
          ticks: { stroke: COLORS.tick, width: 1 },
        },
        {
          scale: "d",
          side: 1,
          stroke: COLORS.deaths,
          values: axisValues,
          size: 52,
          grid: { show: false },
          ticks: { stroke: COLORS.tick, width: 1 },
        },
      ],
      hooks: {},
    };
    if (measure) {
      opts.axes.pop();
      opts.axes[1].stroke = measure.color;
      opts.padding = [MARK_STRIP, null, null, null];
    }
    return opts;
  }

  function xSeries() {
    return {
      label: "Date",
      value: function (u, ts) {
        return ts == null ? "–" : tsToDate(ts);
      },
    };
  }

  function drawRecoveredMarker(u) {
    var ts = state.recoveredStop;
    if (ts == null || ts < u.scales.x.min || ts > u.scales.x.max) return;
    var ctx = u.ctx;
    var px = uPlot.pxRatio || 1;
    var x = Math.round(u.valToPos(ts, "x", true));
    var top = u.bbox.top;
    var bottom = u.bbox.top + u.bbox.height;
    ctx.save();
    ctx.strokeStyle = COLORS.marker;
    ctx.lineWidth = px;
    ctx.setLineDash([4 * px, 4 * px]);
    ctx.beginPath();
    ctx.moveTo(x + 0.5, top);
    ctx.lineTo(x + 0.5, bottom);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = COLORS.recovered;
    ctx.font = 12 * px + "px system-ui, sans-serif";
    // Linear: the empty area is at the top; log: the lines hug the top.
    var atBottom = state.log;
    ctx.textBaseline = atBottom ? "bottom" : "top";
    var text = "Recovered not reported from " + tsToDate(ts);
    var w = ctx.measureText(text).width;
    var pad = 6 * px;
    var right = u.bbox.left + u.bbox.width;
    if (x + pad + w <= right) {
      ctx.textAlign = "left";
      ctx.fillText(text, x + pad, atBottom ? bottom - pad : top + pad);
    } else if (x - pad - w >= u.bbox.left) {
      ctx.textAlign = "right";
      ctx.fillText(text, x - pad, atBottom ? bottom - pad : top + pad);
    }
    ctx.restore();
  }

  function cumulativeChart(el, log) {
    var opts = baseOptions(chartSize(el), log);
    if (!log) {
      // Cumulative counts never go below zero, so both axes can simply fit their own data.
      opts.scales.y.range = fittedLinearRange;
      opts.scales.d.range = fittedLinearRange;
    }
    opts.series = [
      xSeries(),
      { label: "Cases", scale: "y", stroke: COLORS.cases, width: 2, value: legendValue },
      { label: "Recovered", scale: "y", stroke: COLORS.recovered, width: 2, value: legendValue },
      { label: "Deaths", scale: "d", stroke: COLORS.deaths, width: 2, value: legendValue },
    ];
    opts.hooks.draw = [drawRecoveredMarker];
    var data = [state.xs, column("cases", log), column("recovered", log), column("deaths", log)];
    return { opts: opts, data: data };
  }

  function dailyChart(measure) {
    return function (el, log) {
      var opts = baseOptions(chartSize(el), log, measure);
      // Bars on a linear axis; on a log axis they would merge into a block: a thin line.
      var bars = !log && !!uPlot.paths.bars;
      var barPaths = function () {
        return bars ? uPlot.paths.bars({ size: [0.7, 8, 1], align: 0 }) : undefined;
      };
      var flag = measure.key + "_omitted";
      opts.series = [
        xSeries(),
        {
          label: measure.label + "/day",
          scale: "y",
          stroke: measure.thin,
          fill: bars ? measure.thin : undefined,
          width: bars ? 0 : 1,
          paths: barPaths(),
          points: { show: false },
          value: legendValue,
        },
        // Days left out of the average: outlined bars (dots on a log axis).
        {
          label: "Left out of the 7-day average",
          scale: "y",
          stroke: COLORS.omitted,
          fill: bars ? COLORS.omittedFill : COLORS.omitted,
          width: 1,
          paths: bars
            ? barPaths()
            : function () {
                return null;
              },
          points: { show: !bars, size: 5, fill: COLORS.omitted },
          value: legendValue,
        },
        {
          label: measure.label + ", 7-day avg",
          scale: "y",
          stroke: measure.color,
          width: 2.5,
          value: legendValue,
        },
      ];
      var data = [
        state.xs,
        column(measure.key, log, flag, false),
        column(measure.key, log, flag, true),
        column(measure.key + "_7d_avg", log),
      ];
      opts.hooks.drawClear = [
        function (u) {
          drawNoteBands(u, measure);
        },
      ];
      opts.hooks.draw = [
        drawRevisedMarks,
        function (u) {
          placeNoteMarks(u, measure);
        },
      ];
      return { opts: opts, data: data };
    };
  }

  var BUILDERS = {
    cumulative: { id: "chart-cumulative", build: cumulativeChart },
    daily: { id: "chart-daily", build: dailyChart(MEASURES.daily) },
    deaths: { id: "chart-daily-deaths", build: dailyChart(MEASURES.deaths) },
  };

  function onSetScale(u, key) {
    if (key !== "x" || u.scales.x.min == null) return;
    var min = u.scales.x.min;
    var max = u.scales.x.max;
    state.range = [min, max];
    if (!state.syncing) {
      state.syncing = true;
      try {
        Object.keys(state.charts).forEach(function (name) {
          var other = state.charts[name];
          if (other && other !== u && (other.scales.x.min !== min || other.scales.x.max !== max)) {
            other.setScale("x", { min: min, max: max });
          }
        });
      } finally {
        state.syncing = false;
      }
    }
    updatePresetButtons();
  }

  // No cursor over a chart: the legend shows the last visible day, not dashes.
  function legendFallback(u) {
    if (u.legend.idx != null || !u.series[0].idxs) return;
    var last = u.series[0].idxs[1];
    if (last != null) u.setLegend({ idx: last }, false);
  }

  function markDrawn(name) {
    if (state.drawn[name]) return;
    state.drawn[name] = true;
    var all = Object.keys(BUILDERS).every(function (key) {
      return state.drawn[key];
    });
    if (all) {
      document.body.dataset.scale = state.log ? "log" : "linear";
      if (document.body.dataset.state !== "error") {
        document.body.dataset.state = "ready";
        $("main").setAttribute("aria-busy", "false");
      }
    }
  }

  function createChart(name) {
    var spec = BUILDERS[name];
    var el = $(spec.id);
    el.textContent = "";
    var built = spec.build(el, state.log);
    built.opts.hooks.setScale = [
      onSetScale,
      function (u, key) {
        if (key === "x" && !u.cursor.idx) {
          u.legend.idx = null;
          legendFallback(u);
        }
      },
    ];
    built.opts.hooks.setLegend = [legendFallback];
    built.opts.hooks.ready = [legendFallback];
    built.opts.hooks.draw = (built.opts.hooks.draw || []).concat([
      function () {
        markDrawn(name);
      },
    ]);
    var range = state.range;
    var u = new uPlot(built.opts, built.data, el);
    state.charts[name] = u;
    if (MEASURES[name]) wireDayPick(u, MEASURES[name]);
    if (range && (range[0] !== state.full[0] || range[1] !== state.full[1])) {
      u.setScale("x", { min: range[0], max: range[1] });
    }
    return u;
  }

  function buildCharts() {
    var range = state.range ? state.range.slice() : null;
    hideNoteTip(); // its mark is about to go
    Object.keys(state.charts).forEach(function (name) {
      state.charts[name].destroy();
    });
    state.charts = {};
    state.drawn = {};
    state.range = range;
    state.syncing = true; // the new charts already share the same range
    try {
      Object.keys(BUILDERS).forEach(function (key) {
        createChart(key);
      });
    } finally {
      state.syncing = false;
    }
    updatePresetButtons();
  }

  function observeResize() {
    if (typeof ResizeObserver !== "function") {
      window.addEventListener("resize", resizeAll);
      return;
    }
    var pending = false;
    var ro = new ResizeObserver(function () {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(function () {
        pending = false;
        resizeAll();
      });
    });
    Object.keys(BUILDERS).forEach(function (name) {
      ro.observe($(BUILDERS[name].id));
    });
    state.observers.push(ro);
  }

  function resizeAll() {
    Object.keys(state.charts).forEach(function (name) {
      var u = state.charts[name];
      var size = chartSize($(BUILDERS[name].id));
      if (Math.abs(size.width - u.width) >= 1 || size.height !== u.height) {
        u.setSize(size);
      }
    });
  }

  /* controls */

  function presetRange(key) {
    var first = state.full[0];
    var last = state.full[1];
    if (key === "all") return [first, last];
    if (key === "90d") return [Math.max(first, last - 89 * DAY), last];
    if (/^\d{4}$/.test(key)) {
      var lo = Math.max(first, dateToTs(key + "-01-01"));
      var hi = Math.min(last, dateToTs(key + "-12-31"));
      return lo <= hi ? [lo, hi] : null;
    }
    return null;
  }

  function setRange(range) {
    if (!range) return;
    var u = state.charts.cumulative || state.charts.daily;
    if (!u) return;
    // A one-day window has nothing to draw between; widen it slightly.
    var min = range[0];
    var max = range[1] > range[0] ? range[1] : range[0] + DAY;
    u.setScale("x", { min: min, max: max });
  }

  function presetButtons() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-range]"));
  }

  function updatePresetButtons() {
    if (!state.range) return;
    var tol = DAY / 2;
    presetButtons().forEach(function (btn) {
      var r = presetRange(btn.dataset.range);
      btn.disabled = !r; // a state's series ends earlier than the nation's
      var on =
        !!r && Math.abs(r[0] - state.range[0]) < tol && Math.abs(r[1] - state.range[1]) < tol;
      btn.setAttribute("aria-pressed", on ? "true" : "false");
    });
  }

  function wireControls() {
    presetButtons().forEach(function (btn) {
      btn.addEventListener("click", function () {
        setRange(presetRange(btn.dataset.range));
      });
    });
    $("reset-zoom").addEventListener("click", function () {
      setRange(state.full);
    });
    var toggle = $("scale-toggle");
    toggle.checked = false;
    toggle.addEventListener("change", function () {
      state.log = toggle.checked;
      buildCharts();
    });
  }

  /* main */

  function setControls(on) {
    var controls = document.querySelectorAll(".controls button, .controls input");
    Array.prototype.forEach.call(controls, function (c) {
      c.disabled = !on;
    });
  }

  function showError(message, code) {
    var el = $("error");
    el.textContent =
      code === "no_history"
        ? message.charAt(0).toUpperCase() + message.slice(1) +
          ". Choose a later date or show the latest data."
        : "The dashboard could not load its data: " + message + ". Please try again later.";
    el.hidden = false;
    document.body.dataset.state = "error";
    $("main").setAttribute("aria-busy", "false");
    ["headline-cases", "headline-deaths", "headline-recovered", "data-through", "last-run", "last-changes", "notes-status", "settled-note"].forEach(
      function (id) {
        var node = $(id);
        if (node && node.textContent === "…") {
          node.textContent = "unavailable";
          if (node.classList.contains("card-value")) node.classList.add("is-missing");
        }
      }
    );
    setControls(false);
  }

  function start() {
    if (typeof window.uPlot !== "function") {
      showError("the chart library failed to load");
      return;
    }
    if (typeof window.fetch !== "function") {
      showError("this browser does not support the Fetch API");
      return;
    }
    setControls(false);
    wireAsOf();
    wireDayHistory();
    Promise.all([
      loadPages(withAsOf(ENDPOINTS.records), "records"),
      fetchJSON(withAsOf(ENDPOINTS.summary)),
    ])
      .then(function (results) {
        var records = results[0];
        state.summary = results[1] || {};
        if (!records.length) throw new Error("the API returned no records");
        prepare(records);
        renderStatus();
        renderHeadlines();
        setControls(true);
        wireControls();
        buildCharts();
        observeResize();
        loadNotes(NATIONAL);
        document.dispatchEvent(new CustomEvent("dashboard:national-ready"));
        // The last run's changes need the summary's run id: a second round trip, not waited for.
        return loadLastChanges().then(function (changes) {
          renderLastChanges(changes);
          if (state.revised.length) redrawDaily();
        });
      })
      .catch(function (err) {
        showError(err && err.message ? err.message : String(err), err && err.code);
      });
  }

  /* other series */

  // states.js shows a jurisdiction's series in these charts, then the national rows kept aside.
  var nationalRecords = null;

  // `place` is { geoid, name } for the NYT's notes: "USA-06" for California.
  function showSeries(records, place) {
    if (nationalRecords === null) nationalRecords = state.records;
    prepare(records);
    buildCharts();
    loadNotes(place);
  }

  function showNational() {
    if (nationalRecords !== null) {
      prepare(nationalRecords);
      nationalRecords = null;
      buildCharts();
    }
    if (!state.place || state.place.geoid !== NATIONAL.geoid) loadNotes(NATIONAL);
    renderHeadlines();
  }

  window.covidDashboard = {
    showSeries: showSeries,
    showNational: showNational,
    nationalThrough: function () {
      return state.summary ? state.summary.data_through : null;
    },
    fmtInt: fmtInt,
    asOf: function () {
      return AS_OF;
    },
    withAsOf: withAsOf,
    hashWith: hashWith,
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
