// CLIP BPE tokenisation of a diffusers export's tokenizer/ (src/diffusion/optimum/tokenizer.ts) against the
// Python reference of CLIP's original algorithm (training/optimum/clip_reference.py): every fixture prompt on
// CLIP's real vocabulary (shared data; skipped when absent) and on both tiny exports' own vocabularies.
import { existsSync, mkdtempSync, copyFileSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadClipTokenizer, MAX_PROMPT_CHARACTERS, PromptTooLongError, TokenizerLoadError, type ClipTokenizer } from "../../../src/diffusion/optimum/tokenizer.ts";
import { OPTIMUM_FIXTURES, readJsonFixture, TINY_EXPORTS } from "./golden.ts";

interface TokenCase {
  readonly prompt: string;
  readonly ids: number[];
  readonly inputIds: number[];
}
interface TokenFixture {
  readonly maxLength: number;
  readonly clip: TokenCase[];
  readonly tiny: Record<string, { padToken: string; prompts: TokenCase[] }>;
}

const fixture = readJsonFixture<TokenFixture>("clip-token-ids.json");
const CLIP_DIR = fileURLToPath(new URL("../../../../shared/data/tokenizers/clip/", import.meta.url));
const clipPresent = existsSync(join(CLIP_DIR, "vocab.json")) && existsSync(join(CLIP_DIR, "merges.txt"));
if (!clipPresent) console.warn(`skipping the CLIP-vocabulary comparisons: ${CLIP_DIR} is absent (shared test data)`);

const scratch: string[] = [];
function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "rareforge-tokenizer-"));
  scratch.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function expectMatches(tokenizer: ClipTokenizer, cases: readonly TokenCase[]): void {
  for (const c of cases) {
    expect(tokenizer.encode(c.prompt), JSON.stringify(c.prompt)).toEqual(c.ids);
    expect([...tokenizer.tokenize(c.prompt)], JSON.stringify(c.prompt)).toEqual(c.inputIds);
  }
}

describe.skipIf(!clipPresent)("CLIP's own vocabulary (SD 1.x tokenizer/ files from shared data)", () => {
  let tokenizer: ClipTokenizer;
  beforeAll(async () => {
    // A tokenizer/ directory as an SD 1.x export has it: CLIP's files, plus its tokenizer_config.json.
    const dir = scratchDir();
    for (const file of ["vocab.json", "merges.txt"]) symlinkSync(join(CLIP_DIR, file), join(dir, file));
    const token = (content: string) => ({ __type: "AddedToken", content, lstrip: false, normalized: true, rstrip: false, single_word: false });
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ tokenizer_class: "CLIPTokenizer", model_max_length: 77, bos_token: token("<|startoftext|>"), eos_token: token("<|endoftext|>"), unk_token: token("<|endoftext|>"), pad_token: "<|endoftext|>", do_lower_case: true }));
    tokenizer = await loadClipTokenizer(dir);
  });

  it("has CLIP's size and special ids", () => {
    expect(tokenizer.vocabSize).toBe(49408);
    expect([tokenizer.bosId, tokenizer.eosId, tokenizer.padId, tokenizer.maxLength]).toEqual([49406, 49407, 49407, 77]);
  });

  it(`gives the reference's ids on all ${fixture.clip.length} fixture prompts (unpadded and 77-long)`, () => {
    expect(fixture.clip.length).toBeGreaterThanOrEqual(250);
    expectMatches(tokenizer, fixture.clip);
  });

  it("truncates a prompt past 77 tokens keeping eos last", () => {
    const long = fixture.clip.find((c) => c.ids.length > 77)!;
    const ids = tokenizer.tokenize(long.prompt);
    expect(ids.length).toBe(77);
    expect(ids[76]).toBe(tokenizer.eosId);
    expect([...ids.slice(0, 76)]).toEqual(long.ids.slice(0, 76));
  });
});

for (const name of TINY_EXPORTS) {
  describe(`the tiny export ${name}'s own tokenizer/`, () => {
    let tokenizer: ClipTokenizer;
    beforeAll(async () => {
      tokenizer = await loadClipTokenizer(join(OPTIMUM_FIXTURES, name, "tokenizer"));
    });

    it("gives the reference's ids on its fixture prompts", () => {
      expect(fixture.tiny[name]!.prompts.length).toBeGreaterThan(0);
      expectMatches(tokenizer, fixture.tiny[name]!.prompts);
    });

    it("pads with the config's pad token (SD 1.x: <|endoftext|>, SD 2: \"!\")", () => {
      const vocab = JSON.parse(readFileSync(join(OPTIMUM_FIXTURES, name, "tokenizer/vocab.json"), "utf8")) as Record<string, number>;
      expect(tokenizer.padId).toBe(vocab[fixture.tiny[name]!.padToken]);
      expect(tokenizer.vocabSize).toBe(Object.keys(vocab).length);
      const ids = tokenizer.tokenize("a deer");
      expect(ids[ids.length - 1]).toBe(tokenizer.padId);
    });
  });
}

describe("refusals", () => {
  const source = join(OPTIMUM_FIXTURES, "tiny-sd", "tokenizer");
  /** A copy of tiny-sd's tokenizer/ with one file changed (or removed, when `content` is null). */
  function variant(file: string, content: string | null): string {
    const dir = scratchDir();
    for (const f of readdirSync(source)) copyFileSync(join(source, f), join(dir, f));
    if (content === null) rmSync(join(dir, file));
    else writeFileSync(join(dir, file), content);
    return dir;
  }
  const original = (file: string) => readFileSync(join(source, file), "utf8");
  const config = () => JSON.parse(original("tokenizer_config.json")) as Record<string, unknown>;

  async function refusal(dir: string): Promise<TokenizerLoadError> {
    const error = await loadClipTokenizer(dir).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TokenizerLoadError);
    return error as TokenizerLoadError;
  }

  for (const file of ["vocab.json", "merges.txt", "tokenizer_config.json"]) {
    it(`a missing ${file} is "missing-file", naming it`, async () => {
      const dir = variant(file, null);
      const error = await refusal(dir);
      expect(error.code).toBe("missing-file");
      expect(error.file).toBe(join(dir, file));
      expect(error.message).toContain(file);
    });
  }

  it('a FIFO in place of merges.txt is "missing-file" (not a regular file), without hanging on it', async () => {
    const dir = variant("merges.txt", null);
    execFileSync("mkfifo", [join(dir, "merges.txt")]);
    const error = await refusal(dir);
    expect(error.code).toBe("missing-file");
    expect(error.message).toContain("not a regular file");
  });

  it("a directory that does not exist is \"missing-file\"", async () => {
    expect((await refusal(join(scratchDir(), "nowhere"))).code).toBe("missing-file");
  });

  it('a vocab.json over 4 MiB is "too-large", refused from its size before it is read', async () => {
    const dir = variant("vocab.json", "{");
    truncateSync(join(dir, "vocab.json"), 4 * 1024 * 1024 + 1); // sparse: costs no disk and would not parse
    const error = await refusal(dir);
    expect(error.code).toBe("too-large");
    expect(error.file).toBe(join(dir, "vocab.json"));
  });

  it.each([
    ["vocab.json", "not json", /not JSON/],
    ["vocab.json", JSON.stringify({ a: "one" }), /token-to-id map/],
    ["merges.txt", "a b\n", /#version/],
    ["merges.txt", "#version: 0.2\na b c\n", /line 2 \("a b c"\) is not two symbols/],
    ["tokenizer_config.json", "{", /not JSON/],
    ["tokenizer_config.json", JSON.stringify({ bos_token: "<|startoftext|>" }), /model_max_length/],
  ])('%s holding %j is "unparseable"', async (file, content, pattern) => {
    const error = await refusal(variant(file, content));
    expect(error.code).toBe("unparseable");
    expect(error.file.endsWith(file)).toBe(true);
    expect(error.message).toMatch(pattern);
  });

  it("a merges.txt with Windows line endings loads and encodes the same", async () => {
    const crlf = await loadClipTokenizer(variant("merges.txt", original("merges.txt").replaceAll("\n", "\r\n")));
    expectMatches(crlf, fixture.tiny["tiny-sd"]!.prompts);
  });

  it('a merge whose parts are not in the vocabulary is "inconsistent", naming the line', async () => {
    const error = await refusal(variant("merges.txt", original("merges.txt") + "zq xw\n"));
    expect(error.code).toBe("inconsistent");
    expect(error.message).toMatch(/line 167 \("zq xw"\): "zq" is not in vocab.json/);
  });

  it('a merge whose result is not in the vocabulary is "inconsistent"', async () => {
    const error = await refusal(variant("merges.txt", original("merges.txt") + "q z</w>\n"));
    expect(error.code).toBe("inconsistent");
    expect(error.message).toContain('"qz</w>" is not in vocab.json');
  });

  it('a special token missing from the vocabulary is "inconsistent", naming the role', async () => {
    const error = await refusal(variant("tokenizer_config.json", JSON.stringify({ ...config(), pad_token: "<|pad|>" })));
    expect(error.code).toBe("inconsistent");
    expect(error.file.endsWith("tokenizer_config.json")).toBe(true);
    expect(error.message).toContain('pad_token "<|pad|>"');
  });

  it('a vocabulary without every byte symbol is "inconsistent"', async () => {
    const vocab = JSON.parse(original("vocab.json")) as Record<string, number>;
    const renumbered = Object.fromEntries(Object.keys(vocab).filter((t) => t !== "z").map((t, i) => [t, i]));
    const error = await refusal(variant("vocab.json", JSON.stringify(renumbered)));
    expect(error.code).toBe("inconsistent");
    expect(error.message).toMatch(/byte symbol "z"|"z" is not in vocab.json/);
  });

  it('duplicate ids are "inconsistent"', async () => {
    const vocab = JSON.parse(original("vocab.json")) as Record<string, number>;
    const error = await refusal(variant("vocab.json", JSON.stringify({ ...vocab, "<|startoftext|>": 0 })));
    expect(error.code).toBe("inconsistent");
    expect(error.message).toContain("share an id");
  });

  it('an unbounded model_max_length (transformers writes 1e30) is "inconsistent"', async () => {
    const error = await refusal(variant("tokenizer_config.json", JSON.stringify({ ...config(), model_max_length: 1e30 })));
    expect(error.code).toBe("inconsistent");
    expect(error.message).toContain("model_max_length");
  });

  it('another tokenizer class is "unsupported"', async () => {
    const error = await refusal(variant("tokenizer_config.json", JSON.stringify({ ...config(), tokenizer_class: "T5Tokenizer" })));
    expect(error.code).toBe("unsupported");
    expect(error.message).toContain("T5Tokenizer");
  });

  it('added tokens outside the vocabulary (textual inversion) in added_tokens.json are "unsupported", naming them', async () => {
    const dir = variant("added_tokens.json", JSON.stringify({ "<my-car>": 679 }));
    const error = await refusal(dir);
    expect(error.code).toBe("unsupported");
    expect(error.file).toBe(join(dir, "added_tokens.json"));
    expect(error.message).toContain('"<my-car>" (679)');
  });

  it("added tokens that are the vocabulary's own (bos, eos in added_tokens_decoder or added_tokens.json) load", async () => {
    const decoder = { "677": { content: "<|startoftext|>", special: true }, "678": { content: "<|endoftext|>", special: true } };
    const dir = variant("tokenizer_config.json", JSON.stringify({ ...config(), added_tokens_decoder: decoder }));
    writeFileSync(join(dir, "added_tokens.json"), JSON.stringify({ "<|startoftext|>": 677, "<|endoftext|>": 678 }));
    const tokenizer = await loadClipTokenizer(dir);
    expect([tokenizer.bosId, tokenizer.eosId]).toEqual([677, 678]);
  });

  it('an added_tokens_decoder entry outside the vocabulary is "unsupported"', async () => {
    const error = await refusal(variant("tokenizer_config.json", JSON.stringify({ ...config(), added_tokens_decoder: { "679": { content: "<my-car>" } } })));
    expect(error.code).toBe("unsupported");
    expect(error.file.endsWith("tokenizer_config.json")).toBe(true);
  });

  it(`a prompt over ${MAX_PROMPT_CHARACTERS} characters is a PromptTooLongError`, async () => {
    const tokenizer = await loadClipTokenizer(source);
    expect(() => tokenizer.tokenize("a".repeat(MAX_PROMPT_CHARACTERS + 1))).toThrow(PromptTooLongError);
    expect(tokenizer.tokenize("a".repeat(MAX_PROMPT_CHARACTERS)).length).toBe(77);
  });
});
