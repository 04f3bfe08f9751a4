"""Reference token ids for src/diffusion/optimum/tokenizer.ts, from CLIP's own BPE file.

  /usr/bin/python3 training/optimum/clip_reference.py [path/to/bpe_simple_vocab_16e6.txt.gz]

(default ../shared/data/tokenizers/clip/bpe_simple_vocab_16e6.txt.gz relative to the project root).
1. Builds CLIP's vocabulary and merges from the .gz by CLIP's SimpleTokenizer algorithm (clip_bpe.py) and
   checks they equal vocab.json and merges.txt beside it (the shared copies: both byte for byte).
2. Encodes every prompt (scenario prompts from scenarios/*.yaml in templates, hard cases, seeded random
   strings) and writes
   test/fixtures/optimum/clip-token-ids.json: for each, the unpadded ids (bos + tokens + eos) and the
   77 input_ids (truncated keeping eos last, padded with <|endoftext|> as SD 1.x does).
3. Encodes a few prompts with each tiny export's own tokenizer/ (test/fixtures/optimum/<export>/tokenizer)
   so the tiny vocabularies are covered without the shared data.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from clip_bpe import EOS, ClipBpe, merges_text, read_clip_merges, read_tokenizer_dir, vocab_text, vocabulary_from_merges  # noqa: E402
from scenario_prompts import NEGATIVE_PROMPTS, scenario_prompts  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BPE = ROOT / "../shared/data/tokenizers/clip/bpe_simple_vocab_16e6.txt.gz"
OUT = ROOT / "test/fixtures/optimum/clip-token-ids.json"

LONG = ("dashcam photo, a pedestrian in a yellow raincoat crossing a wet two-lane rural road at dusk, heavy rain, "
        "headlights reflecting on the asphalt, a parked delivery van on the right shoulder, trees on both sides, "
        "fog in the distance, a cyclist far ahead, road signs, lane markings worn, puddles, motion blur, "
        "photorealistic, high detail, 35mm lens, wide angle, cinematic lighting, 8k, sharp focus")

HARD_CASES = [
    "", " ", "\t\n\r\n", "a", "A", "!", "dashcam",
    # contractions and apostrophes
    "the pedestrian's umbrella isn't open; they're crossing, we've seen it, I'm sure, you'll see, he'd stop",
    "DON'T STOP, IT'S A DEER'S FAWN", "rock'n'roll '' ' 's 'S 'll'd", "the driver’s view (curly apostrophe)",
    # case, whitespace
    "DASHCAM PHOTO OF A DEER ON THE ROAD AT NIGHT", "DashCam PhOtO, A CyClIsT", "multiple    spaces\tand\t\ttabs\nand\n\nnewlines\r\n end",
    "  leading and trailing spaces  ", "non\u00a0breaking\u2003em\u3000ideographic\u2028line\u0085next space",
    "\x1cfile separator at the ends\x1f", "mid\x1cdle unit\x1fseparator", "zero\u200bwidth and \ufeffbom",
    # numbers and punctuation
    "numbers 2026, 3.14159, 1st 2nd 3rd 100km/h -5°C 0.5m", "punctuation!!! ??? ... --- (brackets) [square] {curly} <angle> @#$%^&*_+=|\\/~`",
    "a,b;c:d.e!f?g", "v2.0-beta_3 (rc#7)", "Arabic-indic ٣٤٥ and fullwidth ＡＢＣ１２３ and ½ ¾ Ⅻ",
    # accents, normalisation, other scripts
    "café, naïve, résumé, crème brûlée, Ærøskøbing", "cafe\u0301 decomposed vs café composed", "a\u0308 o\u0308 u\u0308",
    "İstanbul ISTANBUL ß STRASSE ǅ ﬁne", "ΟΔΟΣ ΝΥΧΤΑ ελληνικά", "Дорога ночью, олень на дороге",
    "日本の道路で横断する歩行者", "도로 위의 사슴", "الطريق في الليل مع ضباب", "सड़क पर गाय", "ถนนในเวลากลางคืน", "漢字テスト",
    # emoji
    "🚗💨 a car speeding", "🦌 deer on the road 🌧️🌫️", "family 👨‍👩‍👧 crossing 👍🏽", "❄️ snow ☀️ sun ⚠️ warning",
    # html entities
    "&amp; &lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot; &#39;apos&#39;", "fish &amp;amp; chips (double escaped)",
    "non&nbsp;breaking &copy; 2026 &#x1F697; &#128663; &notanentity; &amp", "AT&T and R&D &ltx",
    "numeric &#0; &#x80;&#x81; &#1;x &#xD800; &#x110000; &#65535;y &#13; &#x7f;z &#99999999999999999999; &#X41;", "&AMP; &Amp; &amp;lt;",
    # special tokens written in the text, and the end-of-word marker
    "<|startoftext|>a photo<|endoftext|>", "<|StartOfText|> upper", "hello</w>world",
    # repetition and long prompts (> 77 tokens: truncation keeps eos last)
    "a" * 120, "road " * 80, LONG, LONG + ", " + LONG, "deer, " * 40,
    "pneumonoultramicroscopicsilicovolcanoconiosis", "supercalifragilisticexpialidocious roadwork",
    # negative prompts
    *NEGATIVE_PROMPTS,
]

# Character pools for seeded random strings: scripts, marks, digits, whitespace of every kind (Python's and
# JavaScript's \s differ on U+001C-1F, U+0085, U+FEFF), apostrophes, entity fragments, emoji with ZWJ/VS16.
RANDOM_POOLS = [
    [chr(c) for c in range(0x20, 0x7F)] * 3,
    list("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2002\u2009\u200b\u2028\u202f\u3000\ufeff"),
    ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'", "\u2019", "&amp;", "&lt;", "&#", "&#x", ";", "&nbsp", "&"],
    [chr(c) for c in range(0xA1, 0x250)], [chr(c) for c in range(0x300, 0x370)], [chr(c) for c in range(0x391, 0x3CA)],
    [chr(c) for c in range(0x410, 0x450)], [chr(c) for c in range(0x5D0, 0x5EB)], [chr(c) for c in range(0x621, 0x64B)],
    [chr(c) for c in range(0x660, 0x66A)], [chr(c) for c in range(0x905, 0x940)], [chr(c) for c in range(0xE01, 0xE3A)],
    [chr(c) for c in range(0x3041, 0x3097)], [chr(c) for c in range(0x30A1, 0x30FB)], [chr(c) for c in range(0x4E00, 0x4E80)],
    [chr(c) for c in range(0xAC00, 0xAC80)], [chr(c) for c in range(0xFF10, 0xFF5B)], [chr(c) for c in range(0x2150, 0x2183)],
    [chr(c) for c in range(0x1F300, 0x1F650)] + ["\u200d", "\ufe0f", "\U0001F3FD"],
]
RANDOM_COUNT = 200


def random_strings() -> list[str]:
    import random
    rng = random.Random(20)
    out = []
    for _ in range(RANDOM_COUNT):
        pools = rng.sample(RANDOM_POOLS, rng.randint(1, 4))
        out.append("".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 60))))
    return out


TINY_PROMPTS = ["dashcam photo, a cyclist on the road at night, rain", "", "blurry, low quality, cartoon, watermark",
                "A DEER'S fawn on the Motorway at Dusk — 3 lanes, fog 🌫️", "road " * 30, "unknown wörds like zebra"]


def check_against_files(vocab: dict[str, int], merges: list[tuple[str, str]], directory: Path) -> str:
    """vocab.json and merges.txt beside the .gz must be what the algorithm derives from it."""
    file_vocab, file_merges = read_tokenizer_dir(directory)
    if file_vocab != vocab:
        raise SystemExit(f"{directory / 'vocab.json'} differs from the vocabulary derived from the .gz")
    if file_merges != merges:
        raise SystemExit(f"{directory / 'merges.txt'} differs from the merges derived from the .gz")
    if (directory / "merges.txt").read_bytes() != merges_text(merges).encode("utf-8"):
        raise SystemExit(f"{directory / 'merges.txt'} has the same merges but other bytes")
    # vocab.json there is written compactly (separators "," and ":", UTF-8): then it is the same bytes too
    vocab_bytes = "byte for byte" if (directory / "vocab.json").read_bytes() == vocab_text(vocab).encode("utf-8") else "same mapping, other formatting"
    return f"vocab.json: {len(vocab)} entries, {vocab_bytes}; merges.txt: {len(merges)} merges, byte for byte"


def entries(tokenizer: ClipBpe, prompts: list[str]) -> list[dict]:
    return [{"prompt": p, "ids": tokenizer.encode(p), "inputIds": tokenizer.tokenize(p)} for p in prompts]


def main() -> None:
    bpe_gz = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_BPE
    if not bpe_gz.exists():
        raise SystemExit(f"{bpe_gz} not found: pass the path to CLIP's bpe_simple_vocab_16e6.txt.gz")
    merges = read_clip_merges(bpe_gz)
    vocab = vocabulary_from_merges(merges)
    check = check_against_files(vocab, merges, bpe_gz.parent)
    print(check)
    clip = ClipBpe(vocab, merges, 77, EOS)
    prompts = list(dict.fromkeys(scenario_prompts() + HARD_CASES + random_strings()))  # in order, each once
    tiny = {}
    for export in ("tiny-sd", "tiny-sd-inpaint"):
        tok_dir = ROOT / "test/fixtures/optimum" / export / "tokenizer"
        config = json.loads((tok_dir / "tokenizer_config.json").read_text())
        t_vocab, t_merges = read_tokenizer_dir(tok_dir)
        tiny[export] = {"padToken": config["pad_token"], "prompts": entries(ClipBpe(t_vocab, t_merges, 77, config["pad_token"]), TINY_PROMPTS)}
    fixture = {
        "header": (
            "Token ids from training/optimum/clip_reference.py: OpenAI CLIP's SimpleTokenizer algorithm (clip_bpe.py) "
            "on CLIP's bpe_simple_vocab_16e6.txt.gz. ftfy is not available (no Debian package); the text is cleaned "
            "with Unicode NFC normalisation in its place, then html.unescape twice, strip, whitespace runs (Unicode "
            "White_Space) to one space, lowercase - what Hugging Face's CLIPTokenizerFast does (NFC normalizer) plus "
            "CLIP's html unescaping. 'ids' = bos + tokens + eos, untruncated; 'inputIds' = exactly 77 ids, truncated "
            "keeping eos last, padded with the pad token (<|endoftext|> for CLIP / SD 1.x). 'tiny' = the tiny exports' "
            "own tokenizer/ directories (tiny-sd pads with <|endoftext|>, tiny-sd-inpaint with '!'). The last "
            f"{RANDOM_COUNT} CLIP prompts are seeded random strings over many scripts, marks, digits, whitespace kinds and "
            "entity fragments."
        ),
        "source": {"bpe": "tokenizers/clip/bpe_simple_vocab_16e6.txt.gz (shared data)", "check": check,
                   "python": sys.version.split()[0]},
        "maxLength": 77,
        "clip": entries(clip, prompts),
        "tiny": tiny,
    }
    OUT.write_text(json.dumps(fixture, ensure_ascii=False) + "\n", encoding="utf-8")
    longest = max(len(e["ids"]) for e in fixture["clip"])
    print(f"{OUT.relative_to(ROOT)}: {len(prompts)} CLIP prompts (longest {longest} ids), "
          f"{sum(len(v['prompts']) for v in tiny.values())} tiny-tokenizer prompts, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
