// tubesum browser UI: plain JS, no build step. Everything shown comes from the API; untrusted text is only ever
// set with textContent, never parsed as HTML. The API key lives in sessionStorage and travels as a header.
"use strict";

(() => {
  const KEY_STORAGE = "tubesum.apiKey";
  const ALL_FORMATS = ["txt", "srt", "vtt", "json", "md", "pdf"];
  const STAGES = {
    follow: "Waiting for an identical job",
    ingest: "Checking the source",
    captions: "Looking for captions",
    fetch: "Downloading",
    decode: "Decoding audio",
    transcribe: "Transcribing",
    diarize: "Finding speakers",
    summarize: "Summarizing",
    render: "Writing results",
  };
  const body = document.body;
  const authRequired = body.dataset.authRequired === "true";
  const $ = (id) => document.getElementById(id);

  let player = null; // {seek(seconds)}
  let mediaUrl = null; // object URL of an uploaded file's media
  let follow = null; // AbortController of the running progress stream
  let currentJobId = null;

  class ApiError extends Error {
    constructor(status, problem) {
      const detail = problem.detail || `Request failed (HTTP ${status}).`;
      super(problem.hint ? `${detail} ${problem.hint}` : detail);
      this.status = status;
      this.code = problem.code || "http_error";
    }
  }

  function apiKey() {
    return sessionStorage.getItem(KEY_STORAGE);
  }

  function authHeaders(extra, key = apiKey()) {
    const headers = new Headers(extra || {});
    if (key) headers.set("Authorization", `Bearer ${key}`);
    return headers;
  }

  async function api(path, options = {}, key = apiKey()) {
    const response = await fetch(path, {
      ...options,
      headers: authHeaders(options.headers, key),
      cache: "no-store",
      credentials: "same-origin",
    });
    if (!response.ok) {
      let problem = {};
      try {
        problem = await response.json();
      } catch (_) {
        problem = {};
      }
      const error = new ApiError(response.status, problem);
      if (response.status === 401 && authRequired && key === apiKey()) askForKey(error.message);
      throw error;
    }
    return response;
  }

  // -- API key -----------------------------------------------------------------------------------------------
  function askForKey(message) {
    $("key-section").hidden = false;
    $("submit-section").hidden = true;
    $("jobs-section").hidden = true;
    $("forget-key").hidden = true;
    $("key-error").textContent = message || "";
    $("api-key").focus();
  }

  function keyAccepted() {
    $("key-section").hidden = true;
    $("submit-section").hidden = false;
    $("jobs-section").hidden = false;
    $("forget-key").hidden = !authRequired;
    $("key-error").textContent = "";
  }

  async function submitKey(event) {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) {
      $("key-error").textContent = "Enter an API key.";
      $("api-key").focus();
      return;
    }
    try {
      await api("/v1/jobs?limit=1", {}, key);
    } catch (error) {
      const why = error.status === 401 ? "This API key was not accepted" : "The key could not be checked";
      $("key-error").textContent = `${why}: ${error.message}`;
      $("api-key").setAttribute("aria-invalid", "true");
      $("api-key").focus();
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    $("api-key").value = "";
    $("api-key").removeAttribute("aria-invalid");
    keyAccepted();
    $("source").focus();
    loadJobs();
  }

  function forgetKey() {
    sessionStorage.removeItem(KEY_STORAGE);
    askForKey("");
  }

  // -- submitting ----------------------------------------------------------------------------------------------
  function chosenOptions() {
    const options = {
      formats: [...document.querySelectorAll('input[name="formats"]:checked')].map((box) => box.value),
      diarize: $("diarize").checked,
      summarize: $("summarize").checked,
    };
    const model = $("model").value.trim();
    const language = $("language").value.trim();
    if (model) options.model = model;
    if (language) options.language = language;
    // The advanced section is generated from the server's options model: empty means "server default".
    for (const input of document.querySelectorAll("[data-option]")) {
      const text = input.value.trim();
      if (!text) continue;
      const kind = input.dataset.kind;
      if (input.dataset.many) options[input.dataset.option] = text.split(",").map((part) => part.trim()).filter(Boolean);
      else if (kind === "bool") options[input.dataset.option] = text === "on";
      else if (kind === "int" || kind === "float") options[input.dataset.option] = Number(text);
      else options[input.dataset.option] = text;
    }
    return options;
  }

  async function submitJob(event) {
    event.preventDefault();
    const formError = $("form-error");
    formError.textContent = "";
    const fileInput = $("file");
    const file = fileInput && fileInput.files.length ? fileInput.files[0] : null;
    const url = $("source").value.trim();
    const options = chosenOptions();
    if (!file && !url) {
      formError.textContent = fileInput ? "Enter a URL or choose a file." : "Enter a URL.";
      $("source").focus();
      return;
    }
    const maxMb = Number(body.dataset.uploadMaxMb);
    if (file && file.size > maxMb * 1024 * 1024) {
      formError.textContent = `The file is larger than ${maxMb} MB.`;
      fileInput.focus();
      return;
    }
    if (!options.formats.length) {
      formError.textContent = "Choose at least one format.";
      document.querySelector('input[name="formats"]').focus();
      return;
    }
    const button = $("submit");
    button.disabled = true;
    try {
      let source = url;
      if (file) {
        showProgress(null, `Uploading ${file.name}…`);
        const uploaded = await api(`/v1/uploads?filename=${encodeURIComponent(file.name)}`, {
          method: "POST",
          body: file,
          headers: { "Content-Type": file.type || "application/octet-stream" },
        });
        source = (await uploaded.json()).source;
      }
      const created = await api("/v1/jobs", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ source, options }),
      });
      const job = await created.json();
      if (fileInput) fileInput.value = "";
      openJob(job);
      loadJobs();
    } catch (error) {
      $("progress-section").hidden = true;
      formError.textContent = `Could not start the job: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  // -- progress ------------------------------------------------------------------------------------------------
  // The live region hears stage changes only; the percentage goes to the bar and a quiet label beside it.
  function showProgress(fraction, text) {
    $("progress-section").hidden = false;
    const bar = $("progress-bar");
    if (typeof fraction === "number") {
      bar.value = fraction;
      $("progress-pct").textContent = `${Math.round(fraction * 100)}%`;
    } else {
      bar.removeAttribute("value");
      $("progress-pct").textContent = "";
    }
    if ($("progress-text").textContent !== text) $("progress-text").textContent = text;
  }

  function showFailure(what) {
    return (error) => showProgress(0, `${what}: ${error.message}`);
  }

  function describe(event) {
    if (event.state === "queued") return "Queued: waiting for a worker.";
    return `${STAGES[event.stage] || event.stage || "Working"}…`;
  }

  function openJob(job) {
    if (follow) follow.abort();
    currentJobId = job.id;
    $("result-section").hidden = true;
    if (job.state === "succeeded") {
      $("progress-section").hidden = true;
      showResult(job).catch(showFailure("Could not show the result"));
    } else if (job.state === "failed" || job.state === "cancelled") {
      showEnd(job);
    } else {
      followJob(job.id);
    }
  }

  async function followJob(jobId) {
    const controller = new AbortController();
    follow = controller;
    $("cancel-job").hidden = false;
    showProgress(null, "Queued: waiting for a worker.");
    const live = $("live-text");
    live.textContent = "";
    live.hidden = true;
    try {
      const response = await api(`/v1/jobs/${encodeURIComponent(jobId)}/events?segments=true`, {
        headers: { Accept: "text/event-stream" },
        signal: controller.signal,
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const message = parseEvent(block);
          if (message.event === "progress" && message.data) {
            showProgress(message.data.progress, describe(message.data));
          } else if (message.event === "segment" && message.data) {
            // The transcript as it is decoded: each segment once, in order (text grows while the job runs).
            live.hidden = false;
            live.textContent += (live.textContent ? " " : "") + message.data.text;
          } else if (message.event === "reset") {
            live.textContent = ""; // a retried attempt starts its transcript over
          } else if (message.event === "end") {
            controller.abort();
            break;
          }
        }
      }
    } catch (error) {
      if (error.name !== "AbortError" && follow === controller) {
        showProgress(null, `Lost the progress stream (${error.message}); checking the job…`);
      }
    }
    if (follow !== controller || currentJobId !== jobId) return;
    follow = null;
    finishJob(jobId).catch(showFailure("Could not read the job"));
  }

  function parseEvent(block) {
    const message = { event: "message", data: null };
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") message.event = value;
      else if (field === "data") data.push(value);
    }
    try {
      message.data = data.length ? JSON.parse(data.join("\n")) : null;
    } catch (_) {
      message.data = null;
    }
    return message;
  }

  async function finishJob(jobId) {
    for (;;) {
      const job = await (await api(`/v1/jobs/${encodeURIComponent(jobId)}`)).json();
      if (currentJobId !== jobId) return;
      if (job.state === "succeeded") {
        showProgress(1, "Done.");
        $("cancel-job").hidden = true;
        await showResult(job);
        loadJobs();
        return;
      }
      if (job.state === "failed" || job.state === "cancelled") {
        showEnd(job);
        loadJobs();
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  function showEnd(job) {
    $("cancel-job").hidden = true;
    const reason = job.error ? `${job.error.message} (${job.error.code})` : "";
    showProgress(0, job.state === "failed" ? `Failed: ${reason}` : "Cancelled.");
  }

  async function cancelJob() {
    if (!currentJobId) return;
    try {
      await api(`/v1/jobs/${encodeURIComponent(currentJobId)}`, { method: "DELETE" });
    } catch (error) {
      $("progress-text").textContent = `Could not cancel: ${error.message}`;
    }
  }

  // -- results -------------------------------------------------------------------------------------------------
  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds || 0));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
  }

  function timestampButton(seconds) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "ts";
    button.dataset.start = String(seconds);
    button.textContent = clock(seconds);
    button.setAttribute("aria-label", `Play from ${clock(seconds)}`);
    return button;
  }

  async function showResult(job) {
    const transcript = await (await api(`/v1/jobs/${encodeURIComponent(job.id)}/result?format=json`)).json();
    if (currentJobId !== job.id) return;
    const media = transcript.media || {};
    $("result-title").textContent = media.title || job.title || job.source;
    const meta = [];
    if (transcript.language) meta.push(`Language: ${transcript.language}`);
    if (transcript.duration) meta.push(`Length: ${clock(transcript.duration)}`);
    if (transcript.model) meta.push(`Model: ${transcript.model}`);
    if (job.cache_hit) meta.push("From cache");
    $("result-meta").textContent = meta.join(" · ");
    renderDownloads(job);
    renderSummary(transcript.summary);
    renderTranscript(transcript.segments || []);
    $("result-section").hidden = false;
    await renderPlayer(job, transcript);
  }

  function renderDownloads(job) {
    const list = $("downloads");
    list.replaceChildren();
    for (const fmt of ALL_FORMATS) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/v1/jobs/${encodeURIComponent(job.id)}/result?format=${fmt}`;
      link.className = "download";
      link.dataset.format = fmt;
      link.textContent = `Download ${fmt.toUpperCase()}`;
      item.append(link);
      list.append(item);
    }
  }

  async function download(event) {
    const link = event.target.closest("a.download");
    if (!link) return;
    event.preventDefault();
    try {
      const response = await api(link.getAttribute("href"));
      const disposition = response.headers.get("Content-Disposition") || "";
      const match = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
      const name = match ? decodeURIComponent(match[1]) : `transcript.${link.dataset.format}`;
      const url = URL.createObjectURL(await response.blob());
      const save = document.createElement("a");
      save.href = url;
      save.download = name;
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (error) {
      $("progress-section").hidden = false;
      $("progress-text").textContent = `Download failed: ${error.message}`;
    }
  }

  function renderSummary(summary) {
    const section = $("summary-section");
    section.hidden = !summary;
    if (!summary) return;
    $("summary-abstract").textContent = summary.abstract || "";
    const list = $("key-points");
    list.replaceChildren();
    for (const point of summary.key_points || []) {
      const item = document.createElement("li");
      if (typeof point.start === "number") item.append(timestampButton(point.start), " ");
      const text = document.createElement("span");
      text.textContent = point.text;
      item.append(text);
      list.append(item);
    }
  }

  function renderTranscript(segments) {
    const list = $("transcript");
    list.replaceChildren();
    const speakers = new Map();
    for (const segment of segments) {
      const item = document.createElement("li");
      item.className = "segment";
      item.append(timestampButton(segment.start), " ");
      if (segment.speaker) {
        if (!speakers.has(segment.speaker)) speakers.set(segment.speaker, speakers.size % 8);
        const label = document.createElement("span");
        label.className = `speaker speaker-${speakers.get(segment.speaker)}`;
        label.textContent = `${segment.speaker}:`;
        item.append(label, " ");
      }
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = segment.text.trim();
      item.append(text);
      list.append(item);
    }
  }

  function seekFrom(event) {
    const button = event.target.closest("button.ts");
    if (!button || !player) return;
    player.seek(Number(button.dataset.start));
  }

  // -- player ----------------------------------------------------------------------------------------------------
  async function renderPlayer(job, transcript) {
    const box = $("player");
    box.replaceChildren();
    player = null;
    if (mediaUrl) URL.revokeObjectURL(mediaUrl);
    mediaUrl = null;
    const source = transcript.source || {};
    if (source.kind === "youtube" && source.video_id) {
      youtubePlayer(box, source.video_id);
    } else if (job.source.startsWith("upload:")) {
      let blob;
      try {
        blob = await (await api(`/v1/jobs/${encodeURIComponent(job.id)}/media`)).blob();
      } catch (error) {
        playerNote(box, `The uploaded media could not be loaded: ${error.message}`);
        return;
      }
      if (currentJobId !== job.id) return;
      mediaUrl = URL.createObjectURL(blob);
      const element = document.createElement(blob.type.startsWith("video/") ? "video" : "audio");
      element.controls = true;
      element.preload = "metadata";
      element.src = mediaUrl;
      element.id = "media-player";
      element.setAttribute("aria-label", "Media player");
      box.append(element);
      player = {
        seek(seconds) {
          element.currentTime = seconds;
          element.play().catch(() => {});
        },
      };
    } else {
      playerNote(box, "No player for this source.");
    }
  }

  function playerNote(box, text) {
    const note = document.createElement("p");
    note.className = "help";
    note.textContent = text;
    box.append(note);
  }

  function youtubePlayer(box, videoId) {
    const target = document.createElement("div");
    target.id = "youtube-player";
    box.append(target);
    let ready = null;
    const create = () => {
      const yt = new window.YT.Player("youtube-player", {
        videoId,
        host: "https://www.youtube-nocookie.com",
        playerVars: { rel: 0, origin: window.location.origin },
        events: { onReady: () => (ready = yt) },
      });
    };
    player = {
      seek(seconds) {
        if (!ready) return;
        ready.seekTo(seconds, true);
        ready.playVideo();
      },
    };
    if (window.YT && window.YT.Player) {
      create();
      return;
    }
    window.onYouTubeIframeAPIReady = create;
    if (!document.querySelector('script[src="https://www.youtube.com/iframe_api"]')) {
      const script = document.createElement("script");
      script.src = "https://www.youtube.com/iframe_api";
      document.head.append(script);
    }
  }

  // -- recent jobs -----------------------------------------------------------------------------------------------
  async function loadJobs() {
    let page;
    try {
      page = await (await api("/v1/jobs?limit=20")).json();
    } catch (_) {
      return;
    }
    const list = $("jobs");
    list.replaceChildren();
    if (!page.items.length) {
      const empty = document.createElement("li");
      empty.textContent = "No jobs yet.";
      list.append(empty);
    }
    for (const job of page.items) {
      const item = document.createElement("li");
      const open = document.createElement("button");
      open.type = "button";
      open.className = "job-open";
      open.dataset.jobId = job.id;
      open.textContent = job.title || job.source;
      const state = document.createElement("span");
      state.className = `state state-${job.state}`;
      state.textContent = job.state;
      const when = document.createElement("time");
      when.dateTime = job.created_at;
      when.textContent = new Date(job.created_at).toLocaleString();
      item.append(open, " ", state, " ", when);
      item.job = job;
      list.append(item);
    }
  }

  function openListedJob(event) {
    const button = event.target.closest("button.job-open");
    if (!button) return;
    openJob(button.parentElement.job);
    $("progress-section").scrollIntoView({ block: "nearest" });
  }

  // -- start -------------------------------------------------------------------------------------------------------
  $("key-form").addEventListener("submit", submitKey);
  $("job-form").addEventListener("submit", submitJob);
  $("forget-key").addEventListener("click", forgetKey);
  $("cancel-job").addEventListener("click", cancelJob);
  $("refresh-jobs").addEventListener("click", loadJobs);
  $("downloads").addEventListener("click", download);
  $("transcript").addEventListener("click", seekFrom);
  $("key-points").addEventListener("click", seekFrom);
  $("jobs").addEventListener("click", openListedJob);

  if (authRequired && !apiKey()) {
    askForKey("");
  } else {
    keyAccepted();
    loadJobs();
  }
})();
