// build-swarm dashboard: refresh the live parts of a page, follow a build log, fill the SQL box. No framework, no build step.
"use strict";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const state = document.getElementById("live-state");

function say(text) { if (state) state.textContent = text; }

async function refresh(region) {
  const every = Number(region.dataset.every) || 2000;
  for (;;) {
    await sleep(document.hidden ? every * 5 : every);
    try {
      const response = await fetch(region.dataset.live, { credentials: "same-origin", headers: { "X-Swarm-Part": "1" } });
      if (response.status === 401) { window.location.reload(); return; }
      if (!response.ok) { say(`live updates: HTTP ${response.status}`); continue; }
      const html = await response.text();
      if (html !== region.dataset.shown) {
        const open = [...region.querySelectorAll("details")].map((d) => d.open);
        region.innerHTML = html;
        region.dataset.shown = html;
        region.querySelectorAll("details").forEach((d, i) => { if (i < open.length) d.open = open[i]; });
      }
      region.dataset.updated = String(Date.now());
      say(`updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      say("live updates paused: the coordinator does not answer");
    }
  }
}

async function follow(pre) {
  const status = document.getElementById("log-state");
  let offset = 0;
  for (;;) {
    let chunk;
    try {
      const response = await fetch(`/ui/live/log/${pre.dataset.attempt}?offset=${offset}`, { credentials: "same-origin", headers: { "X-Swarm-Part": "1" } });
      if (response.status === 401) { window.location.reload(); return; }
      chunk = await response.json();
      if (!response.ok) { if (status) status.textContent = chunk.error || `HTTP ${response.status}`; return; }
    } catch (error) {
      if (status) status.textContent = "the coordinator does not answer; retrying";
      await sleep(3000);
      continue;
    }
    if (chunk.text) {
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(chunk.text);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
    offset = chunk.next_offset;
    if (chunk.done) {
      if (status) status.textContent = chunk.exists ? "finished" : "finished; no log file was kept for this build (its end is in the attempt's record)";
      pre.dataset.done = "1";
      return;
    }
    if (status) status.textContent = chunk.exists ? "following the build…" : "waiting for the log (a remote drone uploads it when the build ends)";
    if (!chunk.text) await sleep(1000);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-live]").forEach((region) => { region.dataset.shown = region.innerHTML; refresh(region); });
  const log = document.getElementById("log");
  if (log) follow(log);
  document.querySelectorAll("form[data-confirm]").forEach((form) => form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  }));
  document.querySelectorAll("button.fill").forEach((button) => button.addEventListener("click", () => {
    const box = document.getElementById("query");
    box.value = button.dataset.query;
    box.focus();
  }));
});
