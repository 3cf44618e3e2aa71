"use strict";
(() => {
  // Relative URLs so the page keeps working when the service sits behind a path prefix.
  const PREDICT_URL = "predict?top_k=10";
  const MODEL_URL = "model";
  const MODEL_RETRIES = 15;
  const MODEL_RETRY_MS = 2000;
  const BAND_TEXT = { high: "high confidence", medium: "medium confidence", low: "low confidence" };

  const $ = (id) => document.getElementById(id);
  const fileInput = $("file");
  const drop = $("drop");
  const statusLine = $("status");
  const errorBox = $("error");
  const result = $("result");
  const preview = $("preview");
  const previewImage = $("preview-image");

  let inFlight = null;
  let previewUrl = null;
  let thresholds = null; // from GET /model, to explain the bands

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function percent(probability) {
    const value = Number(probability) * 100;
    if (!Number.isFinite(value)) return "–";
    if (value > 0 && value < 0.1) return "<0.1 %";
    return `${value.toFixed(1)} %`;
  }

  function roundPercent(fraction) {
    return `${Math.round(Number(fraction) * 1000) / 10} %`;
  }

  function describeThresholds() {
    if (!thresholds) return "";
    const { high_confidence: high, low_confidence: low, reject_below: reject } = thresholds;
    if (typeof high !== "number" || typeof low !== "number") return "";
    let text = `Bands: high above ${roundPercent(high)}, medium ${roundPercent(low)} to ${roundPercent(high)}, `
      + `low below ${roundPercent(low)}.`;
    if (typeof reject === "number") text += ` Below ${roundPercent(reject)} the prediction is rejected as “unknown”.`;
    return text;
  }

  function formatBytes(size) {
    if (size < 1024) return `${size} B`;
    if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KiB`;
    return `${(size / (1024 * 1024)).toFixed(1)} MiB`;
  }

  function setStatus(text, busy) {
    statusLine.textContent = text;
    statusLine.classList.toggle("busy", Boolean(busy));
  }

  function showError(title, detail) {
    errorBox.replaceChildren(element("strong", "", title));
    if (detail) errorBox.append(element("span", "error-detail", detail));
    errorBox.hidden = false;
  }

  // The service answers errors as {"error": "...", "code": "..."}; anything else falls back to the HTTP status.
  async function describeFailure(response) {
    let message = `${response.status} ${response.statusText}`.trim();
    let code = "";
    try {
      const body = await response.json();
      if (body && typeof body.error === "string" && body.error) message = body.error;
      if (body && typeof body.code === "string") code = body.code;
    } catch (_) {
      // Not JSON (a proxy page, say): keep the status line.
    }
    const parts = [`HTTP ${response.status}`];
    if (code) parts.push(code);
    const requestId = response.headers.get("X-Request-ID");
    if (requestId) parts.push(`request id ${requestId}`);
    return { message, detail: parts.join(" · ") };
  }

  function showPreview(file) {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(file);
    previewImage.classList.remove("tiny");
    previewImage.hidden = false;
    previewImage.src = previewUrl;
    $("preview-name").textContent = file.name || "pasted image";
    $("preview-details").textContent = `${formatBytes(file.size)}${file.type ? ` · ${file.type}` : ""}`;
    preview.hidden = false;
    $("preview-placeholder").hidden = true;
  }

  previewImage.addEventListener("load", () => {
    const { naturalWidth: width, naturalHeight: height } = previewImage;
    previewImage.classList.toggle("tiny", width <= 128 && height <= 128);
    $("preview-details").textContent += ` · ${width}×${height} px`;
  });
  previewImage.addEventListener("error", () => {
    // The browser cannot show it; the service may still decode it (or say why not).
    previewImage.hidden = true;
    $("preview-details").textContent += " · no preview";
  });

  function serverDuration(response) {
    // Server-Timing: name;dur=0.42, other;dur=1.0 — sum the reported durations.
    const header = response.headers.get("Server-Timing");
    if (!header) return null;
    let total = 0;
    let found = false;
    for (const metric of header.split(",")) {
      const match = /(?:^|;)\s*dur=([0-9.]+)/.exec(metric);
      if (match) { total += Number(match[1]); found = true; }
    }
    return found ? total : null;
  }

  function sortedClasses(body) {
    if (Array.isArray(body.top_k) && body.top_k.length) {
      return body.top_k.map((entry) => ({ label: String(entry.label), probability: Number(entry.probability) }));
    }
    return Object.entries(body.probabilities || {})
      .map(([label, probability]) => ({ label, probability: Number(probability) }))
      .sort((a, b) => b.probability - a.probability);
  }

  function renderBars(classes, band) {
    const rows = classes.map((entry, position) => {
      const row = element("li", position === 0 ? `top band-${band}` : "");
      row.dataset.label = entry.label;
      row.dataset.probability = String(entry.probability);
      const track = element("span", "bar-track");
      track.setAttribute("aria-hidden", "true");
      const fill = element("span", "bar-fill");
      fill.style.width = `${Math.min(100, Math.max(0, entry.probability * 100))}%`;
      track.append(fill);
      row.append(element("span", "bar-name", entry.label), track, element("span", "bar-value", percent(entry.probability)));
      return row;
    });
    $("bars").replaceChildren(...rows);
  }

  function renderResult(body, response, roundTripMs) {
    const band = ["high", "medium", "low"].includes(body.band) ? body.band : "low";
    const accepted = body.accepted !== false;
    $("label").textContent = String(body.label);
    $("confidence").textContent = percent(body.confidence);
    const bandBadge = $("band");
    // A rejected answer gets no confidence colour: "high confidence" beside "Rejected" would contradict it.
    bandBadge.dataset.band = accepted ? band : "rejected";
    bandBadge.textContent = accepted ? BAND_TEXT[band] : "below the rejection threshold";
    $("accepted").textContent = accepted ? "Accepted" : "Rejected";
    $("prediction").textContent = String(body.prediction ?? (accepted ? body.label : "unknown"));
    $("decision-note").textContent = accepted
      ? ""
      : `(confidence below the service's rejection threshold; the top class ${body.label} is shown above)`;
    result.classList.toggle("accepted", accepted);
    result.classList.toggle("rejected", !accepted);
    renderBars(sortedClasses(body), band);
    $("timing-round-trip").textContent = `${roundTripMs.toFixed(1)} ms`;
    const serverMs = serverDuration(response);
    $("timing-server").textContent = serverMs === null ? "" : `${serverMs.toFixed(2)} ms`;
    $("timing-server").hidden = $("timing-server-term").hidden = serverMs === null;
    const legend = describeThresholds();
    $("band-legend").textContent = legend;
    $("band-legend").hidden = !legend;
    $("request-id").textContent = response.headers.get("X-Request-ID") || "not reported";
    result.hidden = false;
  }

  async function classify(file) {
    if (inFlight) inFlight.abort();
    const controller = new AbortController();
    inFlight = controller;
    errorBox.hidden = true;
    result.hidden = true;
    result.setAttribute("aria-busy", "true");
    showPreview(file);
    setStatus(`Classifying ${file.name || "the image"}…`, true);

    const form = new FormData();
    form.append("file", file, file.name || "upload");
    const started = performance.now();
    try {
      const response = await fetch(PREDICT_URL, {
        method: "POST",
        body: form,
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      if (!response.ok) {
        const failure = await describeFailure(response);
        if (controller !== inFlight) return;
        showError(`Could not classify “${file.name || "the image"}”: ${failure.message}`, failure.detail);
        setStatus("The service refused this file.");
        return;
      }
      const body = await response.json();
      const roundTripMs = performance.now() - started;
      if (controller !== inFlight) return;
      renderResult(body, response, roundTripMs);
      // The status line is the live region: say the answer there too, for screen-reader users.
      setStatus(`Classified ${file.name || "the image"}: ${body.label}, ${percent(body.confidence)}, ${body.band} confidence.`);
    } catch (error) {
      if (error && error.name === "AbortError") return;
      if (controller !== inFlight) return;
      showError("Could not reach the service.", String(error && error.message ? error.message : error));
      setStatus("Request failed.");
    } finally {
      if (controller === inFlight) {
        inFlight = null;
        result.removeAttribute("aria-busy");
      }
    }
  }

  fileInput.addEventListener("change", () => {
    const file = fileInput.files && fileInput.files[0];
    if (file) classify(file);
  });

  drop.addEventListener("dragenter", (event) => { event.preventDefault(); drop.classList.add("dragging"); });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragleave", (event) => {
    if (!drop.contains(event.relatedTarget)) drop.classList.remove("dragging");
  });
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("dragging");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) classify(file);
  });
  // A file dropped next to the zone would otherwise make the browser navigate away to it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  document.addEventListener("paste", (event) => {
    const items = event.clipboardData ? Array.from(event.clipboardData.files) : [];
    const image = items.find((file) => file.type.startsWith("image/"));
    if (image) { event.preventDefault(); classify(image); }
  });

  function chip(name, value) {
    const item = element("li", "chip");
    item.append(`${name} `, element("b", "", value));
    return item;
  }

  function renderModelInfo(info) {
    const list = $("model-info");
    const chips = [];
    const name = info.name ?? info.model_name;
    if (name !== undefined) chips.push(chip("model", name));
    if (info.precision !== undefined) chips.push(chip("precision", String(info.precision).toUpperCase()));
    const version = info.version ?? info.sha256;
    if (version !== undefined) {
      const text = String(version);
      const shown = /^[0-9a-f]{16,}$/i.test(text) ? text.slice(0, 12) : text;
      const item = chip("version", shown);
      item.title = text;
      chips.push(item);
    }
    const runtime = info.onnxruntime_version ?? (info.onnxruntime && info.onnxruntime.version) ?? info.onnxruntime;
    if (runtime !== undefined && typeof runtime !== "object") chips.push(chip("onnxruntime", runtime));
    if (typeof info.resize === "string") chips.push(chip("resize", info.resize));
    if (info.thresholds && typeof info.thresholds === "object") thresholds = info.thresholds;
    list.classList.remove("unavailable");
    list.replaceChildren(...(chips.length ? chips : [element("li", "", "Model information is empty.")]));
  }

  async function loadModelInfo(attempt) {
    const list = $("model-info");
    try {
      const response = await fetch(MODEL_URL, { headers: { Accept: "application/json" } });
      if (response.ok) {
        renderModelInfo(await response.json());
        return;
      }
      const failure = await describeFailure(response);
      list.classList.add("unavailable");
      list.replaceChildren(element("li", "", `Model information unavailable: ${failure.message} (${failure.detail})`));
      // 503 means "still loading": the model becomes ready shortly after start-up.
      if (response.status === 503 && attempt < MODEL_RETRIES) {
        setTimeout(() => loadModelInfo(attempt + 1), MODEL_RETRY_MS);
      }
    } catch (error) {
      list.classList.add("unavailable");
      list.replaceChildren(element("li", "", "Model information unavailable: the service cannot be reached."));
    }
  }

  loadModelInfo(0);
})();
