#!/usr/bin/env python3
"""Reference ids and decoded text from Hugging Face `tokenizers`, for tests/hf/test_hf_tokenizer.cpp.

    python hf_tokenizer_reference.py --case NAME --out DIR [--data SSMLAB_DATA_DIR]
    python hf_tokenizer_reference.py --list

Writes DIR/NAME.json:
    {"case", "tokenizers_version", "load": {"kind": "json" | "folder", "path"},
     "encodings": [{"text", "ids", "ids_plain", "decoded", "decoded_skip"}],
     "decodes":   [{"ids", "decoded", "decoded_skip"}]}
where ids = encode(text) (special tokens added), ids_plain = encode(text, add_special_tokens=False),
decoded / decoded_skip = decode(ids, skip_special_tokens=False / True). Generated tokenizers are
trained here on generated text and written to DIR/NAME.tokenizer.json; the real ones (GPT-2's
vocab.json + merges.txt, GPT-NeoX-20B's tokenizer.json, a WordLevel tokenizer trained on WikiText-2)
are read from the --data folder.

The text is generated with a fixed seed: characters of every Unicode general category (Cs excepted:
lone surrogates cannot be UTF-8; Cn only as noncharacters, the code points that stay unassigned in
every Unicode version), combining marks in and out of canonical order, NFD/NFC/compatibility forms,
Hangul jamo, CJK, emoji with ZWJ/skin-tone/flag/tag sequences, whitespace runs, CRLF, the added
tokens in every position, and random mixtures of all of these.
"""
import argparse
import json
import os
import random
import sys
import unicodedata
import zlib

import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

SEED = 20261130

# ------------------------------------------------------------------------------------------------
# text
# ------------------------------------------------------------------------------------------------
CATEGORIES = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
              "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Co", "Cn"]


def chars_by_category():
    by = {c: [] for c in CATEGORIES}
    ranges = [(0, 0x40000), (0xE0000, 0xE0200)]
    for lo, hi in ranges:
        for cp in range(lo, hi):
            cat = unicodedata.category(chr(cp))
            if cat in by and cat not in ("Cn", "Cs"):
                by[cat].append(chr(cp))
    by["Co"] += [chr(0xF0000), chr(0xF0001), chr(0x10FFFD)]
    # Cn: noncharacters only (U+FDD0..U+FDEF and the last two code points of every plane)
    by["Cn"] = [chr(c) for c in range(0xFDD0, 0xFDF0)] + [chr(p * 0x10000 + k) for p in range(17) for k in (0xFFFE, 0xFFFF)]
    return by


FIXED = [
    "", "Hello world", "Hello, World! How are you?", "  leading and trailing  ", "a", " ", "  ", "\n",
    "I'm don't WE'RE they'll you've she'd it's 'S 'T o'clock rock'n'roll", "'''' ''s",
    "123 4567 3.14159 1,000,000 -42 +7 1e-9 0x1F ١٢٣ ४५६ Ⅻ ½ ²³ 𝟙𝟚",
    "Hello, world! (test) [x] {y} <z> @#$%^&*~`|\\/ ... --- ___ ''' \"\"\"",
    "e\u0301", "cafe\u0301 re\u0301sume\u0301 nai\u0308ve", "caf\u00e9 r\u00e9sum\u00e9 na\u00efve",
    "\u30ab\u3099 \u30ac \u304b\u3099 \u304c", "\u1100\u1161\u11a8 \u1100\u1161 \uac00\u11a8 \uac01",
    "a\u0301\u0323 a\u0323\u0301 q\u0307\u0323 \u1e0b\u0323 \u1e0d\u0307", "\u212b \u2126 \u212a \u00c5",
    "\ufb01x \ufb02 \uff21\uff22\uff23 \u2460 \u3392 \u337f \u00bd \u2075 \u1d2c", "\uf900\uf901\ufa10 \u2f00",
    "日本語のテキストです。東京都", "中文文本，标点符号。“引号”", "한국어 텍스트입니다", "𠀀𠀁𪚥 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "Ελληνικά ΣΑΣ σας ΟΔΟΣ", "Русский текст, ЁЖИК", "العربية نص مع أرقام ١٢٣", "עברית ְ ", "हिन्दी पाठ",
    "ภาษาไทย", "İstanbul ı I i Straße ß ẞ ǅ ǈ ῼ", "ﬀ ﬃ ŉ ǰ ΐ",
    "👍🏽 👩‍💻 👨‍👩‍👧‍👦 🏳️‍🌈 🇩🇪🇫🇷 1️⃣ ❤️ 🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
    "emoji:😀😃😄 text", "a  b", "a   b", "a\tb\t\tc", "x\n\n\ny", "\r\n", "a\r\nb\r\n", "line1\r\nline2\r\n\r\n",
    "   \t \n  ", "\u00a0\u2003\u3000 a\u00a0b", "\u2028\u2029\u0085 x", "a \u00a0 b \u202f c \u205f d",
    " " * 30, "x" + " " * 23 + "y", "\n \n  \n   \n", "\t\t\t\t", "end with spaces   ",
    "zero\u200bwidth\u200cjoin\u200dnon\ufeffbom", "soft\u00adhyphen", "bidi \u202eoverride\u202c done",
    "\x00\x01\x1f\x7f\x80\x9f", "tab\tnew\nline\rcarriage\x0bvt\x0cff",
    "https://example.com/path?q=1&r=2#frag", "user@example.org", "C++17 / CMake 3.25 -- x86_64",
    "def f(x):\n    return x ** 2  # comment\n", "{\"json\": [1, 2.5, null, true]}",
    "The quick brown fox jumps over the lazy dog. " * 3,
    "a" * 200, "ab" * 120, "🙂" * 40, "\u0301" * 10, "x\u0301\u0301\u0301\u0301\u0301",
    "_under_score_ __dunder__", "word-with-hyphens and_underscores", "MiXeD CaSe WoRdS",
]

TRAIN_TEXT = [
    "State space models and attention are compared on copying, recall and language modelling tasks.",
    "The model reads a sequence of tokens and predicts the next one; tokens come from a tokenizer.",
    "We're testing ssmlab: tokenizers, safetensors and config.json files, all read from C++.",
    "Mamba, Mamba-2 and the Transformer baseline were trained with the same optimiser settings.",
    "Byte-level BPE maps every byte to a printable character, so no text is ever out of vocabulary.",
    "Le café était fermé ; naïve façade, résumé, coöperate. Straße und Größe. İstanbul'da.",
    "Numbers: 1 2 3 10 100 1000 2024 3.14 42%. Dates: 2026-11-30. Times: 12:30.",
    "日本語と中文の文章。한국어 문장. Ελληνικά κείμενα. Русский язык. العربية.",
    "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.",
]


def nfd_texts(rng, by):
    canon, compat = [], []
    for cp in range(0xA0, 0x30000):
        d = unicodedata.decomposition(chr(cp))
        if d:
            (compat if d.startswith("<") else canon).append(chr(cp))
    marks = [c for c in by["Mn"] + by["Mc"] + by["Me"] if unicodedata.combining(c) or rng.random() < 0.05]
    out = []
    for _ in range(12):
        s = "".join(rng.choice(canon) + rng.choice(["", " ", "a"]) for _ in range(12))
        out += [unicodedata.normalize("NFD", s), unicodedata.normalize("NFC", s)]
        out.append(" ".join(rng.choice(compat) for _ in range(12)))
        # base letters followed by 1-4 combining marks in random (often non-canonical) order
        out.append(" ".join(rng.choice("aeiouAEOnsczq" + "αωиж") + "".join(rng.choice(marks) for _ in range(rng.randint(1, 4)))
                            for _ in range(8)))
        # Hangul jamo: L V (T), LV + T
        out.append("".join(chr(0x1100 + rng.randrange(19)) + chr(0x1161 + rng.randrange(21)) +
                           (chr(0x11A8 + rng.randrange(27)) if rng.random() < 0.5 else "") for _ in range(6)))
    return out


def category_texts(rng, by):
    out = []
    for cat in CATEGORIES:
        pool = by[cat]
        for _ in range(2):
            out.append("".join(rng.choice(pool) + rng.choice(["", "", "", " ", "a", "1", "  ", "\n"]) for _ in range(24)))
        out.append(" ".join("w" + rng.choice(pool) + "x" for _ in range(8)))
    return out


def added_token_texts(contents):
    out = []
    for t in contents:
        out += [t, f"a{t}b", f"a {t} b", f"  {t}  x", f"{t}{t}", f"word{t}word", f"{t} ", f" {t}", f"\n{t}\n",
                f"_{t}_", f"1{t}1", f"é{t}é", f"e\u0301{t}", f"x {t}\t{t} y", f"{t}   {t}"]
    if len(contents) > 1:
        out.append(" ".join(contents))
        out.append("".join(contents))
    return out


def mixtures(rng, by, pieces, n):
    out = []
    cats = list(by)
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 10)):
            r = rng.random()
            if r < 0.45:
                p = rng.choice(pieces)
                i = rng.randrange(len(p) + 1)
                parts.append(p[i:i + rng.randint(1, 16)])
            elif r < 0.7:
                parts.append("".join(rng.choice(by[rng.choice(cats)]) for _ in range(rng.randint(1, 5))))
            elif r < 0.85:
                parts.append(rng.choice([" ", "  ", "\t", "\n", "\r\n", " " * rng.randint(2, 26), "\u3000", "\u00a0 "]))
            else:
                parts.append(rng.choice(["the", " model", "Hello", "don't", "123", "éé", "日本", "👩‍💻", "ß"]))
        out.append("".join(parts))
    return out


def generated_texts(added_contents, seed_offset):
    rng = random.Random(SEED + seed_offset)
    by = chars_by_category()
    base = FIXED + TRAIN_TEXT + nfd_texts(rng, by) + category_texts(rng, by) + added_token_texts(added_contents)
    return base + mixtures(rng, by, base + added_contents, 160)


def data_texts(data):
    out = []
    with open(os.path.join(data, "wikitext-2-raw", "wiki.valid.raw"), encoding="utf-8") as f:
        lines = [l for l in f.read().split("\n") if l.strip()]
    out += lines[:150]
    with open(os.path.join(data, "c4", "c4-en-sample.jsonl"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= 15:
                break
            out.append(json.loads(line)["text"][:3000])
    with open(os.path.join(data, "tinystories", "TinyStories-valid-head.txt"), encoding="utf-8") as f:
        out += [l for l in f.read().split("\n") if l.strip()][:40]
    return out


# ------------------------------------------------------------------------------------------------
# tokenizers
# ------------------------------------------------------------------------------------------------
def train(tok, trainer, extra_texts):
    tok.train_from_iterator(TRAIN_TEXT * 4 + FIXED + extra_texts, trainer=trainer)
    return tok


def byte_level_bpe(normalizer, pre, vocab_size=700, special=()):
    tok = Tokenizer(models.BPE())
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    return tok, trainer


def template(tok, single, specials):
    tok.post_processor = processors.TemplateProcessing(
        single=single, special_tokens=[(s, tok.token_to_id(s)) for s in specials])


def case_gen_bpe_nfc_added(extra):
    tok, tr = byte_level_bpe(normalizers.NFC(), pre_tokenizers.ByteLevel(add_prefix_space=False))
    train(tok, tr, extra)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False),
                            AddedToken("<mask>", special=True, lstrip=True, normalized=False),
                            AddedToken("<rs>", special=True, rstrip=True, normalized=False)])
    tok.add_tokens([AddedToken("<both>", lstrip=True, rstrip=True, normalized=False),
                    AddedToken("hello", single_word=True, normalized=False),
                    AddedToken("<sw>", single_word=True, normalized=True),
                    AddedToken("cafe\u0301", normalized=True),
                    AddedToken("e\u0301!", normalized=False),
                    AddedToken("\u2126m", normalized=True),
                    AddedToken("\ufb01x", normalized=True),
                    AddedToken("\t\t", normalized=False)])
    return tok


def case_gen_bpe_nfkd_lower_template(extra):
    tok, tr = byte_level_bpe(normalizers.Sequence([normalizers.NFKD(), normalizers.Lowercase()]),
                             pre_tokenizers.ByteLevel(add_prefix_space=True), special=["<s>", "</s>"])
    train(tok, tr, extra)
    template(tok, "<s> $A </s>", ["<s>", "</s>"])
    tok.add_special_tokens([AddedToken("<MASK>", special=True, normalized=True)])
    tok.add_tokens([AddedToken("Stra\u00dfe", normalized=True), AddedToken("\u0130stanbul", normalized=True),
                    AddedToken("\u03a3\u0391\u03a3", normalized=True, single_word=True)])
    return tok


def case_gen_bpe_nfkc_strip_replace_prepend(extra):
    norm = normalizers.Sequence([normalizers.NFKC(), normalizers.Strip(left=True, right=True),
                                 normalizers.Replace("``", '"'), normalizers.Replace("''", '"'),
                                 normalizers.Prepend("\u2581")])
    tok, tr = byte_level_bpe(norm, pre_tokenizers.ByteLevel(add_prefix_space=False))
    train(tok, tr, extra)
    tok.add_special_tokens([AddedToken("[SEP]", special=True, rstrip=True, normalized=False),
                            AddedToken("[CLS]", special=True, lstrip=True, normalized=False)])
    tok.add_tokens([AddedToken("``quote''", normalized=True)])
    return tok


def case_gen_bpe_nfd_noregex(extra):
    tok, tr = byte_level_bpe(normalizers.NFD(), pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=False),
                             special=["<bos>"])
    train(tok, tr, extra)
    tok.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=False),
                                              processors.TemplateProcessing(single="<bos> $A",
                                                                            special_tokens=[("<bos>", tok.token_to_id("<bos>"))])])
    tok.add_tokens([AddedToken("\u00e9t\u00e9", normalized=True), AddedToken("\u00e9t\u00e9!", normalized=False)])
    return tok


def case_gen_bpe_seq_pretok(extra):
    pre = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=False)])
    tok, tr = byte_level_bpe(normalizers.Lowercase(), pre)
    train(tok, tr, extra)
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    return tok


def case_gen_bpe_chars_unk(extra):
    tok = Tokenizer(models.BPE(unk_token="[UNK]", fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tr = trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"], limit_alphabet=60, show_progress=False)
    return train(tok, tr, extra)


def case_gen_wordlevel_whitespace(extra):
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tr = trainers.WordLevelTrainer(vocab_size=400, special_tokens=["<unk>", "<eos>"], show_progress=False)
    return train(tok, tr, extra)


def case_gen_wordlevel_wss_nfc_lower(extra):
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tr = trainers.WordLevelTrainer(vocab_size=400, special_tokens=["<unk>", "<bos>", "<eos>"], show_progress=False)
    train(tok, tr, extra)
    template(tok, "<bos> $A <eos>", ["<bos>", "<eos>"])
    return tok


GENERATED = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_gen_")}
DATA_CASES = ["gpt2_pair", "gpt_neox_20b", "wordlevel_wikitext2"]


def load_data_case(name, data, out_dir):
    if name == "gpt2_pair":
        folder = os.path.join(data, "tokenizers", "gpt2")
        # BPE.from_file + the setup of transformers' GPT2TokenizerFast (see Tokenizer::from_vocab_merges)
        tok = Tokenizer(models.BPE.from_file(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt")))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
        return tok, {"kind": "folder", "path": folder}
    if name == "gpt_neox_20b":
        path = os.path.join(data, "tokenizers", "gpt-neox-20b", "tokenizer.json")
        return Tokenizer.from_file(path), {"kind": "json", "path": path}
    if name == "wordlevel_wikitext2":  # a word-level WikiText-2 vocabulary, as word-level LMs use
        tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        tr = trainers.WordLevelTrainer(vocab_size=50000, special_tokens=["<unk>", "<eos>"], show_progress=False)
        tok.train([os.path.join(data, "wikitext-2-raw", "wiki.train.raw")], trainer=tr)
        path = os.path.join(out_dir, name + ".tokenizer.json")
        tok.save(path)
        return tok, {"kind": "json", "path": path}
    raise SystemExit(f"unknown case {name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case")
    ap.add_argument("--out")
    ap.add_argument("--data", help="SSMLAB_DATA_DIR (needed by the real tokenizers)")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        print("\n".join(list(GENERATED) + DATA_CASES))
        return
    if not a.case or not a.out:
        ap.error("--case and --out are required")
    os.makedirs(a.out, exist_ok=True)
    seed_offset = zlib.crc32(a.case.encode()) % 100000  # every case its own text, the same on every run
    if a.case in GENERATED:
        train_extra = generated_texts([], seed_offset + 1000)[:200]
        tok = GENERATED[a.case](train_extra)
        path = os.path.join(a.out, a.case + ".tokenizer.json")
        tok.save(path)
        tok = Tokenizer.from_file(path)  # encode with exactly what the C++ side reads
        load = {"kind": "json", "path": path}
        real = []
    elif a.case in DATA_CASES:
        if not a.data:
            raise SystemExit(f"case {a.case} needs --data")
        tok, load = load_data_case(a.case, a.data, a.out)
        real = data_texts(a.data)
    else:
        raise SystemExit(f"unknown case {a.case} (--list)")
    contents = [t.content for t in tok.get_added_tokens_decoder().values()]
    texts = generated_texts(sorted(contents), seed_offset) + real
    encodings = []
    for t in texts:
        ids = tok.encode(t).ids
        encodings.append({"text": t, "ids": ids, "ids_plain": tok.encode(t, add_special_tokens=False).ids,
                          "decoded": tok.decode(ids, skip_special_tokens=False),
                          "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
    rng = random.Random(SEED + 7 + seed_offset)
    n = tok.get_vocab_size(with_added_tokens=True)
    added_ids = sorted(tok.get_added_tokens_decoder())
    decodes = []
    for _ in range(150):
        ids = []
        for _ in range(rng.randint(1, 16)):
            r = rng.random()
            ids.append(rng.choice(added_ids) if (r < 0.15 and added_ids) else
                       rng.randrange(n + 3) if r < 0.2 else rng.randrange(min(n, 260)) if r < 0.5 else rng.randrange(n))
        decodes.append({"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                        "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
    with open(os.path.join(a.out, a.case + ".json"), "w", encoding="utf-8") as f:
        json.dump({"case": a.case, "tokenizers_version": tokenizers.__version__, "load": load,
                   "encodings": encodings, "decodes": decodes}, f, ensure_ascii=True)


if __name__ == "__main__":
    sys.exit(main())
