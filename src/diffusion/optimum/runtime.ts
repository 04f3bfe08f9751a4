// An Optimum export's sessions on one execution provider (text encoder, UNet, VAE decoder, VAE encoder when
// present) with its tokenizer and the layout read from the sessions; opened once, reused across batches.
import { ModelPackageError, type ModelPackage, type OptimumExport } from "../../models/index.ts";
import { createSession, ExecutionProviderError, type OnnxSession, type ResolvedExecutionProvider, type SessionSettings } from "../../runtime/index.ts";
import { readOptimumLayout, type OptimumLayout } from "./layout.ts";
import { loadClipTokenizer, TokenizerLoadError, type ClipTokenizer } from "./tokenizer.ts";

export interface OptimumRuntime {
  readonly kind: "optimum";
  readonly model: ModelPackage;
  readonly export: OptimumExport;
  readonly provider: ResolvedExecutionProvider;
  readonly textEncoder: OnnxSession;
  readonly unet: OnnxSession;
  readonly vaeDecoder: OnnxSession;
  readonly vaeEncoder: OnnxSession | null;
  readonly tokenizer: ClipTokenizer;
  readonly layout: OptimumLayout;
  /** Milliseconds spent inside onnxruntime by all its sessions. */
  onnxMillis(): number;
  dispose(): Promise<void>;
}

/**
 * Opens an Optimum package: the tokenizer first (cheapest to refuse), then the sessions (all on the provider the
 * UNet got), then the layout check. Anything that does not fit is a ModelPackageError and nothing stays open.
 */
export async function openOptimumRuntime(model: ModelPackage, settings: SessionSettings): Promise<OptimumRuntime> {
  const exported = model.optimum;
  if (!exported) throw new ModelPackageError("invalid-manifest", `${model.dir} is not an Optimum export`, model.dir);
  let tokenizer: ClipTokenizer;
  try {
    tokenizer = await loadClipTokenizer(exported.parts.tokenizerDir);
  } catch (error) {
    if (error instanceof TokenizerLoadError) throw new ModelPackageError("tokenizer", `the export's tokenizer does not load: ${(error as Error).message}`, model.dir);
    throw error;
  }
  const opened: OnnxSession[] = [];
  const open = async (path: string, ep: SessionSettings["ep"]) => {
    let session: OnnxSession;
    try {
      session = await createSession(path, { ...settings, ep });
    } catch (error) {
      // on the CPU nothing is missing: a file the CPU provider cannot load is the package's problem
      if (error instanceof ExecutionProviderError && ep === "cpu")
        throw new ModelPackageError("unloadable-part", `${path} does not load in onnxruntime: ${error.message.replace(/^.*onnxruntime said: /, "")}`, model.dir);
      throw error;
    }
    opened.push(session);
    return session;
  };
  try {
    const unet = await open(exported.parts.unet, settings.ep);
    const textEncoder = await open(exported.parts.textEncoder, unet.provider);
    const vaeDecoder = await open(exported.parts.vaeDecoder, unet.provider);
    const vaeEncoder = exported.parts.vaeEncoder ? await open(exported.parts.vaeEncoder, unet.provider) : null;
    const { width, height } = model.manifest.image;
    const layout = readOptimumLayout(model.dir, { textEncoder, unet, vaeDecoder, vaeEncoder }, exported, { sequenceLength: tokenizer.maxLength, latentHeight: height / 8, latentWidth: width / 8 });
    return {
      kind: "optimum",
      model,
      export: exported,
      provider: unet.provider,
      textEncoder,
      unet,
      vaeDecoder,
      vaeEncoder,
      tokenizer,
      layout,
      onnxMillis: () => opened.reduce((sum, s) => sum + s.runMillis, 0),
      async dispose() {
        for (const session of opened) await session.dispose();
      },
    };
  } catch (error) {
    for (const session of opened) await session.dispose();
    throw error;
  }
}
