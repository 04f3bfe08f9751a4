"""OpenAI CLIP's byte-level BPE tokenizer (the SimpleTokenizer algorithm), written here from its description.

Used as the reference for src/diffusion/optimum/tokenizer.ts and by build_tiny_exports.py for the tiny
vocabulary. The steps (CLIP, "Learning Transferable Visual Models From Natural Language Supervision",
code release clip/simple_tokenizer.py; the same as GPT-2's byte-level BPE plus a "</w>" end-of-word suffix):

1. Clean the text. CLIP runs ftfy.fix_text, then html.unescape twice, strips, collapses runs of whitespace
   to one space, lowercases. ftfy has no Debian package: Unicode NFC normalisation stands in for it (ftfy's
   default normalisation is NFC), which is what Hugging Face's tokenizers do for CLIP (normalizer NFC).
2. Split into words with CLIP's pattern: the two special tokens, the English contractions 's 't 're 've 'm
   'll 'd, runs of letters, single digits, runs of anything else that is not whitespace.
3. Map each word's UTF-8 bytes to printable characters (the GPT-2 byte-to-unicode table), mark its last
   character with "</w>", and merge adjacent symbols by merge rank (lowest first) until no pair has a rank.
4. Look each symbol up in the vocabulary: 256 byte characters, the same with "</w>", the merges joined, then
   "<|startoftext|>" and "<|endoftext|>".
"""
from __future__ import annotations

import gzip
import html
import json
import unicodedata
from pathlib import Path
from typing import Sequence

import regex

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
END_OF_WORD = "</w>"
# CLIP's bpe_simple_vocab_16e6.txt: a header line, then the merges; CLIP keeps the first 49152-256-2.
CLIP_MERGE_COUNT = 49152 - 256 - 2

WORD_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)
WHITESPACE_RUN = regex.compile(r"\s+")


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's table: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 onwards.
    Insertion order (printable bytes first, then the shifted ones) is the vocabulary's order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shifted)
            shifted += 1
    return table


BYTE_TO_UNICODE = byte_to_unicode()


def base_vocabulary() -> list[str]:
    """The 512 symbols every CLIP vocabulary starts with, in order: bytes, then bytes + "</w>"."""
    chars = list(BYTE_TO_UNICODE.values())
    return chars + [c + END_OF_WORD for c in chars]


def vocabulary_from_merges(merges: list[tuple[str, str]]) -> dict[str, int]:
    symbols = base_vocabulary() + ["".join(m) for m in merges] + [BOS, EOS]
    return {s: i for i, s in enumerate(symbols)}


def clean_text(text: str) -> str:
    """Step 1: NFC (for ftfy), html.unescape twice, strip, collapse whitespace, lowercase."""
    text = unicodedata.normalize("NFC", text)
    text = html.unescape(html.unescape(text)).strip()
    return WHITESPACE_RUN.sub(" ", text).strip().lower()


def words(text: str) -> list[str]:
    """Step 2 on cleaned text."""
    return WORD_PATTERN.findall(text)


def to_byte_symbols(word: str) -> str:
    return "".join(BYTE_TO_UNICODE[b] for b in word.encode("utf-8"))


def merge_by_rank(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Step 3: repeatedly merge every occurrence (left to right) of the adjacent pair with the lowest rank."""
    while len(symbols) > 1:
        pairs = {(a, b) for a, b in zip(symbols, symbols[1:])}
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        symbols = merge_pair(symbols, best)
    return symbols


def merge_pair(symbols: Sequence[str], pair: tuple[str, str]) -> list[str]:
    """Every occurrence of the adjacent pair, left to right, joined into one symbol."""
    merged: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            merged.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return merged


class ClipBpe:
    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]], max_length: int = 77, pad: str = EOS):
        self.vocab = vocab
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.max_length = max_length
        self.bos_id = vocab[BOS]
        self.eos_id = vocab[EOS]
        self.pad_id = vocab[pad]
        self.cache: dict[str, list[int]] = {}

    def word_ids(self, word: str) -> list[int]:
        if word in (BOS, EOS):  # the pattern lets a literal special token through whole
            return [self.vocab[word]]
        if word not in self.cache:
            chars = list(to_byte_symbols(word))
            chars[-1] += END_OF_WORD
            self.cache[word] = [self.vocab[s] for s in merge_by_rank(chars, self.ranks)]
        return self.cache[word]

    def encode(self, text: str) -> list[int]:
        """bos + tokens + eos, untruncated."""
        ids = [self.bos_id]
        for w in words(clean_text(text)):
            ids.extend(self.word_ids(w))
        return ids + [self.eos_id]

    def tokenize(self, text: str) -> list[int]:
        """Exactly max_length ids: truncated keeping eos last, then padded (a text encoder's input_ids)."""
        ids = self.encode(text)
        if len(ids) > self.max_length:
            ids = ids[: self.max_length - 1] + [self.eos_id]
        return ids + [self.pad_id] * (self.max_length - len(ids))


def read_clip_merges(bpe_gz: Path) -> list[tuple[str, str]]:
    lines = gzip.open(bpe_gz).read().decode("utf-8").split("\n")
    return [tuple(line.split()) for line in lines[1 : 1 + CLIP_MERGE_COUNT]]  # type: ignore[misc]


def read_tokenizer_dir(directory: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """vocab.json and merges.txt as a diffusers export's tokenizer/ holds them."""
    vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    lines = (directory / "merges.txt").read_text(encoding="utf-8").split("\n")
    if not lines[0].startswith("#version"):
        raise ValueError(f"{directory / 'merges.txt'}: no #version header")
    merges = [tuple(line.split()) for line in lines[1:] if line]
    return vocab, merges  # type: ignore[return-value]


def merges_text(merges: list[tuple[str, str]]) -> str:
    return "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)


def vocab_text(vocab: dict[str, int]) -> str:
    return json.dumps(vocab, ensure_ascii=False, separators=(",", ":"))


def learn_merges(corpus: list[str], count: int) -> list[tuple[str, str]]:
    """A small BPE vocabulary learnt from a corpus (the tiny exports'): most frequent adjacent pair first,
    ties broken by the pair itself so the result is deterministic."""
    freq: dict[tuple[str, ...], int] = {}
    for text in corpus:
        for w in words(clean_text(text)):
            chars = list(to_byte_symbols(w))
            chars[-1] += END_OF_WORD
            freq[tuple(chars)] = freq.get(tuple(chars), 0) + 1
    merges: list[tuple[str, str]] = []
    while len(merges) < count:
        pair_counts: dict[tuple[str, str], int] = {}
        for word, n in freq.items():
            for p in zip(word, word[1:]):
                pair_counts[p] = pair_counts.get(p, 0) + n
        if not pair_counts:
            break
        best = min(pair_counts, key=lambda p: (-pair_counts[p], p))
        merges.append(best)
        merged_freq: dict[tuple[str, ...], int] = {}
        for word, n in freq.items():
            out = tuple(merge_pair(word, best))
            merged_freq[out] = merged_freq.get(out, 0) + n
        freq = merged_freq
    return merges
