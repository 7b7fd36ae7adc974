/*
 * States and territories: a map of new cases per 100k (7-day average) on a chosen date, a
 * sortable table, and the choice of one jurisdiction, whose series fills dashboard.js's charts
 * (window.covidDashboard). From /api/v1/states, /api/v1/states/{fips}/records and the vendored
 * us-atlas shapes. Hidden without per-state series. As of a day, requests add as_of=.
 */
(function () {
  "use strict";

  var SNAPSHOT = "api/v1/states";
  var SHAPES = "vendor/states-albers-10m.json";
  var SVG_NS = "http://www.w3.org/2000/svg";
  var DAY_MS = 86400000;

  // ColorBrewer YlGnBu, 7 classes (sequential, colour-blind safe), hard-coded.
  var PALETTE = ["#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8", "#0c2c84"];
  // Lower bounds of the classes above 0 (new cases per 100k a day).
  var BREAKS = [1, 5, 10, 25, 50, 100];
  var NO_DATA = "#e3e6ea";

  // Outside the Albers frame of us-atlas: drawn as labelled boxes below it.
  var BOXES = [
    { fips: "72", label: "PR" },
    { fips: "66", label: "GU" },
    { fips: "69", label: "MP" },
    { fips: "78", label: "VI" },
  ];
  var BOX = { x0: 560, y: 618, width: 90, height: 40, gap: 10 };

  var COLUMNS = [
    { key: "name", label: "Jurisdiction", text: true },
    { key: "population", label: "Population" },
    { key: "cases", label: "Cases" },
    { key: "deaths", label: "Deaths" },
    { key: "cases_per_100k", label: "Cases per 100k", rate: true },
    { key: "deaths_per_100k", label: "Deaths per 100k", rate: true },
    { key: "new_cases_7d_avg", label: "New cases a day (7-day avg)" },
    { key: "new_cases_7d_avg_per_100k", label: "New cases a day per 100k", rate: true },
  ];

  var view = {
    entries: [], // the snapshot on the chosen date
    byFips: {},
    dates: [], // ISO dates the slider runs over
    through: null,
    day: null, // the date shown on the map and in the table
    shapes: {}, // fips -> SVG element
    sort: { key: "name", dir: 1 },
    chosen: "", // fips of the jurisdiction in the charts; "" is the United States
    nationalReady: false,
    request: 0, // the latest snapshot request; older answers are ignored
  };

  /* utils */

  function $(id) {
    return document.getElementById(id);
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(
      function (res) {
        if (!res.ok) throw new Error("the server answered HTTP " + res.status + " for " + url);
        return res.json();
      }
    );
  }

  // The page's as-of day on a data request (dashboard.js owns it).
  function withAsOf(url) {
    return window.covidDashboard ? window.covidDashboard.withAsOf(url) : url;
  }

  // The hash choosing `fips` ("" the United States), keeping the as-of day.
  function hashFor(fips) {
    if (window.covidDashboard) return window.covidDashboard.hashWith({ state: fips });
    return fips ? "#state=" + fips : "";
  }

  function fmtInt(v) {
    return window.covidDashboard ? window.covidDashboard.fmtInt(v) : String(v);
  }

  function fmtRate(v) {
    return v.toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  }

  // The text of one figure: "no population estimate" for a per-capita value without a
  // population (never 0), "no data" before a jurisdiction's first report.
  function figureText(entry, column) {
    var v = entry[column.key];
    if (column.text) return String(v);
    if (v != null) return column.rate ? fmtRate(v) : fmtInt(v);
    if (column.key === "population" || (column.rate && entry.population == null)) {
      return "no population estimate";
    }
    return "no data";
  }

  function colourClass(value) {
    var i = 0;
    while (i < BREAKS.length && value >= BREAKS[i]) i++;
    return i;
  }

  function fillOf(entry) {
    var v = entry ? entry.new_cases_7d_avg_per_100k : null;
    return v == null ? NO_DATA : PALETTE[colourClass(v)];
  }

  function isoDay(ms) {
    return new Date(ms).toISOString().slice(0, 10);
  }

  function datesUntil(first, last) {
    var out = [];
    var end = Date.parse(last + "T00:00:00Z");
    for (var t = Date.parse(first + "T00:00:00Z"); t <= end; t += DAY_MS) out.push(isoDay(t));
    return out;
  }

  /* map */

  // us-atlas shapes are projected already: each ring is a polyline.
  function ringsToPath(polygons) {
    var d = "";
    polygons.forEach(function (rings) {
      rings.forEach(function (ring) {
        ring.forEach(function (p, i) {
          d += (i ? "L" : "M") + p[0].toFixed(1) + "," + p[1].toFixed(1);
        });
        d += "Z";
      });
    });
    return d;
  }

  function pathOf(geometry) {
    if (geometry.type === "Polygon") return ringsToPath([geometry.coordinates]);
    if (geometry.type === "MultiPolygon") return ringsToPath(geometry.coordinates);
    return "";
  }

  function shapeElement(tag, fips, name) {
    var el = document.createElementNS(SVG_NS, tag);
    el.setAttribute("class", "map-shape");
    el.setAttribute("data-fips", fips);
    el.setAttribute("tabindex", "0");
    el.setAttribute("role", "button");
    el.setAttribute("aria-label", name);
    view.shapes[fips] = el;
    return el;
  }

  function drawMap(topology) {
    var svg = $("map");
    svg.textContent = "";
    view.shapes = {};
    var features = window.topojson.feature(topology, topology.objects.states).features;
    features.forEach(function (feature) {
      var entry = view.byFips[feature.id];
      if (!entry) return; // a state with no stored series: nothing to show
      var path = shapeElement("path", feature.id, entry.name);
      path.setAttribute("d", pathOf(feature.geometry));
      svg.appendChild(path);
    });
    var x = BOX.x0;
    BOXES.forEach(function (box) {
      var entry = view.byFips[box.fips];
      if (!entry || view.shapes[box.fips]) return;
      svg.appendChild(territoryBox(box, entry, x));
      x += BOX.width + BOX.gap;
    });
    // Anything else without a shape gets a box, never dropped.
    view.entries.forEach(function (entry) {
      if (view.shapes[entry.fips]) return;
      svg.appendChild(territoryBox({ fips: entry.fips, label: entry.fips }, entry, x));
      x += BOX.width + BOX.gap;
    });
    wireMap(svg);
    svg.setAttribute("data-drawn", "true");
  }

  function territoryBox(box, entry, x) {
    var group = document.createElementNS(SVG_NS, "g");
    var rect = shapeElement("rect", box.fips, entry.name);
    rect.setAttribute("x", String(x));
    rect.setAttribute("y", String(BOX.y));
    rect.setAttribute("width", String(BOX.width));
    rect.setAttribute("height", String(BOX.height));
    rect.setAttribute("rx", "4");
    var label = document.createElementNS(SVG_NS, "text");
    label.setAttribute("x", String(x + BOX.width / 2));
    label.setAttribute("y", String(BOX.y + BOX.height / 2 + 5));
    label.setAttribute("class", "map-box-label");
    label.textContent = box.label;
    group.appendChild(rect);
    group.appendChild(label);
    return group;
  }

  function paintMap() {
    Object.keys(view.shapes).forEach(function (fips) {
      var entry = view.byFips[fips];
      var el = view.shapes[fips];
      el.setAttribute("fill", fillOf(entry));
      el.classList.toggle("no-population", !!entry && entry.population == null);
      el.classList.toggle("is-chosen", fips === view.chosen);
    });
  }

  function tipFor(entry) {
    var lines = [
      entry.name + (entry.date ? " · " + entry.date : ""),
      "New cases a day per 100k: " + figureText(entry, COLUMNS[7]),
      "New cases a day: " + figureText(entry, COLUMNS[6]),
      "Cases: " + figureText(entry, COLUMNS[2]) + " · Deaths: " + figureText(entry, COLUMNS[3]),
    ];
    return lines;
  }

  function showTip(fips, anchor) {
    var entry = view.byFips[fips];
    var tip = $("map-tip");
    if (!entry) return;
    tip.textContent = "";
    tipFor(entry).forEach(function (line, i) {
      var p = document.createElement(i ? "span" : "strong");
      p.textContent = line;
      tip.appendChild(p);
    });
    var wrap = tip.parentNode.getBoundingClientRect();
    var box = anchor.getBoundingClientRect();
    var left = Math.min(Math.max(0, box.left - wrap.left + box.width / 2 - 110), wrap.width - 230);
    tip.style.left = Math.max(0, left) + "px";
    tip.style.top = Math.max(0, box.bottom - wrap.top + 6) + "px";
    tip.hidden = false;
  }

  function hideTip() {
    $("map-tip").hidden = true;
  }

  function wireMap(svg) {
    svg.addEventListener("pointerover", function (e) {
      var fips = e.target.getAttribute && e.target.getAttribute("data-fips");
      if (fips) showTip(fips, e.target);
    });
    svg.addEventListener("pointerleave", hideTip);
    svg.addEventListener("focusin", function (e) {
      var fips = e.target.getAttribute("data-fips");
      if (fips) showTip(fips, e.target);
    });
    svg.addEventListener("focusout", hideTip);
    svg.addEventListener("click", function (e) {
      var fips = e.target.getAttribute && e.target.getAttribute("data-fips");
      if (!fips) return;
      showTip(fips, e.target); // a tap shows the figures too
      choose(fips);
    });
    svg.addEventListener("keydown", function (e) {
      var fips = e.target.getAttribute("data-fips");
      if (fips && (e.key === "Enter" || e.key === " ")) {
        e.preventDefault();
        choose(fips);
      }
    });
  }

  function renderLegend() {
    var legend = $("map-legend");
    legend.textContent = "";
    PALETTE.forEach(function (colour, i) {
      var low = i === 0 ? 0 : BREAKS[i - 1];
      var text = i === PALETTE.length - 1 ? low + " or more" : low + " to " + BREAKS[i];
      legend.appendChild(legendItem(colour, text));
    });
    legend.appendChild(legendItem(NO_DATA, "no data or no population estimate"));
  }

  function legendItem(colour, text) {
    var item = document.createElement("li");
    var swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour;
    item.appendChild(swatch);
    item.appendChild(document.createTextNode(text));
    return item;
  }

  /* table */

  function renderTableHead() {
    var row = document.querySelector("#states-table thead tr");
    row.textContent = "";
    COLUMNS.forEach(function (column) {
      var th = document.createElement("th");
      th.scope = "col";
      th.dataset.key = column.key;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = column.label;
      button.addEventListener("click", function () {
        var same = view.sort.key === column.key;
        view.sort = { key: column.key, dir: same ? -view.sort.dir : column.text ? 1 : -1 };
        renderTable();
      });
      th.appendChild(button);
      row.appendChild(th);
    });
  }

  function compare(a, b) {
    var key = view.sort.key;
    var x = a[key];
    var y = b[key];
    if (x == null && y == null) return a.name < b.name ? -1 : 1;
    if (x == null) return 1; // unknown values last, whichever the direction
    if (y == null) return -1;
    if (x === y) return a.name < b.name ? -1 : 1;
    return (x < y ? -1 : 1) * view.sort.dir;
  }

  function renderTable() {
    document.querySelectorAll("#states-table thead th").forEach(function (th) {
      var sorted = th.dataset.key === view.sort.key;
      th.setAttribute("aria-sort", sorted ? (view.sort.dir > 0 ? "ascending" : "descending") : "none");
    });
    var body = document.querySelector("#states-table tbody");
    body.textContent = "";
    view.entries
      .slice()
      .sort(compare)
      .forEach(function (entry) {
        var tr = document.createElement("tr");
        tr.dataset.fips = entry.fips;
        COLUMNS.forEach(function (column, i) {
          var cell = document.createElement(i ? "td" : "th");
          if (!i) {
            cell.scope = "row";
            var link = document.createElement("a");
            link.href = hashFor(entry.fips);
            link.textContent = entry.name;
            cell.appendChild(link);
          } else {
            cell.textContent = figureText(entry, column);
            if (entry[column.key] == null) cell.className = "is-missing";
          }
          tr.appendChild(cell);
        });
        body.appendChild(tr);
      });
    setCaption();
  }

  function setCaption() {
    $("states-table-caption").textContent =
      "All jurisdictions on " + view.day + " (each one's latest row on or before that day)";
  }

  /* snapshot */

  function applySnapshot(snapshot) {
    view.entries = snapshot.states || [];
    view.byFips = {};
    view.entries.forEach(function (entry) {
      view.byFips[entry.fips] = entry;
    });
  }

  function loadDate(day) {
    var ticket = ++view.request;
    $("map-date-label").textContent = day;
    document.body.dataset.mapDate = "loading";
    return getJSON(withAsOf(SNAPSHOT + "?date=" + day)).then(function (snapshot) {
      if (ticket !== view.request) return;
      applySnapshot(snapshot);
      view.day = day;
      paintMap();
      renderTable();
      document.body.dataset.mapDate = day;
    });
  }

  function wireSlider() {
    var slider = $("map-date");
    slider.min = "0";
    slider.max = String(view.dates.length - 1);
    slider.value = slider.max;
    $("map-date-label").textContent = view.through;
    slider.addEventListener("input", function () {
      loadDate(view.dates[Number(slider.value)]).catch(showError);
    });
  }

  function writeNote() {
    var national = window.covidDashboard ? window.covidDashboard.nationalThrough() : null;
    var note = "Per-state figures run through " + view.through + ".";
    if (national && national !== view.through) {
      note +=
        " The national series runs through " + national + ": the two New York Times files end" +
        " on different dates, and the national total is published separately, not summed from" +
        " the states.";
    }
    $("states-note").textContent = note;
  }

  /* choosing */

  function hashFips() {
    var m = /(?:^#|&)state=([0-9]{2})(?:&|$)/.exec(window.location.hash);
    return m ? m[1] : "";
  }

  function choose(fips) {
    var hash = hashFor(fips);
    var url = window.location.pathname + window.location.search + hash;
    if (window.location.hash !== hash) {
      window.history.pushState(null, "", url);
    }
    showChosen(fips);
  }

  function showChosen(fips) {
    if (fips && !view.byFips[fips]) fips = "";
    view.chosen = fips;
    $("state-select").value = fips;
    paintMap();
    if (!view.nationalReady || !window.covidDashboard) return;
    var title = $("charts-title");
    if (!fips) {
      title.textContent = "Over time";
      window.covidDashboard.showNational();
      document.body.dataset.view = "us";
      return;
    }
    document.body.dataset.view = "loading";
    getJSON(withAsOf("api/v1/states/" + fips + "/records?format=json"))
      .then(function (page) {
        if (view.chosen !== fips) return; // another choice came meanwhile
        title.textContent = "Over time: " + page.name;
        window.covidDashboard.showSeries(page.records, { geoid: "USA-" + fips, name: page.name });
        stateHeadlines(page);
        document.body.dataset.view = fips;
      })
      .catch(showError);
  }

  function stateHeadlines(page) {
    var last = page.records[page.records.length - 1] || {};
    $("headline-cases").textContent = fmtInt(last.cases);
    $("headline-deaths").textContent = fmtInt(last.deaths);
    $("headline-cases-note").textContent =
      page.name + ", " + last.date + " · " + fmtInt(last.new_cases_7d_avg) + " new a day (7-day average)";
    $("headline-deaths-note").textContent =
      page.name + " · " + fmtInt(last.new_deaths_7d_avg) + " new a day (7-day average)";
    var recovered = $("headline-recovered");
    recovered.textContent = "not reported per state";
    recovered.classList.add("is-missing");
    $("headline-recovered-note").textContent = "";
  }

  function fillSelect() {
    var select = $("state-select");
    view.entries
      .slice()
      .sort(function (a, b) {
        return a.name < b.name ? -1 : 1;
      })
      .forEach(function (entry) {
        var option = document.createElement("option");
        option.value = entry.fips;
        option.textContent = entry.name;
        select.appendChild(option);
      });
    select.addEventListener("change", function () {
      choose(select.value);
    });
  }

  /* main */

  function showError(err) {
    var el = $("states-note");
    el.textContent = "The state figures could not load: " + (err && err.message ? err.message : err) + ".";
    el.classList.add("notice", "notice-error");
  }

  function start() {
    document.addEventListener("dashboard:national-ready", function () {
      view.nationalReady = true;
      if (view.entries.length) {
        writeNote();
        showChosen(view.chosen);
      }
    });
    if (typeof window.fetch !== "function") return;
    getJSON(withAsOf(SNAPSHOT))
      .then(function (snapshot) {
        if (!snapshot.states || !snapshot.states.length || !snapshot.data_through) return null;
        applySnapshot(snapshot);
        view.through = snapshot.data_through;
        view.day = view.through;
        view.dates = datesUntil(snapshot.data_from, view.through);
        $("states").hidden = false;
        fillSelect();
        renderLegend();
        renderTableHead();
        renderTable();
        wireSlider();
        writeNote();
        view.chosen = hashFips();
        $("state-select").value = view.chosen;
        if (view.nationalReady) showChosen(view.chosen);
        if (typeof window.topojson !== "object") throw new Error("the map library failed to load");
        return getJSON(SHAPES).then(function (topology) {
          drawMap(topology);
          paintMap();
          document.body.dataset.map = "ready";
        });
      })
      .catch(showError);
    // A typed or pasted #state=…, a table link, or back/forward through earlier choices.
    window.addEventListener("hashchange", function () {
      showChosen(hashFips());
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
