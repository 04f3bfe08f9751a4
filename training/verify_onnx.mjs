// Runs each shipped ONNX file under onnxruntime-node on its golden fixture inputs and prints the
// largest difference from the PyTorch reference outputs: node training/verify_onnx.mjs [package...]
// A quantized package (model.json derivedFrom, method qdq-int8-static, e.g. road-hazards-int8) runs on its base's
// fixture; its difference is the quantization error, bounded in test/models/packages.test.ts (QUANTIZED_TOLERANCE).
// A guidance-distilled package (method guidance-distillation) has its own fixture, matched like any package.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";

const root = new URL("..", import.meta.url).pathname;
const readF32 = (path) => {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
};
const maxAbsDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const names = process.argv.slice(2).length ? process.argv.slice(2)
  : ["road-hazards", "brain-mri", "road-detector", "brain-detector", "road-critic", "brain-critic"];

for (const name of names) {
  const pkg = join(root, "models", name);
  const derivedFrom = existsSync(join(pkg, "model.json")) ? JSON.parse(readFileSync(join(pkg, "model.json"), "utf8")).derivedFrom : undefined;
  const fixtures = join(root, "test/fixtures", derivedFrom?.method === "qdq-int8-static" ? derivedFrom.name : name);
  if (!existsSync(join(fixtures, "golden.json"))) { console.log(`${name}: no fixture`); continue; }
  const golden = JSON.parse(readFileSync(join(fixtures, "golden.json"), "utf8"));
  if (golden.denoiserCalls) {
    const manifest = JSON.parse(readFileSync(join(pkg, "model.json"), "utf8"));
    const session = await ort.InferenceSession.create(join(pkg, manifest.denoiser.file));
    for (const call of golden.denoiserCalls) {
      const feeds = {
        [manifest.denoiser.inputs.sample]: new ort.Tensor("float32", readF32(join(fixtures, call.sample)), call.sampleShape),
        [manifest.denoiser.inputs.timestep]: new ort.Tensor("float32", Float32Array.from(call.timestep), [call.timestep.length]),
        [manifest.denoiser.inputs.condition]: new ort.Tensor("float32", readF32(join(fixtures, call.condition)), call.conditionShape),
      };
      const out = (await session.run(feeds))[manifest.denoiser.output].data;
      console.log(`${name} ${call.output}: max |onnx - torch| = ${maxAbsDiff(out, readF32(join(fixtures, call.output))).toExponential(2)}`);
    }
  } else {
    const manifestFile = existsSync(join(pkg, "detector.json")) ? "detector.json" : "critic.json";
    const manifest = JSON.parse(readFileSync(join(pkg, manifestFile), "utf8"));
    const session = await ort.InferenceSession.create(join(pkg, manifest.file));
    const feeds = { [golden.input.name]: new ort.Tensor("float32", readF32(join(fixtures, golden.input.file)), golden.input.shape) };
    const out = (await session.run(feeds))[golden.output.name];
    console.log(`${name}: output dims ${JSON.stringify(out.dims)}, max |onnx - torch| = ${maxAbsDiff(out.data, readF32(join(fixtures, golden.output.file))).toExponential(2)}`);
    // a critic's look (training/look.py) has its own fixture: a window and its logits
    if (manifest.look && existsSync(join(fixtures, "look", "golden.json"))) {
      const look = JSON.parse(readFileSync(join(fixtures, "look", "golden.json"), "utf8"));
      const lookSession = await ort.InferenceSession.create(join(pkg, manifest.look.file));
      const lookOut = (await lookSession.run({ [look.input.name]: new ort.Tensor("float32", readF32(join(fixtures, "look", look.input.file)), look.input.shape) }))[look.output.name];
      console.log(`${name} look: output dims ${JSON.stringify(lookOut.dims)}, max |onnx - torch| = ${maxAbsDiff(lookOut.data, readF32(join(fixtures, "look", look.output.file))).toExponential(2)}`);
    }
  }
}
