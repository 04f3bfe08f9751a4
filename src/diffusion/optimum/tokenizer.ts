/**
 * CLIP's byte-level BPE tokenisation from a diffusers/Optimum export's tokenizer/ directory (vocab.json,
 * merges.txt, tokenizer_config.json), producing a text encoder's `input_ids`.
 *
 * The BPE itself is Hugging Face's own pure-JS tokenizers (@huggingface/tokenizers, zero dependencies; the
 * tokenizers Transformers.js uses, without the rest of that package), handed a tokenizer.json built in memory
 * as Hugging Face writes it for CLIP: a BPE model with the "</w>" end-of-word suffix, and CLIP's pre-tokenizer
 * (its word pattern, then the byte-to-unicode map). It reads local objects only, nothing is fetched. Chosen
 * over a hand-written BPE because it is maintained upstream and gives the reference's ids on every fixture
 * prompt; its one cost is a few hundred milliseconds of synchronous construction per load (BENCHMARKS.md). What the library does not do is CLIP's text cleaning, done here
 * before it as CLIP's SimpleTokenizer does (ftfy → NFC, html.unescape twice, strip, whitespace runs to one
 * space, lowercase). Checked against training/optimum/clip_reference.py (the original algorithm on CLIP's
 * own BPE file) on every prompt of test/fixtures/optimum/clip-token-ids.json.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { decodeHTML, replaceCodePoint } from "entities/decode";
import { z } from "zod";
import { readRegularFile } from "../../bounded-file.ts";

/**
 * The files of a tokenizer/ directory, and how large each may be: CLIP's (SD 1.x, 2.x, XL) are 862 KB and 525 KB;
 * loading them takes a few hundred milliseconds of synchronous work (BENCHMARKS.md), so the bounds stay near them.
 */
const TOKENIZER_FILES = {
  vocab: { name: "vocab.json", maxBytes: 4 * 1024 * 1024 },
  merges: { name: "merges.txt", maxBytes: 4 * 1024 * 1024 },
  config: { name: "tokenizer_config.json", maxBytes: 1024 * 1024 },
  /** Optional: tokens added after training (textual inversion); read only to refuse ones the vocabulary lacks. */
  added: { name: "added_tokens.json", maxBytes: 1024 * 1024 },
} as const;

/** Longest prompt accepted, in characters: far past what 77 tokens cover, short enough never to stall a worker. */
export const MAX_PROMPT_CHARACTERS = 16_384;
/** Bounds of model_max_length (SD 1.x/2.x: 77); transformers writes 1e30 when a tokenizer has no limit. */
const MAX_LENGTH_RANGE = [2, 4096] as const;
const CLIP_TOKENIZER_CLASSES = ["CLIPTokenizer", "CLIPTokenizerFast"];

export type TokenizerLoadErrorCode = "missing-file" | "too-large" | "unparseable" | "inconsistent" | "unsupported";

/** A tokenizer/ directory that cannot be used; `file` is the file at fault. Raised before anything is encoded. */
export class TokenizerLoadError extends Error {
  override readonly name = "TokenizerLoadError";
  constructor(
    readonly code: TokenizerLoadErrorCode,
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/** A prompt the tokenizer refuses (too long to encode). */
export class PromptTooLongError extends Error {
  override readonly name = "PromptTooLongError";
  constructor(readonly characters: number) {
    super(`prompt of ${characters} characters; at most ${MAX_PROMPT_CHARACTERS} are accepted`);
  }
}

export interface ClipTokenizer {
  /** model_max_length: the length of every `tokenize` result (77 for Stable Diffusion). */
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly vocabSize: number;
  /** bos + tokens + eos, untruncated. */
  encode(text: string): number[];
  /** Exactly maxLength ids: truncated keeping eos last, then padded with the pad token (a text encoder's input_ids). */
  tokenize(text: string): Int32Array;
}

// ---- 1. CLIP's text cleaning -------------------------------------------------------------------------------

/** Python's str.isspace() set, which str.strip() removes: Unicode White_Space plus U+001C..U+001F. */
const PYTHON_SPACE = "\\p{White_Space}\\u001c-\\u001f";
const STRIP = new RegExp(`^[${PYTHON_SPACE}]+|[${PYTHON_SPACE}]+$`, "gu");
/** CLIP's whitespace_clean collapses `\s+` of the `regex` module: Unicode White_Space (not JS's \s, which adds U+FEFF and lacks U+0085). */
const WHITESPACE_RUN = /\p{White_Space}+/gu;
/** Python's html.unescape pattern: numeric references, and names of up to 32 characters with an optional ';'. */
const CHARACTER_REFERENCE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/g;

/** Code points Python's html.unescape drops from numeric references (controls, noncharacters). */
function droppedByPython(codePoint: number): boolean {
  return (
    (codePoint >= 0x1 && codePoint <= 0x8) ||
    codePoint === 0xb ||
    (codePoint >= 0xe && codePoint <= 0x1f) ||
    codePoint === 0x7f ||
    (codePoint >= 0xfdd0 && codePoint <= 0xfdef) ||
    (codePoint & 0xfffe) === 0xfffe
  );
}

/** `reference` is "#123;" or "#x7B" (the part after "&"). */
function numericReference(reference: string): string {
  const hex = reference[1] === "x" || reference[1] === "X";
  const codePoint = Number.parseInt(reference.slice(hex ? 2 : 1).replace(";", ""), hex ? 16 : 10);
  // NUL, CR and 0x80-0x9F (Windows-1252) follow the HTML table, as do surrogates and values past Unicode (U+FFFD).
  if (codePoint === 0 || codePoint === 0xd || (codePoint >= 0x80 && codePoint <= 0x9f)) return String.fromCodePoint(replaceCodePoint(codePoint));
  if ((codePoint >= 0xd800 && codePoint <= 0xdfff) || codePoint > 0x10ffff) return "\ufffd";
  return droppedByPython(codePoint) ? "" : String.fromCodePoint(codePoint);
}

/** Python's html.unescape: named references by the HTML5 table (longest legacy prefix when no ';'), numeric by its rules. */
function unescapeHtml(text: string): string {
  return text.replace(CHARACTER_REFERENCE, (whole, reference: string) => (reference.startsWith("#") ? numericReference(reference) : decodeHTML(whole)));
}

/** CLIP's basic_clean then whitespace_clean then lower(), with NFC normalisation standing in for ftfy. */
function cleanPromptText(text: string): string {
  const unescaped = unescapeHtml(unescapeHtml(text.normalize("NFC"))).replace(STRIP, "");
  return unescaped.replace(WHITESPACE_RUN, " ").replace(STRIP, "").toLowerCase();
}

// ---- 2. Loading the files ----------------------------------------------------------------------------------

/** A file's text, refused from its size before it is read (bounded-file.ts: a FIFO or a swapped file cannot hang or overrun). */
async function readBounded(dir: string, file: { name: string; maxBytes: number }): Promise<string> {
  const path = join(dir, file.name);
  const bytes = await readRegularFile(path, file.maxBytes, (refusal) => {
    if (refusal.kind === "absent") return new TokenizerLoadError("missing-file", path, "not found");
    if (refusal.kind === "not-a-file") return new TokenizerLoadError("missing-file", path, "is not a regular file");
    return new TokenizerLoadError("too-large", path, `${refusal.size} bytes; at most ${file.maxBytes} are read`);
  });
  return new TextDecoder().decode(bytes);
}

function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TokenizerLoadError("unparseable", path, `not JSON (${(error as Error).message})`);
  }
}

/** A special token is written as a string or as transformers' AddedToken object. */
const specialTokenSchema = z.union([z.string(), z.object({ content: z.string() }).transform((t) => t.content)]);

const tokenizerConfigSchema = z.object({
  tokenizer_class: z.string().optional(),
  model_max_length: z.number(),
  // CLIPTokenizer's defaults where a config leaves a token out.
  bos_token: specialTokenSchema.default("<|startoftext|>"),
  eos_token: specialTokenSchema.default("<|endoftext|>"),
  unk_token: specialTokenSchema.default("<|endoftext|>"),
  pad_token: specialTokenSchema.default("<|endoftext|>"),
  // transformers >= 4.34 lists every added token here, id -> { content }; for SD 1.x/2.x just bos and eos.
  added_tokens_decoder: z.record(z.string(), z.object({ content: z.string() })).optional(),
});
type TokenizerConfig = z.infer<typeof tokenizerConfigSchema>;

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`).join("; ");
}

/** vocab.json: a token-to-id map with ids 0..n-1, each once. One pass checks the types and the ids together
 * (zod would add a second pass over CLIP's 49,408 entries, 130-200 ms on this loaded 2-core machine). */
function parseVocabulary(path: string, text: string): Record<string, number> {
  const parsed = parseJson(path, text);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new TokenizerLoadError("unparseable", path, "not a token-to-id map (a JSON object)");
  const vocabulary = parsed as Record<string, unknown>;
  const entries = Object.entries(vocabulary);
  const seen = new Uint8Array(entries.length);
  for (const [token, id] of entries) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) throw new TokenizerLoadError("unparseable", path, `not a token-to-id map: ${JSON.stringify(token)} has id ${JSON.stringify(id)}`);
    if (id >= entries.length) throw new TokenizerLoadError("inconsistent", path, `ids are not 0..${entries.length - 1} (${JSON.stringify(token)} has ${id})`);
    if (seen[id]) throw new TokenizerLoadError("inconsistent", path, `two tokens share an id (${id})`);
    seen[id] = 1;
  }
  return vocabulary as Record<string, number>;
}

/** merges.txt: a "#version" line, then one merge a line, "left right", in rank order. */
function parseMerges(path: string, text: string, symbols: ReadonlySet<string>): [string, string][] {
  const lines = text.split(/\r?\n/); // CRLF too, as Hugging Face's Rust reader takes it
  if (!lines[0]?.startsWith("#version")) throw new TokenizerLoadError("unparseable", path, 'no "#version" header line');
  const merges: [string, string][] = [];
  lines.forEach((line, index) => {
    if (index === 0 || line.length === 0) return;
    const where = `line ${index + 1} (${JSON.stringify(line)})`;
    const space = line.indexOf(" ");
    const [left, right] = [line.slice(0, space), line.slice(space + 1)];
    if (space <= 0 || right.length === 0 || right.includes(" ")) throw new TokenizerLoadError("unparseable", path, `${where} is not two symbols separated by a space`);
    const missing = !symbols.has(left) ? left : !symbols.has(right) ? right : !symbols.has(left + right) ? left + right : undefined;
    if (missing !== undefined) throw new TokenizerLoadError("inconsistent", path, `${where}: ${JSON.stringify(missing)} is not in vocab.json`);
    merges.push([left, right]);
  });
  return merges;
}

function parseConfig(path: string, text: string): TokenizerConfig {
  const parsed = tokenizerConfigSchema.safeParse(parseJson(path, text));
  if (!parsed.success) throw new TokenizerLoadError("unparseable", path, describeIssues(parsed.error));
  const config = parsed.data;
  if (config.tokenizer_class !== undefined && !CLIP_TOKENIZER_CLASSES.includes(config.tokenizer_class)) {
    throw new TokenizerLoadError("unsupported", path, `tokenizer_class ${config.tokenizer_class}; supported: ${CLIP_TOKENIZER_CLASSES.join(", ")}`);
  }
  const [min, max] = MAX_LENGTH_RANGE;
  if (!Number.isInteger(config.model_max_length) || config.model_max_length < min || config.model_max_length > max) {
    throw new TokenizerLoadError("inconsistent", path, `model_max_length ${config.model_max_length} is not an integer in [${min}, ${max}]`);
  }
  return config;
}

/** GPT-2's byte-to-unicode table: the 256 symbols (and their "</w>" forms) every byte-level vocabulary must hold. */
function byteSymbols(): string[] {
  const printable = (from: string, to: string) => Array.from({ length: to.charCodeAt(0) - from.charCodeAt(0) + 1 }, (_, i) => from.charCodeAt(0) + i);
  const kept = new Set([...printable("!", "~"), ...printable("¡", "¬"), ...printable("®", "ÿ")]);
  let shifted = 0;
  return Array.from({ length: 256 }, (_, byte) => String.fromCharCode(kept.has(byte) ? byte : 256 + shifted++));
}

/** Loading CLIP's files is a few hundred milliseconds of synchronous work: let other callbacks run between the steps. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Added tokens (a textual-inversion embedding adds e.g. "<my-car>" past the vocabulary) change how text splits;
 * this tokenizer does not take them, so refuse any that is not already the vocabulary's token at that id.
 */
function refuseAddedTokens(path: string, added: Record<string, number>, vocabulary: Record<string, number>): void {
  const foreign = Object.entries(added).filter(([token, id]) => vocabulary[token] !== id);
  if (foreign.length > 0) {
    const listed = foreign.slice(0, 5).map(([token, id]) => `${JSON.stringify(token)} (${id})`);
    throw new TokenizerLoadError("unsupported", path, `added tokens outside the vocabulary are not supported (textual inversion?): ${listed.join(", ")}${foreign.length > 5 ? ", …" : ""}`);
  }
}

async function readAddedTokens(dir: string): Promise<Record<string, number> | null> {
  const path = join(dir, TOKENIZER_FILES.added.name);
  const present = await stat(path).then(
    (info) => info.isFile(),
    () => false,
  );
  if (!present) return null;
  const parsed = z.record(z.string(), z.number().int()).safeParse(parseJson(path, await readBounded(dir, TOKENIZER_FILES.added)));
  if (!parsed.success) throw new TokenizerLoadError("unparseable", path, describeIssues(parsed.error));
  return parsed.data;
}

function tokenId(vocabulary: Record<string, number>, token: string, role: string, path: string): number {
  const id = vocabulary[token];
  if (id === undefined) throw new TokenizerLoadError("inconsistent", path, `${role} ${JSON.stringify(token)} is not in vocab.json`);
  return id;
}

// ---- 3. The tokenizer --------------------------------------------------------------------------------------

/** CLIP's word pattern (special tokens are split off first by the library): contractions, letter runs, single digits, other runs. */
const CLIP_WORD_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** Hugging Face's tokenizer.json for CLIP (as transformers converts CLIPTokenizer), normalizer left out: cleaning is done above. */
function clipTokenizerJson(vocabulary: Record<string, number>, merges: [string, string][], config: TokenizerConfig, bosId: number, eosId: number): object {
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(bosId, config.bos_token), special(eosId, config.eos_token)],
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: CLIP_WORD_PATTERN }, behavior: "Removed", invert: true },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: config.unk_token, continuing_subword_prefix: "", end_of_word_suffix: "</w>", fuse_unk: false, byte_fallback: false, vocab: vocabulary, merges },
  };
}

/**
 * Loads tokenizer/ of a diffusers export. Refuses with a TokenizerLoadError naming the file when one is
 * missing, too large (checked before reading), unparseable, inconsistent (a merge whose parts are not in
 * the vocabulary, a missing special or byte token, a bad model_max_length) or unsupported (another tokenizer
 * class, added tokens outside the vocabulary).
 */
export async function loadClipTokenizer(dir: string): Promise<ClipTokenizer> {
  const [vocabText, mergesText, configText] = await Promise.all([
    readBounded(dir, TOKENIZER_FILES.vocab),
    readBounded(dir, TOKENIZER_FILES.merges),
    readBounded(dir, TOKENIZER_FILES.config),
  ]);
  const vocabPath = join(dir, TOKENIZER_FILES.vocab.name);
  const configPath = join(dir, TOKENIZER_FILES.config.name);
  const config = parseConfig(configPath, configText);
  const vocabulary = parseVocabulary(vocabPath, vocabText);
  const symbols = new Set(Object.keys(vocabulary)); // `in` on a 49k-key object is several times slower than a Set
  await yieldToEventLoop();
  const merges = parseMerges(join(dir, TOKENIZER_FILES.merges.name), mergesText, symbols);
  const missingByte = byteSymbols().flatMap((s) => [s, `${s}</w>`]).find((symbol) => !symbols.has(symbol));
  if (missingByte !== undefined) throw new TokenizerLoadError("inconsistent", vocabPath, `byte symbol ${JSON.stringify(missingByte)} is missing: not a byte-level BPE vocabulary`);
  const bosId = tokenId(vocabulary, config.bos_token, "bos_token", configPath);
  const eosId = tokenId(vocabulary, config.eos_token, "eos_token", configPath);
  const padId = tokenId(vocabulary, config.pad_token, "pad_token", configPath);
  tokenId(vocabulary, config.unk_token, "unk_token", configPath);
  const decoder = Object.fromEntries(Object.entries(config.added_tokens_decoder ?? {}).map(([id, token]) => [token.content, Number(id)]));
  refuseAddedTokens(configPath, decoder, vocabulary);
  const added = await readAddedTokens(dir);
  if (added) refuseAddedTokens(join(dir, TOKENIZER_FILES.added.name), added, vocabulary);
  await yieldToEventLoop();
  const bpe = new Tokenizer(clipTokenizerJson(vocabulary, merges, config, bosId, eosId), { model_max_length: config.model_max_length });
  const maxLength = config.model_max_length;

  const encode = (text: string): number[] => {
    if (text.length > MAX_PROMPT_CHARACTERS) throw new PromptTooLongError(text.length);
    return [bosId, ...bpe.encode(cleanPromptText(text), { add_special_tokens: false }).ids, eosId];
  };
  return {
    maxLength,
    bosId,
    eosId,
    padId,
    vocabSize: symbols.size,
    encode,
    tokenize(text) {
      const ids = encode(text);
      const inputIds = new Int32Array(maxLength).fill(padId);
      if (ids.length > maxLength) {
        inputIds.set(ids.slice(0, maxLength - 1));
        inputIds[maxLength - 1] = eosId;
      } else {
        inputIds.set(ids);
      }
      return inputIds;
    },
  };
}
