// The one module that imports onnxruntime-node: sessions from merged defaults, execution providers,
// thread settings, and runs whose inputs are checked against the session's input names.
import * as ort from "onnxruntime-node";

// Provider probing (auto) fails loudly in native logs; failures reach callers as thrown errors instead.
ort.env.logLevel = "fatal";

export const EXECUTION_PROVIDERS = ["cpu", "cuda", "webgpu", "auto"] as const;
export type ExecutionProviderName = (typeof EXECUTION_PROVIDERS)[number];
/** A provider a session actually runs on ("auto" resolves to one of these). */
export type ResolvedExecutionProvider = Exclude<ExecutionProviderName, "auto">;

/** `auto` tries these in order and keeps the first that creates a session. */
export const AUTO_PROVIDER_ORDER: readonly ResolvedExecutionProvider[] = ["cuda", "webgpu", "cpu"];

export function parseExecutionProvider(value: string): ExecutionProviderName {
  if ((EXECUTION_PROVIDERS as readonly string[]).includes(value)) return value as ExecutionProviderName;
  throw new ExecutionProviderError(value, `unknown execution provider "${value}"; allowed: ${EXECUTION_PROVIDERS.join(", ")}`);
}

/** An execution provider was asked for but cannot run here; `missing` says what is missing. */
export class ExecutionProviderError extends Error {
  override readonly name = "ExecutionProviderError";
  constructor(
    readonly requested: string,
    message: string,
    readonly missing?: string,
  ) {
    super(message);
  }
}

/** A session was run with inputs that do not match its declared input names. */
export class SessionInputError extends Error {
  override readonly name = "SessionInputError";
}

export interface SessionSettings {
  ep: ExecutionProviderName;
  /** Threads inside one operator; 0 lets onnxruntime choose (one per core). */
  intraOpThreads?: number;
  /** Threads across independent operators (parallel execution mode only). */
  interOpThreads?: number;
  /** Called once per created session with the provider it got (auto logs its choice here). */
  log?: (message: string) => void;
  /** Writes the graph as onnxruntime optimized it (which ops it fused, e.g. QLinearConv) to this file. */
  optimizedModelPath?: string;
}

const SESSION_DEFAULTS: ort.InferenceSession.SessionOptions = {
  graphOptimizationLevel: "all",
  executionMode: "sequential",
  enableCpuMemArena: true,
  enableMemPattern: true,
  logSeverityLevel: 3,
};

/** What each provider needs that may be missing, for error messages. */
const PROVIDER_REQUIREMENTS: Record<ResolvedExecutionProvider, string> = {
  cpu: "nothing (always bundled)",
  cuda: "the onnxruntime CUDA provider libraries (libonnxruntime_providers_cuda.so, CUDA 12 + cuDNN 9) and an NVIDIA GPU",
  webgpu: "a WebGPU adapter (a GPU with a Vulkan driver)",
};

export interface TensorInput {
  readonly type: "float32" | "int64" | "int32";
  readonly data: Float32Array | BigInt64Array | Int32Array;
  readonly dims: readonly number[];
}

export interface TensorOutput {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** One ONNX model loaded on one provider; reused across batches. */
export interface OnnxSession {
  readonly path: string;
  readonly provider: ResolvedExecutionProvider;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Declared shape of each tensor input (symbolic dims as strings, e.g. "batch"). */
  readonly inputShapes: Readonly<Record<string, readonly (number | string)[]>>;
  /** Declared element type of each tensor input ("float32", "int64", …). */
  readonly inputTypes: Readonly<Record<string, string>>;
  /** Declared shape of each tensor output (symbolic dims as strings). */
  readonly outputShapes: Readonly<Record<string, readonly (number | string)[]>>;
  /** Milliseconds spent inside onnxruntime's run() so far (for the benchmark's share outside onnxruntime). */
  readonly runMillis: number;
  run(feeds: Readonly<Record<string, TensorInput>>): Promise<Record<string, TensorOutput>>;
  dispose(): Promise<void>;
}

export function onnxRuntimeVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common;
}

function providerAvailability(provider: ResolvedExecutionProvider): string | null {
  const backends = ort.listSupportedBackends();
  const backend = backends.find((b) => b.name === provider);
  if (!backend) return `this onnxruntime-node build has no "${provider}" backend (it has: ${backends.map((b) => b.name).join(", ")})`;
  return null;
}

/**
 * Why `auto` skips a provider without trying it, or null. On Linux, onnxruntime's WebGPU provider (Dawn) reaches
 * the GPU through the Vulkan loader; without one, trying it prints "Couldn't load Vulkan" from native code, which
 * no onnxruntime log level silences. An explicit `--ep webgpu` still tries, and so still shows that warning.
 */
function autoSkipReason(provider: ResolvedExecutionProvider): string | null {
  if (provider === "webgpu" && process.platform === "linux" && !vulkanLoaderPresent()) return "no Vulkan loader (libvulkan.so.1) on this host";
  return null;
}

let vulkanLoaderFound: boolean | undefined;

/** Asks the dynamic linker for libvulkan.so.1 as Dawn does; a library that loads but is no addon says "did not self-register". */
function vulkanLoaderPresent(): boolean {
  if (vulkanLoaderFound === undefined) {
    try {
      process.dlopen({ exports: {} }, "libvulkan.so.1");
      vulkanLoaderFound = true;
    } catch (error) {
      vulkanLoaderFound = /did not self-register/.test((error as Error).message);
    }
  }
  return vulkanLoaderFound;
}

async function createOn(path: string, provider: ResolvedExecutionProvider, settings: SessionSettings): Promise<ort.InferenceSession> {
  const unavailable = providerAvailability(provider);
  if (unavailable) throw new ExecutionProviderError(provider, unavailable, PROVIDER_REQUIREMENTS[provider]);
  const options: ort.InferenceSession.SessionOptions = {
    ...SESSION_DEFAULTS,
    executionProviders: [provider],
    ...(settings.intraOpThreads !== undefined ? { intraOpNumThreads: settings.intraOpThreads } : {}),
    ...(settings.interOpThreads !== undefined ? { interOpNumThreads: settings.interOpThreads } : {}),
    ...(settings.optimizedModelPath !== undefined ? { optimizedModelFilePath: settings.optimizedModelPath } : {}),
  };
  try {
    return await ort.InferenceSession.create(path, options);
  } catch (error) {
    const reason = (error as Error).message.split("\n")[0] ?? String(error);
    throw new ExecutionProviderError(
      provider,
      `execution provider "${provider}" is not available here: missing ${PROVIDER_REQUIREMENTS[provider]} (onnxruntime said: ${reason})`,
      PROVIDER_REQUIREMENTS[provider],
    );
  }
}

/** Creates a session for an ONNX file on the requested provider; `auto` tries cuda, webgpu (where it can run), then cpu. */
export async function createSession(path: string, settings: SessionSettings): Promise<OnnxSession> {
  const ep = parseExecutionProvider(settings.ep);
  let session: ort.InferenceSession | undefined;
  let provider: ResolvedExecutionProvider = "cpu";
  if (ep === "auto") {
    const failures: string[] = [];
    for (const candidate of AUTO_PROVIDER_ORDER) {
      const skipped = autoSkipReason(candidate);
      if (skipped) {
        failures.push(`${candidate}: ${skipped}`);
        continue;
      }
      try {
        session = await createOn(path, candidate, { ...settings, ep: candidate });
        provider = candidate;
        break;
      } catch (error) {
        failures.push(`${candidate}: ${(error as Error).message}`);
      }
    }
    if (!session) throw new ExecutionProviderError("auto", `no execution provider could load ${path}: ${failures.join(" | ")}`);
    settings.log?.(`execution provider auto -> ${provider}${failures.length ? ` (unavailable: ${failures.map((f) => f.split(":")[0]).join(", ")})` : ""}`);
  } else {
    session = await createOn(path, ep, settings);
    provider = ep;
    settings.log?.(`execution provider ${provider}`);
  }
  return wrapSession(path, provider, session);
}

function describeFeeds(feeds: Readonly<Record<string, TensorInput>>): string {
  return Object.entries(feeds)
    .map(([name, t]) => `${name} (${t.type}, [${t.dims.join(", ")}])`)
    .join(", ");
}

function wrapSession(path: string, provider: ResolvedExecutionProvider, session: ort.InferenceSession): OnnxSession {
  let runMillis = 0;
  const inputNames = [...session.inputNames];
  const outputNames = [...session.outputNames];
  const inputShapes: Record<string, readonly (number | string)[]> = {};
  const inputTypes: Record<string, string> = {};
  for (const meta of session.inputMetadata)
    if (meta.isTensor) {
      inputShapes[meta.name] = [...meta.shape];
      inputTypes[meta.name] = meta.type;
    }
  const outputShapes: Record<string, readonly (number | string)[]> = {};
  for (const meta of session.outputMetadata) if (meta.isTensor) outputShapes[meta.name] = [...meta.shape];
  return {
    path,
    provider,
    inputNames,
    outputNames,
    inputShapes,
    inputTypes,
    outputShapes,
    get runMillis() {
      return runMillis;
    },
    async run(feeds) {
      const given = Object.keys(feeds);
      const missing = inputNames.filter((name) => !given.includes(name));
      const unexpected = given.filter((name) => !inputNames.includes(name));
      if (missing.length > 0 || unexpected.length > 0) {
        throw new SessionInputError(
          `inputs do not match ${path}: it expects [${inputNames.join(", ")}]` +
            (missing.length ? `, missing [${missing.join(", ")}]` : "") +
            (unexpected.length ? `, unexpected [${unexpected.join(", ")}]` : "") +
            `; given: ${describeFeeds(feeds)}`,
        );
      }
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      const started = performance.now();
      let results: ort.InferenceSession.OnnxValueMapType;
      try {
        results = await session.run(ortFeeds);
      } catch (error) {
        throw new SessionInputError(`running ${path} failed with inputs ${describeFeeds(feeds)}: ${(error as Error).message}`);
      } finally {
        runMillis += performance.now() - started;
      }
      const out: Record<string, TensorOutput> = {};
      for (const name of outputNames) {
        const value = results[name];
        if (!value || !(value.data instanceof Float32Array)) {
          throw new SessionInputError(`${path}: output "${name}" is not a float32 tensor`);
        }
        out[name] = { data: value.data, dims: [...value.dims] };
      }
      return out;
    },
    async dispose() {
      await session.release();
    },
  };
}
