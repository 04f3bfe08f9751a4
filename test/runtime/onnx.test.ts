// The onnxruntime module: providers, clear errors for missing ones, input-name checks.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createSession, ExecutionProviderError, parseExecutionProvider, SessionInputError } from "../../src/runtime/onnx.ts";

const denoiser = fileURLToPath(new URL("../fixtures/tiny-model/denoiser.onnx", import.meta.url));

describe("execution providers", () => {
  it("cpu always loads and reports its inputs", async () => {
    const session = await createSession(denoiser, { ep: "cpu", intraOpThreads: 1 });
    expect(session.provider).toBe("cpu");
    expect(session.inputNames).toEqual(["sample", "timestep", "condition"]);
    await session.dispose();
  });

  it("auto tries cuda, then webgpu, then cpu, and logs which it got", async () => {
    const messages: string[] = [];
    const session = await createSession(denoiser, { ep: "auto", log: (m) => messages.push(m) });
    expect(["cuda", "webgpu", "cpu"]).toContain(session.provider);
    expect(messages.join("\n")).toMatch(new RegExp(`execution provider auto -> ${session.provider}`));
    await session.dispose();
  });

  it("writes the graph as onnxruntime optimized it when asked (optimizedModelPath)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "optimized-"));
    try {
      const path = join(dir, "optimized.onnx");
      const session = await createSession(denoiser, { ep: "cpu", intraOpThreads: 1, optimizedModelPath: path });
      await session.dispose();
      // an ONNX ModelProto: field 1 (ir_version, varint) first, and the original's input names inside
      const bytes = readFileSync(path);
      expect(bytes[0]).toBe(0x08);
      expect(bytes.includes(Buffer.from("timestep"))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an unknown provider lists the allowed ones", () => {
    expect(() => parseExecutionProvider("rocm")).toThrow(/allowed: cpu, cuda, webgpu, auto/);
  });

  it("an unavailable provider is an ExecutionProviderError naming what is missing", async () => {
    // On a machine with CUDA this loads; the test only checks the error's shape where it does not.
    try {
      const session = await createSession(denoiser, { ep: "cuda" });
      expect(session.provider).toBe("cuda");
      await session.dispose();
    } catch (error) {
      expect(error).toBeInstanceOf(ExecutionProviderError);
      expect((error as ExecutionProviderError).message).toMatch(/execution provider "cuda" is not available here: missing .*CUDA/);
      expect((error as ExecutionProviderError).missing).toMatch(/libonnxruntime_providers_cuda/);
    }
  });
});

describe("running a session", () => {
  it("rejects inputs that do not match the session's input names, listing each input", async () => {
    const session = await createSession(denoiser, { ep: "cpu" });
    const run = session.run({
      sample: { type: "float32", data: new Float32Array(768), dims: [1, 3, 16, 16] },
      t: { type: "float32", data: new Float32Array(1), dims: [1] },
    });
    await expect(run).rejects.toBeInstanceOf(SessionInputError);
    await expect(
      session.run({ sample: { type: "float32", data: new Float32Array(768), dims: [1, 3, 16, 16] }, t: { type: "float32", data: new Float32Array(1), dims: [1] } }),
    ).rejects.toThrow(/expects \[sample, timestep, condition\], missing \[timestep, condition\], unexpected \[t\]; given: sample \(float32, \[1, 3, 16, 16\]\), t \(float32, \[1\]\)/);
    await session.dispose();
  });

  it("reuses one session across batches of different sizes and counts time inside onnxruntime", async () => {
    const session = await createSession(denoiser, { ep: "cpu" });
    for (const b of [1, 4, 2]) {
      const out = await session.run({
        sample: { type: "float32", data: new Float32Array(b * 768), dims: [b, 3, 16, 16] },
        timestep: { type: "float32", data: new Float32Array(b), dims: [b] },
        condition: { type: "float32", data: new Float32Array(b * 10), dims: [b, 10] },
      });
      expect(out.model_output?.dims).toEqual([b, 3, 16, 16]);
    }
    expect(session.runMillis).toBeGreaterThan(0);
    await session.dispose();
  });
});
