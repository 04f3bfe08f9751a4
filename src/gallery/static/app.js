// RareForge gallery: scenarios, their jobs and miss-rate reports, sample grids with intended boxes and
// detections drawn, and a sample page with its provenance. Plain ES module; it talks to /graphql only, as the
// signed-in API key (session.js), and shows nothing while signed out; files come from the signed
// /artifacts/<sha256> URLs the API returns, which need no header.
import { forgetKey, keepKey, KeyRefusedError, graphqlAs, storedKey, whoIs } from "./session.js";

const INTENDED_COLOUR = "rgb(0, 255, 0)";
const DETECTION_COLOUR = "rgb(255, 0, 255)";
// Samples are drawn at a whole-number scale (nearest neighbour, so pixels stay sharp and boxes land on the
// pixel grid) that brings the longer side close to these sizes.
const GRID_SIZE = 192;
const SAMPLE_SIZE = 512;
const PAGE = 60;

const view = document.getElementById("view");
const breadcrumbs = document.getElementById("breadcrumbs");

/**
 * Each navigation gets a ticket; a view whose ticket is no longer the latest stops before it touches the
 * page, so a slow answer for a page the user has left never replaces the page they are on.
 */
let latestRoute = 0;
class StaleRoute extends Error {}
function currentOrStop(ticket) {
  if (ticket !== latestRoute) throw new StaleRoute();
}

// ------------------------------------------------------------------------------------------- helpers
/** GraphQL as the signed-in key; a refused key signs the page out (unless another key has signed in since). */
async function graphql(query, variables = {}) {
  const key = storedKey();
  if (!key) throw new Error("signed out");
  try {
    return await graphqlAs(key, query, variables);
  } catch (error) {
    if (error instanceof KeyRefusedError && storedKey() === key) signOut(error.message);
    throw error;
  }
}

/** A `... on XSuccess { data }` result, or an Error member's message thrown. */
function unwrap(result) {
  if (result && "data" in result) return result.data;
  throw new Error(result?.message ?? "unexpected result");
}

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return element;
}

function crumbs(...items) {
  breadcrumbs.replaceChildren(...items.flatMap((item, i) => [i > 0 ? " / " : "", item.href ? h("a", { href: item.href }, item.label) : item.label]));
}

const percent = (rate) => `${(rate * 100).toFixed(1)} %`;
const routeParams = () => new URLSearchParams(location.hash.split("?")[1] ?? "");
function withParams(changes) {
  const params = routeParams();
  for (const [key, value] of Object.entries(changes)) value === null || value === undefined || value === "" ? params.delete(key) : params.set(key, value);
  const text = params.toString();
  return `${location.hash.split("?")[0]}${text ? `?${text}` : ""}`;
}

// ------------------------------------------------------------------------------------------- images
/** A DICOM file's pixels in modality units (rescale applied) and its stored window, via dicom-parser. */
function decodeDicom(buffer) {
  const dataSet = globalThis.dicomParser.parseDicom(new Uint8Array(buffer));
  const rows = dataSet.uint16("x00280010");
  const columns = dataSet.uint16("x00280011");
  const bitsAllocated = dataSet.uint16("x00280100");
  const signed = dataSet.uint16("x00280103") === 1;
  const element = dataSet.elements.x7fe00010;
  if (!element || element.encapsulatedPixelData) throw new Error("only native (uncompressed) DICOM pixel data is shown here");
  const bytes = dataSet.byteArray.slice(element.dataOffset, element.dataOffset + rows * columns * (bitsAllocated / 8));
  const raw = bitsAllocated === 16 ? (signed ? new Int16Array(bytes.buffer) : new Uint16Array(bytes.buffer)) : new Uint8Array(bytes.buffer);
  const slope = dataSet.floatString("x00281053") ?? 1;
  const intercept = dataSet.floatString("x00281052") ?? 0;
  const values = Float32Array.from(raw, (v) => v * slope + intercept);
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) (min = Math.min(min, v)), (max = Math.max(max, v));
  const center = dataSet.floatString("x00281050") ?? (min + max) / 2;
  const width = dataSet.floatString("x00281051") ?? Math.max(1, max - min);
  return { rows, columns, values, center, width, min, max };
}

/** Grey pixels through a linear VOI window (PS3.3 C.11.2.1.2.1), as an image of the DICOM's own size. */
function windowed(image, center, width) {
  const canvas = new OffscreenCanvas(image.columns, image.rows);
  const context = canvas.getContext("2d");
  const data = context.createImageData(image.columns, image.rows);
  const low = center - 0.5 - (width - 1) / 2;
  const high = center - 0.5 + (width - 1) / 2;
  image.values.forEach((x, i) => {
    const y = x <= low ? 0 : x > high ? 255 : ((x - (center - 0.5)) / (width - 1) + 0.5) * 255;
    data.data.set([y, y, y, 255], i * 4);
  });
  context.putImageData(data, 0, 0);
  return canvas;
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`cannot load ${url}`));
    image.src = url;
  });
}

const dicomFileOf = (sample) => (sample.files ?? []).find((f) => f.role === "dicom" && f.mediaType === "application/dicom");

/** What to draw for a sample: its DICOM through a window, or its image file. */
async function sampleSource(sample, window) {
  const dicomFile = dicomFileOf(sample);
  if (dicomFile) {
    // The signed URL is the credential: no header, as for an <img src>.
    const response = await fetch(dicomFile.url);
    if (!response.ok) throw new Error(`cannot load ${dicomFile.url} (HTTP ${response.status})`);
    const image = decodeDicom(await response.arrayBuffer());
    return { source: windowed(image, window?.center ?? image.center, window?.width ?? image.width), width: image.columns, height: image.rows, dicom: image };
  }
  const image = await loadImage(sample.artifact.url);
  return { source: image, width: image.naturalWidth, height: image.naturalHeight };
}

/** The largest whole-number scale that keeps the picture's longer side within `size` (at least 1). */
const fitScale = (picture, size) => Math.max(1, Math.floor(size / Math.max(picture.width, picture.height)));

/**
 * The image scaled by `scale` (nearest neighbour), intended boxes in green and detections in magenta
 * (dashed; a camera frame's own objects, context, dotted), both in image pixels times `scale`.
 */
function drawSample(canvas, picture, sample, scale) {
  canvas.width = picture.width * scale;
  canvas.height = picture.height * scale;
  canvas.style.width = `${canvas.width}px`;
  canvas.style.height = `${canvas.height}px`;
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.drawImage(picture.source, 0, 0, canvas.width, canvas.height);
  context.lineWidth = 2;
  context.setLineDash([]);
  context.strokeStyle = INTENDED_COLOUR;
  for (const box of sample.labels?.boxes ?? []) context.strokeRect(box.x * scale, box.y * scale, box.width * scale, box.height * scale);
  context.strokeStyle = DETECTION_COLOUR;
  for (const d of sample.detections ?? []) {
    context.setLineDash(d.context ? [2, 4] : [6, 4]);
    context.strokeRect(d.x1 * scale, d.y1 * scale, (d.x2 - d.x1) * scale, (d.y2 - d.y1) * scale);
  }
  canvas.dataset.scale = String(scale);
  canvas.dataset.sample = sample.uuid;
  canvas.dataset.drawn = "true";
}

// ------------------------------------------------------------------------------------------- report chart
/** Miss rate per condition: one bar per parameter value (or bin) with its 95 % interval as a whisker. */
function reportChart(report) {
  const rows = [];
  for (const breakdown of report.byParameter) for (const level of breakdown.levels) rows.push({ ...level, label: `${breakdown.parameter} = ${level.label}` });
  const labelWidth = 210;
  const barWidth = 360;
  const rowHeight = 22;
  const height = rows.length * rowHeight + 30;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("width", String(labelWidth + barWidth + 170));
  svg.setAttribute("height", String(height));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "miss rate per condition");
  const add = (tag, attributes, text) => {
    const element = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, String(v));
    if (text !== undefined) element.textContent = text;
    svg.append(element);
    return element;
  };
  rows.forEach((row, i) => {
    const y = 8 + i * rowHeight;
    add("text", { x: labelWidth - 8, y: y + 13, "text-anchor": "end", "font-size": 12 }, row.label);
    add("rect", { x: labelWidth, y, width: barWidth, height: rowHeight - 6, fill: "#eef1f5" });
    add("rect", { x: labelWidth, y, width: Math.max(0, row.rate * barWidth), height: rowHeight - 6, fill: "#c0392b", "data-rate": row.rate, class: "bar" });
    add("line", { x1: labelWidth + row.lower * barWidth, x2: labelWidth + row.upper * barWidth, y1: y + (rowHeight - 6) / 2, y2: y + (rowHeight - 6) / 2, stroke: "#1d232b", "stroke-width": 1.5 });
    add("text", { x: labelWidth + barWidth + 8, y: y + 13, "font-size": 12 }, `${percent(row.rate)} (${row.misses}/${row.n})`);
  });
  add("text", { x: labelWidth, y: height - 6, "font-size": 11, fill: "#6b7480" }, "miss rate, 0 → 100 %; whisker: 95 % Clopper-Pearson interval");
  return svg;
}

const REPORT_FIELDS = /* GraphQL */ `
  samples unscored invalidCount
  overall { n misses rate lower upper }
  outcomes { hit miss wrongClass invalid }
  byParameter { parameter kind levels { label n misses rate lower upper } }
`;

async function reportSection(kind, scopeId, domain) {
  const section = h("section", { id: "report" }, h("h2", {}, "Miss rate per condition"));
  const detectors = (await graphql(`query { detectors(first: 50) { edges { node { id name version domain } } } }`)).detectors.edges.map((e) => e.node);
  const chosen = routeParams().get("detector") ?? detectors.find((d) => !d.domain || d.domain === domain)?.id;
  const select = h(
    "select",
    { id: "detector", onchange: (event) => (location.hash = withParams({ detector: event.target.value })) },
    detectors.map((d) => h("option", { value: d.id, selected: d.id === chosen }, `${d.name} ${d.version}`)),
  );
  section.append(h("div", { class: "toolbar" }, h("label", {}, "Detector ", select)));
  if (!chosen) return section.append(h("p", { class: "muted" }, "No detector registered.")), section;
  try {
    const query =
      kind === "scenario"
        ? `query($id: ID!, $detector: ID!) { report: scenarioReport(scenarioId: $id, detectorId: $detector) { __typename ... on QueryScenarioReportSuccess { data { ${REPORT_FIELDS} } } ... on Error { message } } }`
        : `query($id: ID!, $detector: ID!) { report: jobReport(jobId: $id, detectorId: $detector) { __typename ... on QueryJobReportSuccess { data { ${REPORT_FIELDS} } } ... on Error { message } } }`;
    const report = unwrap((await graphql(query, { id: scopeId, detector: chosen })).report);
    const o = report.outcomes;
    section.append(
      h(
        "p",
        {},
        report.overall ? `Overall ${percent(report.overall.rate)} missed (${report.overall.misses}/${report.overall.n}, 95 % CI ${percent(report.overall.lower)}–${percent(report.overall.upper)}). ` : "No scored samples. ",
        `Hits ${o.hit}, misses ${o.miss}, wrong class ${o.wrongClass}, invalid ${o.invalid} (excluded), unscored ${report.unscored}.`,
      ),
    );
    if (report.byParameter.length > 0) section.append(reportChart(report));
  } catch (error) {
    section.append(h("p", { class: "error" }, error.message));
  }
  return section;
}

// ------------------------------------------------------------------------------------------- views
async function scenariosView(ticket) {
  const data = await graphql(`query { scenarios(first: 100) { totalCount edges { node { id name domain tags modelName latestVersion description } } } }`);
  currentOrStop(ticket);
  crumbs({ label: "Scenarios" });
  view.replaceChildren(
    h("h1", {}, `Scenarios (${data.scenarios.totalCount})`),
    h(
      "table",
      { id: "scenarios" },
      h("tr", {}, h("th", {}, "Name"), h("th", {}, "Domain"), h("th", {}, "Model"), h("th", {}, "Version"), h("th", {}, "Tags")),
      data.scenarios.edges.map(({ node }) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/scenario/${encodeURIComponent(node.id)}`, "data-scenario": node.name }, node.name), h("div", { class: "muted" }, node.description)),
          h("td", {}, node.domain.toLowerCase()),
          h("td", {}, node.modelName),
          h("td", {}, `v${node.latestVersion}`),
          h("td", {}, node.tags.map((t) => h("span", { class: "tag" }, t))),
        ),
      ),
    ),
  );
}

async function scenarioView(ticket, id) {
  const data = await graphql(
    `query($id: ID!) {
      scenario(id: $id) { __typename ... on QueryScenarioSuccess { data { id name domain description modelName latestVersion tags } } ... on Error { message } }
      jobs(scenarioId: $id, first: 50) { totalCount edges { node { id uuid status count completedCount failedCount sampler steps createdAt } } }
    }`,
    { id },
  );
  currentOrStop(ticket);
  const scenario = unwrap(data.scenario);
  crumbs({ label: "Scenarios", href: "#/" }, { label: scenario.name });
  view.replaceChildren(
    h("h1", {}, scenario.name),
    h("p", {}, scenario.description, " ", h("span", { class: "muted" }, `${scenario.domain.toLowerCase()} · ${scenario.modelName} · v${scenario.latestVersion}`)),
    h("h2", {}, `Jobs (${data.jobs.totalCount})`),
    h(
      "table",
      { id: "jobs" },
      h("tr", {}, h("th", {}, "Job"), h("th", {}, "Status"), h("th", {}, "Samples"), h("th", {}, "Sampler"), h("th", {}, "Created")),
      data.jobs.edges.map(({ node }) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/job/${encodeURIComponent(node.id)}`, "data-job": node.uuid }, node.uuid.slice(0, 8))),
          h("td", {}, node.status.toLowerCase()),
          h("td", {}, `${node.completedCount}/${node.count}${node.failedCount ? ` (${node.failedCount} failed)` : ""}`),
          h("td", {}, `${node.sampler}, ${node.steps} steps`),
          h("td", {}, new Date(node.createdAt).toLocaleString()),
        ),
      ),
    ),
  );
  const report = await reportSection("scenario", id, scenario.domain);
  currentOrStop(ticket);
  view.append(report);
}

const SAMPLE_CARD_FIELDS = /* GraphQL */ `
  id uuid index parameters labels
  artifact { url mediaType }
  files { role mediaType url }
  scores { outcome confidence detector { id name } }
  detections(detectorId: $detector) { className confidence x1 y1 x2 y2 context detector { name } }
`;

function outcomeOf(sample) {
  const detector = routeParams().get("detector");
  const score = (sample.scores ?? []).find((s) => !detector || s.detector.id === detector) ?? sample.scores?.[0];
  return score?.outcome ?? null;
}

async function jobView(ticket, id) {
  const params = routeParams();
  const missesOnly = params.get("misses") === "1";
  const first = Number(params.get("first") ?? PAGE);
  const samplesQuery = missesOnly
    ? `exportSamples(filter: { jobId: $id, missesOnly: true }, first: $first) { __typename ... on QueryExportSamplesSuccess { data { totalCount edges { node { ${SAMPLE_CARD_FIELDS} } } } } ... on Error { message } }`
    : `samples(jobId: $id, first: $first) { totalCount edges { node { ${SAMPLE_CARD_FIELDS} } } }`;
  const data = await graphql(
    `query($id: ID!, $first: Int, $detector: ID) {
      job(id: $id) { __typename ... on QueryJobSuccess { data { id uuid status count completedCount failedCount sampler steps guidance seed scenarioVersion { version scenario { id name domain } } } } ... on Error { message } }
      list: ${samplesQuery}
    }`,
    { id, first, detector: params.get("detector") },
  );
  currentOrStop(ticket);
  const job = unwrap(data.job);
  const samples = missesOnly ? unwrap(data.list) : data.list;
  const scenario = job.scenarioVersion.scenario;
  crumbs({ label: "Scenarios", href: "#/" }, { label: scenario.name, href: `#/scenario/${encodeURIComponent(scenario.id)}` }, { label: `job ${job.uuid.slice(0, 8)}` });
  const toggle = h("input", { type: "checkbox", id: "misses-only", checked: missesOnly, onchange: (event) => (location.hash = withParams({ misses: event.target.checked ? "1" : null, first: null })) });
  const grid = h("div", { class: "grid", id: "samples" });
  view.replaceChildren(
    h("h1", {}, `Job ${job.uuid}`),
    h("p", {}, `${job.status.toLowerCase()} · ${job.completedCount}/${job.count} samples · ${job.sampler}, ${job.steps} steps, guidance ${job.guidance}, seed ${job.seed} · scenario v${job.scenarioVersion.version}`),
    h(
      "div",
      { class: "toolbar" },
      h("label", {}, toggle, " misses only (MISS, WRONG_CLASS; invalid excluded)"),
      h("span", { id: "sample-count" }, `${samples.totalCount} sample${samples.totalCount === 1 ? "" : "s"}`),
      h("span", { class: "legend" }, h("span", { class: "intended" }, "▭ intended"), h("span", { class: "detected" }, "┅ detected")),
    ),
    grid,
  );
  for (const { node } of samples.edges) {
    const canvas = h("canvas", { width: 192, height: 192 });
    const outcome = outcomeOf(node);
    grid.append(
      h(
        "a",
        { class: "card", href: `#/sample/${encodeURIComponent(node.id)}`, "data-sample": node.uuid, "data-outcome": outcome ?? "" },
        canvas,
        h("div", { class: "caption" }, h("span", {}, `#${node.index}`), h("span", { class: `outcome ${outcome ?? ""}` }, outcome ?? "unscored")),
      ),
    );
    sampleSource(node)
      .then((picture) => drawSample(canvas, picture, node, fitScale(picture, GRID_SIZE)))
      .catch((error) => canvas.replaceWith(h("p", { class: "error" }, error.message)));
  }
  if (samples.edges.length < samples.totalCount) grid.after(h("p", {}, h("a", { href: withParams({ first: first + PAGE }), id: "more" }, "Show more")));
  const report = await reportSection("job", id, scenario.domain);
  currentOrStop(ticket);
  view.append(report);
}

async function sampleView(ticket, id) {
  const data = await graphql(
    `query($id: ID!, $detector: ID) {
      sample(id: $id) { __typename ... on QuerySampleSuccess { data {
        ${SAMPLE_CARD_FIELDS}
        status error seed sampler steps guidance executionProvider onnxruntimeVersion rareforgeVersion createdAt provenance
        artifact { sha256 url mediaType byteSize }
        files { role sha256 mediaType byteSize url }
        scores { outcome confidence iou falsePositives realismValid detector { id name version } }
        job { id uuid }
        scenarioVersion { version scenario { id name domain } }
      } } ... on Error { message } }
    }`,
    { id, detector: null },
  );
  currentOrStop(ticket);
  const sample = unwrap(data.sample);
  const scenario = sample.scenarioVersion.scenario;
  crumbs(
    { label: "Scenarios", href: "#/" },
    { label: scenario.name, href: `#/scenario/${encodeURIComponent(scenario.id)}` },
    { label: `job ${sample.job.uuid.slice(0, 8)}`, href: `#/job/${encodeURIComponent(sample.job.id)}` },
    { label: `sample #${sample.index}` },
  );
  const canvas = h("canvas", { id: "sample-canvas" });
  const figure = h("figure", {}, canvas, h("figcaption", { class: "legend" }, h("span", { class: "intended" }, "▭ intended"), h("span", { class: "detected" }, "┅ detected")));
  const record = sample.provenance?.record ?? {};
  const facts = [
    ["Sample", sample.uuid],
    ["Scenario", `${scenario.name} v${sample.scenarioVersion.version}`],
    ["Model", record.model ? `${record.model.name} ${record.model.version}` : "—"],
    ["Sampler", `${sample.sampler}, ${sample.steps} steps, guidance ${sample.guidance}`],
    ["Seed / index", `${sample.seed} / ${sample.index}`],
    ["Execution provider", sample.executionProvider],
    ["Versions", `onnxruntime ${sample.onnxruntimeVersion}, RareForge ${sample.rareforgeVersion}`],
    ["Artifact", `${sample.artifact?.sha256 ?? "—"} (${sample.artifact?.mediaType ?? ""})`],
    ["Parameters", JSON.stringify(sample.parameters)],
  ];
  const reproduction = h("div", { id: "reproduction" });
  const reproduce = h(
    "button",
    {
      id: "reproduce",
      onclick: async () => {
        reproduce.disabled = true;
        reproduction.replaceChildren(h("span", { class: "muted" }, "Regenerating from the record…"));
        try {
          const result = unwrap(
            (
              await graphql(
                `mutation($id: ID!) { reproduceSample(id: $id) { __typename ... on MutationReproduceSampleSuccess { data { matches expectedSha256 actualSha256 seconds executionProvider } } ... on Error { message } } }`,
                { id: sample.id },
              )
            ).reproduceSample,
          );
          reproduction.replaceChildren(
            h("p", { class: result.matches ? "" : "error" }, result.matches ? `Reproduced: same sha256 (${result.seconds.toFixed(2)} s on ${result.executionProvider}).` : `Different bytes: expected ${result.expectedSha256}, got ${result.actualSha256}.`),
          );
        } catch (error) {
          reproduction.replaceChildren(h("p", { class: "error" }, error.message));
        } finally {
          reproduce.disabled = false;
        }
      },
    },
    "Reproduce",
  );
  const provenance = h(
    "section",
    { class: "provenance", id: "provenance" },
    h("h2", {}, "Provenance"),
    h("table", {}, facts.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", { "data-fact": k }, v)))),
    h("h2", {}, "Scores"),
    (sample.scores ?? []).length === 0
      ? h("p", { class: "muted" }, "Not scored.")
      : h(
          "table",
          { id: "scores" },
          h("tr", {}, h("th", {}, "Detector"), h("th", {}, "Outcome"), h("th", {}, "Confidence"), h("th", {}, "IoU"), h("th", {}, "Realism")),
          sample.scores.map((s) =>
            h("tr", {}, h("td", {}, `${s.detector.name} ${s.detector.version}`), h("td", { class: `outcome ${s.outcome}` }, s.outcome), h("td", {}, s.confidence?.toFixed(3) ?? "—"), h("td", {}, s.iou?.toFixed(3) ?? "—"), h("td", {}, s.realismValid ? "valid" : "refused")),
          ),
        ),
    h("h2", {}, "Boxes"),
    boxesTable(sample),
    (sample.files ?? []).length > 0 ? [h("h2", {}, "Files"), h("ul", {}, sample.files.map((f) => h("li", {}, h("a", { href: f.url }, f.role), ` ${f.mediaType}, ${f.byteSize} bytes`)))] : null,
    h("div", { class: "toolbar" }, reproduce, reproduction),
    h("h2", {}, "Full record"),
    h("pre", { id: "provenance-json" }, JSON.stringify(sample.provenance, null, 2)),
  );
  view.replaceChildren(h("h1", {}, `Sample #${sample.index}`), h("div", { class: "sample" }, figure, provenance));
  const picture = await sampleSource(sample);
  currentOrStop(ticket);
  const scale = fitScale(picture, SAMPLE_SIZE);
  drawSample(canvas, picture, sample, scale);
  if (picture.dicom) {
    // Window/level over the DICOM's modality values; starts at the window stored in the file.
    const image = picture.dicom;
    const shown = h("output", { id: "window-values" });
    const redraw = () => {
      shown.textContent = `C ${Number(center.value).toFixed(0)} / W ${Number(width.value).toFixed(0)}`;
      drawSample(canvas, { ...picture, source: windowed(image, Number(center.value), Number(width.value)) }, sample, scale);
    };
    const center = h("input", { type: "range", id: "window-center", min: image.min, max: image.max, step: "any", value: image.center, oninput: redraw });
    const width = h("input", { type: "range", id: "window-width", min: 1, max: Math.max(2, (image.max - image.min) * 2), step: "any", value: image.width, oninput: redraw });
    shown.textContent = `C ${image.center.toFixed(0)} / W ${image.width.toFixed(0)}`;
    figure.append(h("div", { class: "window" }, h("label", {}, "Window centre ", center), h("label", {}, "width ", width), shown));
  }
}

/** Intended objects and what the detectors reported, in image pixels. */
function boxesTable(sample) {
  const px = (v) => v.toFixed(1);
  const intended = (sample.labels?.boxes ?? []).map((b) => ({ kind: "intended", className: b.class, by: "scenario", confidence: null, x: b.x, y: b.y, width: b.width, height: b.height }));
  // a detection of what the source camera frame already showed is context, not a finding about the inserted object
  const detected = (sample.detections ?? []).map((d) => ({ kind: d.context ? "context" : "detected", className: d.className, by: d.detector.name, confidence: d.confidence, x: d.x1, y: d.y1, width: d.x2 - d.x1, height: d.y2 - d.y1 }));
  const rows = [...intended, ...detected];
  if (rows.length === 0) return h("p", { class: "muted" }, "No intended object and no detection.");
  return h(
    "table",
    { id: "boxes" },
    h("tr", {}, h("th", {}, ""), h("th", {}, "Class"), h("th", {}, "From"), h("th", {}, "Confidence"), h("th", {}, "x, y, width, height (px)")),
    rows.map((r) => h("tr", { "data-kind": r.kind }, h("td", { class: r.kind }, r.kind), h("td", {}, r.className), h("td", {}, r.by), h("td", {}, r.confidence?.toFixed(3) ?? "—"), h("td", {}, [r.x, r.y, r.width, r.height].map(px).join(", ")))),
  );
}

// ------------------------------------------------------------------------------------------- session
// `body[data-session]` says where the page stands, for tests and tools: checking, signed-in or signed-out.
const signInForm = document.getElementById("sign-in");
const keyInput = document.getElementById("api-key");
const signInSubmit = document.getElementById("sign-in-submit");
const signInError = document.getElementById("sign-in-error");
const sessionBar = document.getElementById("session");
const signedInAs = document.getElementById("signed-in-as");

/** The `me` of the signed-in key; null while signed out. */
let signedIn = null;

function showSignedIn(me) {
  signedIn = me;
  signedInAs.replaceChildren("Signed in as ", h("strong", {}, me.label), ` · ${me.role.toLowerCase()} · ${me.scopes.map((s) => s.toLowerCase()).join(", ")}`);
  sessionBar.hidden = false;
  signInForm.hidden = true;
  view.hidden = false;
  document.body.dataset.session = "signed-in";
}

/** The sign-in form, empty and focused, with `message` (why the user is here) read out. */
function showSignInForm(message = "") {
  signInForm.hidden = false;
  keyInput.value = "";
  signInError.textContent = message;
  if (message) keyInput.setAttribute("aria-invalid", "true");
  else keyInput.removeAttribute("aria-invalid");
  document.body.dataset.session = "signed-out";
  keyInput.focus();
}

/** Forgets the key and clears everything shown with it; `message` says why (a refused key). */
function signOut(message = "") {
  forgetKey();
  signedIn = null;
  latestRoute++; // a view still loading stops before it touches the page
  view.replaceChildren();
  view.hidden = true;
  view.dataset.ready = "false";
  delete view.dataset.route;
  crumbs();
  sessionBar.hidden = true;
  signedInAs.replaceChildren();
  showSignInForm(message);
}

async function signIn(event) {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) return showSignInForm("Enter an API key.");
  signInSubmit.disabled = true;
  signInError.textContent = "";
  document.body.dataset.session = "checking";
  let me;
  try {
    me = await whoIs(key);
  } catch (error) {
    return showSignInForm(error instanceof KeyRefusedError ? error.message : `Cannot sign in: ${error.message}`);
  } finally {
    signInSubmit.disabled = false;
  }
  keepKey(key);
  showSignedIn(me);
  view.focus();
  await route();
}

/** On load: a key kept in this tab is checked (`me`) before anything is shown; otherwise the form. */
async function start() {
  const key = storedKey();
  if (!key) return signOut();
  try {
    showSignedIn(await whoIs(key));
  } catch (error) {
    return signOut(error instanceof KeyRefusedError ? error.message : `Cannot check the API key: ${error.message}`);
  }
  await route();
}

// ------------------------------------------------------------------------------------------- suite runs
/** A suite run: verdict, regressions first, then each scenario's criteria table and links to its hardest samples. */
async function suiteRunView(ticket, id) {
  const data = await graphql(
    `query($id: ID!) { suiteRun(id: $id) { __typename ... on Error { message } ... on QuerySuiteRunSuccess { data {
      uuid status exitCode generatedCount reusedCount report error createdAt
      suiteVersion { version suite { name } } detector { name version } baseline { name version }
      criteria { scenario kind condition status observed limit pValue adjustedP message } } } } }`,
    { id },
  );
  currentOrStop(ticket);
  const run = unwrap(data.suiteRun);
  const name = `${run.suiteVersion.suite.name} v${run.suiteVersion.version}`;
  crumbs({ label: "Scenarios", href: "#/" }, { label: `suite ${name}` }, { label: `run ${run.uuid.slice(0, 8)}` });
  const label = (c) => (c.condition ? `${c.kind} [${Object.entries(c.condition).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ")}]` : c.kind);
  const maybePercent = (x) => (x === null || x === undefined ? "–" : percent(x));
  const regressions = run.criteria.filter((c) => c.kind === "maxRegression" && c.status === "FAILED");
  const scenarios = run.report?.scenarios ?? [];
  view.replaceChildren(
    h("h1", {}, `Suite ${name}: `, h("span", { id: "suite-status", "data-status": run.status }, run.status)),
    h(
      "p",
      {},
      `Detector ${run.detector.name} ${run.detector.version}`,
      run.baseline ? ` against baseline ${run.baseline.name} ${run.baseline.version}` : "",
      ` · ${run.generatedCount} samples generated, ${run.reusedCount} reused · exit code ${run.exitCode ?? "–"}`,
    ),
    run.error ? h("p", { class: "error" }, run.error) : "",
    h("h2", {}, "Regressions"),
    regressions.length === 0
      ? h("p", { class: "muted" }, run.baseline ? "No significant regression against the baseline." : "Not tested: no baseline detector.")
      : h("ul", { id: "regressions" }, regressions.map((c) => h("li", {}, h("strong", {}, `${c.scenario} ${label(c)}`), `: ${c.message}`))),
    ...scenarios.map((scenario) =>
      h(
        "section",
        { "data-suite-scenario": scenario.scenario },
        h("h2", {}, `${scenario.scenario} (v${scenario.scenarioVersion}): ${scenario.status}`),
        h("p", { class: "muted" }, `${scenario.samples} samples, seed ${scenario.seed}, ${scenario.sampler} ${scenario.steps} steps · ${scenario.n} valid, ${scenario.invalid} refused by the realism gate`),
        h(
          "table",
          { class: "criteria" },
          h("tr", {}, h("th", {}, "Criterion"), h("th", {}, "Status"), h("th", {}, "Observed"), h("th", {}, "Limit"), h("th", {}, "p (Holm)"), h("th", {}, "Figures")),
          run.criteria
            .filter((c) => c.scenario === scenario.scenario)
            .map((c) =>
              h(
                "tr",
                { "data-criterion": label(c), "data-status": c.status },
                h("td", {}, label(c)),
                h("td", {}, c.status.toLowerCase()),
                h("td", {}, maybePercent(c.observed)),
                h("td", {}, maybePercent(c.limit)),
                h("td", {}, c.pValue === null ? "–" : `${c.pValue.toPrecision(3)} (${c.adjustedP?.toPrecision(3) ?? "–"})`),
                h("td", {}, c.message),
              ),
            ),
        ),
        scenario.hardest.length > 0
          ? h(
              "p",
              {},
              "Hardest samples: ",
              scenario.hardest.flatMap((sample, i) => [
                i > 0 ? ", " : "",
                h("a", { href: `#/sample/${encodeURIComponent(btoa(`Sample:${sample.sampleId}`))}`, "data-sample": sample.sampleId }, `#${sample.index} ${sample.outcome.toLowerCase()}`),
              ]),
            )
          : null,
      ),
    ),
  );
}

// ------------------------------------------------------------------------------------------- router
// `#view` carries data-ready and data-route (the hash it shows) once a page is complete, for tests and tools.
async function route() {
  if (!signedIn) return;
  const ticket = ++latestRoute;
  const hash = location.hash;
  const [path] = hash.replace(/^#/, "").split("?");
  const [, kind, id] = (path || "/").split("/");
  view.dataset.ready = "false";
  try {
    if (kind === "scenario" && id) await scenarioView(ticket, decodeURIComponent(id));
    else if (kind === "job" && id) await jobView(ticket, decodeURIComponent(id));
    else if (kind === "sample" && id) await sampleView(ticket, decodeURIComponent(id));
    else if (kind === "suite-run" && id) await suiteRunView(ticket, decodeURIComponent(id));
    else await scenariosView(ticket);
  } catch (error) {
    if (error instanceof StaleRoute || error instanceof KeyRefusedError) return;
    if (ticket !== latestRoute) return;
    view.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "error" }, error.message));
  }
  if (ticket !== latestRoute) return;
  view.dataset.route = hash;
  view.dataset.ready = "true";
}

signInForm.addEventListener("submit", signIn);
document.getElementById("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", route);
start();
