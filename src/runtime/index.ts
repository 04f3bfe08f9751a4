// onnxruntime-node behind one module: sessions, execution providers, checked runs. Nothing else imports it.
export {
  createSession,
  parseExecutionProvider,
  onnxRuntimeVersion,
  EXECUTION_PROVIDERS,
  AUTO_PROVIDER_ORDER,
  ExecutionProviderError,
  SessionInputError,
  type ExecutionProviderName,
  type ResolvedExecutionProvider,
  type OnnxSession,
  type SessionSettings,
  type TensorInput,
  type TensorOutput,
} from "./onnx.ts";
export { offeredProviders, ExecutionProviderUnavailableError } from "./providers.ts";
