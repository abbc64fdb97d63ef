// MAGNET dashboard: live refresh from chain events, deadline countdowns, confirmed actions.
// No framework and nothing fetched from elsewhere: the page re-fetches itself and swaps the
// sections marked data-live when the server says new market events were mined.
"use strict";

(function () {
  const live = document.getElementById("live");

  function setState(state, title) {
    if (!live) return;
    live.dataset.state = state;
    if (title) live.title = title;
  }

  function countdown(seconds) {
    if (seconds <= 0) return "passed";
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const pad = (n) => String(n).padStart(2, "0");
    if (h) return `${h}h ${pad(m)}m ${pad(s)}s`;
    return m ? `${m}m ${pad(s)}s` : `${s}s`;
  }

  // Deadlines are rendered against the chain's latest block time; from then on, tick locally.
  function tick() {
    for (const el of document.querySelectorAll(".countdown[data-remaining]")) {
      const left = Number(el.dataset.remaining) - 1;
      el.dataset.remaining = String(left);
      const b = el.querySelector("b");
      if (b) b.textContent = countdown(left);
    }
  }
  setInterval(tick, 1000);

  let refreshing = false;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      const response = await fetch(location.href, { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      for (const el of document.querySelectorAll("[data-live][id]")) {
        const next = fresh.getElementById(el.id);
        if (!next) continue;
        // Keep what the reader unfolded (a submission's passed checks) unfolded.
        const open = [...el.querySelectorAll("details")].map((d) => d.open);
        next.querySelectorAll("details").forEach((d, i) => { if (open[i]) d.open = true; });
        el.replaceWith(document.importNode(next, true));
      }
      document.body.dataset.refreshed = String(Date.now());
    } finally {
      refreshing = false;
    }
  }

  if (window.EventSource && document.querySelector("[data-live]")) {
    const source = new EventSource("/api/events");
    let first = true;
    source.addEventListener("market", (event) => {
      const pulse = JSON.parse(event.data);
      setState("live", `live: block ${pulse.block}, ${pulse.events} market events`);
      if (!first) refresh();
      first = false;
    });
    source.addEventListener("offline", () => setState("offline", "the chain's RPC does not answer"));
    source.onerror = () => setState("offline", "lost the live stream; reconnecting");
  } else {
    setState("static", "this page does not update itself");
  }

  // Actions that send a transaction ask first (the server also requires its token).
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();
