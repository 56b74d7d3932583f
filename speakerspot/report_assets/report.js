"use strict";
// speakerspot report: draws the score timelines of a recording's page, plays its excerpts, and
// pages the recordings of an index page. Data comes from the page's own JSON; nothing is fetched.
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const MIN_SPAN = 4; // seconds: the narrowest view, a couple of windows either side of a point
  const TICK_STEPS = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600];
  const ROWS_PER_PAGE = 100;

  function pad(number) { return String(number).padStart(2, "0"); }

  function clock(seconds) {
    const tenths = Math.round(seconds * 10);
    const hours = Math.floor(tenths / 36000), minutes = Math.floor((tenths % 36000) / 600);
    return `${pad(hours)}:${pad(minutes)}:${pad(Math.floor((tenths % 600) / 10))}.${tenths % 10}`;
  }

  function colour(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

  // The first index whose value is >= x, in a sorted array.
  function lowerBound(values, x) {
    let low = 0, high = values.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (values[middle] < x) low = middle + 1; else high = middle;
    }
    return low;
  }

  function recordingPage() {
    const view = { start: 0, end: Math.max(data.duration, MIN_SPAN) };
    const audio = document.getElementById("player");
    const status = document.getElementById("player-status");
    const viewLabel = document.getElementById("view-range");
    const rows = Array.from(document.querySelectorAll("tr.segment"));
    const timelines = data.tracks.map((track, index) => new Timeline(track, document.getElementById(`timeline-${index}`)));
    let playing = null; // the excerpt in the player: an index of data.snippets

    function redraw() {
      timelines.forEach((timeline) => timeline.draw());
      viewLabel.textContent = `showing ${clock(view.start)} – ${clock(view.end)}`;
    }

    function setView(start, span) {
      span = Math.min(Math.max(span, MIN_SPAN), Math.max(data.duration, MIN_SPAN));
      start = Math.min(Math.max(start, 0), Math.max(data.duration - span, 0));
      view.start = start;
      view.end = start + span;
      redraw();
    }

    function zoom(factor, around) {
      const span = view.end - view.start;
      const newSpan = Math.min(Math.max(span * factor, MIN_SPAN), Math.max(data.duration, MIN_SPAN));
      setView(around - ((around - view.start) * newSpan) / span, newSpan);
    }

    function position() { return playing === null ? null : data.snippets[playing].start + audio.currentTime; }

    function play(index, time) {
      const snippet = data.snippets[index];
      const seek = () => {
        audio.currentTime = Math.max(0, time - snippet.start);
        audio.play().catch((error) => { status.textContent = `Cannot play: ${error.message}`; });
      };
      if (playing !== index) {
        playing = index;
        audio.src = snippet.src;
        audio.addEventListener("loadedmetadata", seek, { once: true });
        audio.load();
      } else {
        seek();
      }
      show(time);
    }

    // Bring `time` into the timelines' view (keeping the zoom) if it is outside.
    function show(time) {
      const span = view.end - view.start;
      if (time < view.start || time > view.end) setView(time - span / 2, span);
    }

    // Play the recording at `time`: from the excerpt holding it, else from the nearest excerpt.
    function playAt(time) {
      if (!data.snippets.length) {
        status.textContent = data.no_audio_reason;
        return;
      }
      const distance = (snippet) => (time < snippet.start ? snippet.start - time : Math.max(0, time - snippet.end));
      let nearest = 0;
      data.snippets.forEach((snippet, index) => { if (distance(snippet) < distance(data.snippets[nearest])) nearest = index; });
      const snippet = data.snippets[nearest];
      if (distance(snippet) > 0) {
        const from = time < snippet.start ? snippet.start : Math.max(snippet.start, snippet.end - 2);
        status.textContent = `No audio cut at ${clock(time)} (the report carries a few seconds around each segment): ` +
          `playing the nearest excerpt from ${clock(from)}`;
        play(nearest, from);
      } else {
        play(nearest, time);
      }
    }

    audio.addEventListener("timeupdate", () => {
      const now = position();
      if (now === null) return;
      audio.dataset.position = now.toFixed(2);
      if (!audio.paused) status.textContent = `Playing ${clock(now)}`;
      rows.forEach((row) => row.classList.toggle("playing",
        Number(row.dataset.start) <= now && now < Number(row.dataset.end)));
      redraw();
    });

    audio.addEventListener("pause", () => {
      const now = position();
      if (now !== null) status.textContent = `Paused at ${clock(now)}`;
    });

    rows.forEach((row) => row.addEventListener("click", () => {
      const index = Number(row.dataset.snippet);
      if (index < 0 || !data.snippets.length) {
        status.textContent = data.no_audio_reason;
        show(Number(row.dataset.start));
        return;
      }
      play(index, Number(row.dataset.start));
    }));
    document.getElementById("zoom-in").addEventListener("click", () => zoom(0.5, (view.start + view.end) / 2));
    document.getElementById("zoom-out").addEventListener("click", () => zoom(2, (view.start + view.end) / 2));
    document.getElementById("zoom-all").addEventListener("click", () => setView(0, data.duration));
    window.addEventListener("resize", redraw);

    function Timeline(track, canvas) {
      const context = canvas.getContext("2d");
      const levels = [[track.threshold, [], "threshold"], [track.stay, [6, 4], "stay"], [track.edge, [2, 3], "edge"]]
        .filter(([level]) => level !== null && level !== undefined);
      const values = track.scores.concat(levels.map(([level]) => level));
      const low = Math.min(...values, 0) - 0.05, high = Math.max(...values, 0) + 0.05;
      const margin = { left: 46, right: 10, top: 8, bottom: 40 };
      const theme = { found: colour("--found"), truth: colour("--truth"), score: colour("--score"),
                      level: colour("--level"), playhead: colour("--playhead"), ink: colour("--muted"), line: colour("--line") };

      const timeAt = (x) => view.start + ((x - margin.left) / (canvas.clientWidth - margin.left - margin.right)) * (view.end - view.start);

      this.draw = function () {
        const ratio = window.devicePixelRatio || 1;
        const width = canvas.clientWidth, height = canvas.clientHeight;
        if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
          canvas.width = Math.round(width * ratio);
          canvas.height = Math.round(height * ratio);
        }
        context.setTransform(ratio, 0, 0, ratio, 0, 0);
        context.clearRect(0, 0, width, height);
        const plotWidth = width - margin.left - margin.right, plotBottom = height - margin.bottom;
        const x = (time) => margin.left + ((time - view.start) / (view.end - view.start)) * plotWidth;
        const y = (score) => plotBottom - ((score - low) / (high - low)) * (plotBottom - margin.top);
        const visible = ([start, end]) => end >= view.start && start <= view.end;
        const clip = (time) => Math.min(Math.max(x(time), margin.left), margin.left + plotWidth);

        context.fillStyle = theme.found;
        track.segments.filter(visible).forEach(([start, end]) =>
          context.fillRect(clip(start), margin.top, Math.max(1, clip(end) - clip(start)), plotBottom - margin.top));
        if (data.truth) {
          context.fillStyle = theme.truth;
          data.truth.filter(visible).forEach(([start, end]) =>
            context.fillRect(clip(start), plotBottom + 4, Math.max(1, clip(end) - clip(start)), 8));
        }

        context.lineWidth = 1;
        context.strokeStyle = theme.level;
        context.fillStyle = theme.level;
        context.font = "11px system-ui, sans-serif";
        levels.forEach(([level, dash, name], index) => {
          context.setLineDash(dash);
          context.beginPath();
          context.moveTo(margin.left, y(level));
          context.lineTo(margin.left + plotWidth, y(level));
          context.stroke();
          // Side by side, since the three levels are often within a few pixels of one another.
          context.fillText(`${name} ${level.toFixed(2)}`, margin.left + plotWidth - 90 * (3 - index), y(level) - 3);
        });
        context.setLineDash([]);

        // Scores: a line through the windows in view, or each pixel column's lowest to highest
        // score when there are more windows than columns (a 3-hour recording has ~20,000).
        const first = Math.max(0, lowerBound(track.times, view.start) - 1);
        const last = Math.min(track.times.length, lowerBound(track.times, view.end) + 1);
        context.strokeStyle = theme.score;
        context.beginPath();
        if (last - first > plotWidth * 2) {
          let column = -1, lowest = 0, highest = 0;
          for (let index = first; index < last; index += 1) {
            const here = Math.floor(x(track.times[index]));
            if (here !== column) {
              if (column >= 0) { context.moveTo(column + 0.5, y(lowest)); context.lineTo(column + 0.5, y(highest) - 0.5); }
              column = here; lowest = highest = track.scores[index];
            }
            lowest = Math.min(lowest, track.scores[index]);
            highest = Math.max(highest, track.scores[index]);
          }
          if (column >= 0) { context.moveTo(column + 0.5, y(lowest)); context.lineTo(column + 0.5, y(highest) - 0.5); }
        } else {
          for (let index = first; index < last; index += 1) {
            const point = [x(track.times[index]), y(track.scores[index])];
            if (index === first) context.moveTo(...point); else context.lineTo(...point);
          }
        }
        context.stroke();
        canvas.dataset.drawnWindows = String(Math.max(0, last - first));

        const now = position();
        if (now !== null && now >= view.start && now <= view.end) {
          context.strokeStyle = theme.playhead;
          context.lineWidth = 2;
          context.beginPath();
          context.moveTo(x(now), margin.top);
          context.lineTo(x(now), plotBottom + 12);
          context.stroke();
          context.lineWidth = 1;
        }

        // Axes: scores on the left, times as a player shows them below.
        context.fillStyle = theme.ink;
        context.strokeStyle = theme.line;
        context.strokeRect(margin.left, margin.top, plotWidth, plotBottom - margin.top);
        [low + 0.05, 0, high - 0.05].forEach((score) => context.fillText(score.toFixed(2), 4, y(score) + 4));
        const span = view.end - view.start;
        const step = TICK_STEPS.find((candidate) => (candidate / span) * plotWidth >= 90) || TICK_STEPS[TICK_STEPS.length - 1];
        for (let tick = Math.ceil(view.start / step) * step; tick <= view.end; tick += step) {
          context.fillRect(x(tick), plotBottom, 1, 4);
          const label = step < 1 ? clock(tick) : clock(tick).slice(0, 8);
          context.fillText(label, Math.min(x(tick) - 24, width - 56), height - 8);
        }
      };

      // Drag to pan, wheel to zoom around the pointer, click to play there.
      let drag = null;
      canvas.addEventListener("pointerdown", (event) => {
        drag = { x: event.clientX, start: view.start, moved: false };
        canvas.setPointerCapture(event.pointerId);
      });
      canvas.addEventListener("pointermove", (event) => {
        if (!drag) return;
        const dx = event.clientX - drag.x;
        if (Math.abs(dx) > 3) drag.moved = true;
        if (drag.moved) {
          const span = view.end - view.start;
          setView(drag.start - (dx / (canvas.clientWidth - margin.left - margin.right)) * span, span);
        }
      });
      canvas.addEventListener("pointerup", (event) => {
        const clicked = drag && !drag.moved;
        drag = null;
        if (clicked) playAt(timeAt(event.offsetX));
      });
      canvas.addEventListener("wheel", (event) => {
        event.preventDefault();
        zoom(Math.exp(event.deltaY * 0.0015), timeAt(event.offsetX));
      }, { passive: false });
    }

    redraw();
  }

  function indexPage() {
    const body = document.getElementById("recordings");
    const filter = document.getElementById("filter");
    const pageLabel = document.getElementById("page-label");
    let page = 0;
    let shown = data.rows;

    function cell(text, className) {
      const element = document.createElement("td");
      element.textContent = text;
      if (className) element.className = className;
      return element;
    }

    function render() {
      const pages = Math.max(1, Math.ceil(shown.length / ROWS_PER_PAGE));
      page = Math.min(page, pages - 1);
      body.replaceChildren(...shown.slice(page * ROWS_PER_PAGE, (page + 1) * ROWS_PER_PAGE).map((row) => {
        const line = document.createElement("tr");
        const name = document.createElement("td");
        const link = document.createElement("a");
        link.href = row.href;
        link.textContent = row.name;
        name.appendChild(link);
        line.appendChild(name);
        if (data.aired) line.appendChild(cell(row.on_air || "–"));
        line.appendChild(cell(clock(row.duration).slice(0, 8), "number"));
        data.models.forEach((model) => {
          const [seconds, segments] = row.found[model] || [0, 0];
          line.appendChild(cell(segments ? `${clock(seconds).slice(0, 8)} (${segments})` : "–", "number"));
        });
        return line;
      }));
      pageLabel.textContent = `page ${page + 1} of ${pages} · ${shown.length} recording(s)`;
    }

    filter.addEventListener("input", () => {
      const words = filter.value.toLowerCase();
      shown = data.rows.filter((row) => `${row.name}\n${row.on_air || ""}`.toLowerCase().includes(words));
      page = 0;
      render();
    });
    document.getElementById("previous-page").addEventListener("click", () => { page = Math.max(0, page - 1); render(); });
    document.getElementById("next-page").addEventListener("click", () => { page += 1; render(); });
    render();
  }

  if (data.kind === "recording") recordingPage(); else indexPage();
})();
