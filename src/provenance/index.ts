// A sample's provenance record: its type, how it is built, and how it is stored.
export {
  buildGenerationRecord,
  recordExtras,
  storedProvenance,
  storedRecord,
  PIPELINE_RECORD_KEYS,
  type GenerationRecord,
  type HeldRecord,
  type SampleOrigin,
  type StoredProvenance,
  type ArtifactIdentity,
} from "./record.ts";
