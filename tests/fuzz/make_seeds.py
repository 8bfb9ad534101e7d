#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ from the committed fixtures
(tests/fixtures, */checks.json) and the shared cases beside the checkout (../shared/cases, small
text files only), plus hand-written inputs for paths the fixtures do not reach. Seeds are named by
the SHA-1 of their content, as libFuzzer names corpus files. Run from anywhere; then minimise with
scripts/fuzz.sh --merge. Safetensors seeds are re-encoded with tiny shapes so that each stays a few
KB (the fixtures' data buffers are 35-600 KB)."""
import collections
import glob
import hashlib
import io
import json
import os
import pickle
import struct
import sys
import types
import zipfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CASES = os.path.join(ROOT, "..", "shared", "cases")
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def files(*patterns):
    out = []
    for p in patterns:
        out += glob.glob(os.path.join(ROOT, p)) + glob.glob(os.path.join(CASES, p))
    return sorted(set(out))


def read(p):
    with open(p, "rb") as f:
        return f.read()


# --- safetensors --------------------------------------------------------------------------------
SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def encode(entries, metadata=None):
    h, off, data = {}, 0, b""
    if metadata:
        h["__metadata__"] = metadata
    for name, dtype, shape in entries:
        n = SIZES[dtype]
        for s in shape:
            n *= s
        h[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        data += bytes((off + i) % 251 for i in range(n))
        off += n
    hs = json.dumps(h, separators=(",", ":")).encode()
    hs += b" " * ((8 - (len(hs) + 8) % 8) % 8)
    return struct.pack("<Q", len(hs)) + hs + data


for p in files("tests/fixtures/hf/*/*.safetensors", "*/*.safetensors", "*/*/*.safetensors"):
    raw = read(p)
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", None)
    small = [(k, v["dtype"], [min(s, 2) for s in v["shape"]]) for k, v in list(header.items())[:12]]
    put("safetensors", encode(small, meta))
    put("safetensors", raw[:8 + n])  # the real header without its data: offsets out of range
put("safetensors", encode([("a", "F32", [2, 3]), ("b", "I8", [0]), ("c", "BF16", []), ("d", "BOOL", [1, 1, 1])],
                          {"format": "pt"}))
put("safetensors", encode([(t, t, [3]) for t in SIZES]))
put("safetensors", encode([]))

# --- config.json --------------------------------------------------------------------------------
for p in files("tests/fixtures/hf/*/config.json", "*/config.json", "*/*/config.json"):
    put("config", read(p))
put("config", json.dumps({"model_type": "ssmlab_transformer", "pos": "alibi", "vocab_size": 50, "d_model": 16,
                          "n_layer": 2, "n_head": 4, "d_ff": 32, "n_masked_heads": 1, "windows": [4, 8],
                          "parallel_residual": True, "hidden_act": "relu"}, indent=1))
put("config", json.dumps({"model_type": "ssmlab_lstm", "vocab_size": 50, "d_model": 16, "n_layer": 1}))
put("config", json.dumps({"d_model": 64, "n_layer": 2, "vocab_size": 397, "pad_vocab_size_multiple": 16,
                          "ssm_cfg": {"d_state": 8, "d_conv": 3, "expand": 3, "dt_rank": "auto", "layer": "Mamba1",
                                      "dt_min": 0.001, "conv_bias": False}, "rms_norm": True}))
put("config", json.dumps({"model_type": "gpt_neox", "vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "rope_parameters": {"rope_type": "default", "rope_theta": 500.0,
                                                                        "partial_rotary_factor": 0.5}}))

# --- tokenizer.json + NUL + text -----------------------------------------------------------------
TEXTS = ["Hello world! It's 2024: naïve café.", "  leading  and trailing  \n\t", "<|endoftext|>Ünïcödé ﬁ 日本語 😀",
         "ａｂｃ Å Å İ ß ﬃ \u0301e\u200d"]
seen = set()
for p in files("tests/fixtures/hf/tokenizer.json", "tests/fixtures/hf/*/tokenizer.json", "*/tokenizer.json"):
    t = read(p)
    if t in seen:
        continue
    seen.add(t)
    for i, text in enumerate(TEXTS):
        put("tokenizer", t + b"\0" + text.encode())
    put("tokenizer", t)
small_vocab = {c: i for i, c in enumerate(["[UNK]", "a", "b", "c", "ab", "abc", "h", "e", "l", "o", "he", "ll", "hell", "hello", "Ġ", "Ġa"])}
put("tokenizer", json.dumps({
    "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1, "world": 2, "!": 3, "[CLS]": 4, "[SEP]": 5},
              "unk_token": "[UNK]"},
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                                                       {"type": "Strip", "strip_left": True, "strip_right": True}]},
    "pre_tokenizer": {"type": "Whitespace"},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                  {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                       "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [4], "tokens": ["[CLS]"]},
                                          "[SEP]": {"id": "[SEP]", "ids": [5], "tokens": ["[SEP]"]}}},
    "added_tokens": [{"id": 4, "content": "[CLS]", "special": True}, {"id": 5, "content": "[SEP]", "special": True},
                     {"id": 6, "content": "<mask>", "special": True, "lstrip": True, "rstrip": True, "single_word": True}],
}).encode() + b"\0" + "  Hello, WORLD! <mask> ﬁ [SEP]x".encode())
put("tokenizer", json.dumps({
    "model": {"type": "BPE", "vocab": small_vocab, "merges": ["a b", ["ab", "c"], "h e", "l l", "he ll", "hell o"],
              "unk_token": "[UNK]", "fuse_unk": True, "ignore_merges": False, "dropout": None},
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "Replace", "pattern": {"String": " "},
                                                                          "content": "Ġ"}, {"type": "Prepend", "prepend": "Ġ"}]},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}]},
    "post_processor": {"type": "Sequence", "processors": [{"type": "ByteLevel"}]},
    "added_tokens": [{"id": 20, "content": "<pad>", "special": True, "normalized": False},
                     {"id": 21, "content": "xyz", "special": False, "normalized": True}],
}).encode() + b"\0" + b"hello abc xyz zzz")
put("tokenizer", json.dumps({
    "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
    "normalizer": {"type": "NFKD"}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "use_regex": False},
    "decoder": {"type": "ByteLevel"}, "truncation": None, "padding": None}).encode() + b"\0aaa")

# --- tokenizer_text: text alone (the fixture tokenizers are built into the target) -------------------
for text in TEXTS + ["we'll they're I'm", "123 4.5 ١٢٣ ⅷ", "\r\n\r\n  x", "<|endoftext|><mask> a <mask>b",
                     "HELLO, World! [CLS] ß"]:
    put("tokenizer_text", text)
put("tokenizer_text", b"\xff\xfe\xc3(\xed\xa0\x80")

# --- check_logs and check_rules ------------------------------------------------------------------
logs = files("tests/fixtures/common/*.jsonl", "*/*.jsonl", "docs/results/bench_generate_cpu.jsonl")
for p in logs:
    put("check_logs", read(p)[:8192])


def record(exp, fam, kind="result", run="r1", **metrics):
    return json.dumps({"schema": 1, "experiment": exp, "family": fam, "record": kind, "run_id": run,
                       "timestamp": "2026-01-01T00:00:00Z", "git": "abc", "seed": 0, "params": {"T": 8},
                       "metrics": metrics, "summary": "s", "status": "ok", "wall_s": 0.5})


for p in files("*/checks.json"):
    rules = json.loads(read(p))
    fam = rules.get("family", "f")
    lines = []
    for r in rules.get("rules", [])[:6]:
        m = {}
        for c in r.get("when", []) + [r["require"]]:
            for path in [c["path"], c.get("ref", "")]:
                if path.startswith("metrics.") and "." not in path[8:]:
                    v = c.get("value", 1)
                    m[path[8:]] = v[0] if isinstance(v, list) else v if isinstance(v, (int, float)) else 1
        lines.append(record(r["experiment"], fam, "step", "a", **m))
        lines.append(record(r["experiment"], fam, "result", "a", **m))
    log = "\n".join(lines) + "\n"
    put("check_logs", log[:8192])
    put("check_rules", read(p) + b"\0" + log[:4096].encode())
put("check_logs", record("e", "f", "step", "x", loss=float("nan")).replace("NaN", "NaN") + "\n" + "{\"torn\": ")
put("check_rules", json.dumps({"family": "f", "experiments": {"e": {"key_metric": "x"}}, "rules": [
    {"experiment": "e", "name": "n", "when": [{"path": "record", "op": "!=", "value": "step"},
                                             {"path": "metrics.y", "op": "exists"}],
     "require": {"path": "metrics.x", "op": "between", "value": [0, 1]}},
    {"experiment": "e", "require": {"path": "metrics.x", "op": ">=", "ref": "metrics.y"}}]}) + "\0" +
    record("e", "f", x=0.5, y=0.25) + "\n" + record("e", "f", x=2, y="s") + "\n")

# --- cli: config JSON + NUL + argv lines ---------------------------------------------------------
put("cli", "--T\n32\n--lr=0.01\n--dims\n1\n2\n8\n--mode\nexact\na.txt\nb.txt")
put("cli", "--help")
put("cli", "--models\nmamba\nlstm\n--dry-run\n--plot\n--seed\n18446744073709551615\n--threads\n2\n--log\nnone")
put("cli", json.dumps({"T": 8, "lr": 0.5, "dims": [1, 3], "dry_run": True, "ratios": [0.5, 2.5], "mode": "slow",
                       "_comment": "c", "seed": 3, "name": "x y"}) + "\0--T\n9\n--quiet")
put("cli", json.dumps({"sizes": [1, 2], "models": ["transformer"], "big": 12, "steps": 5, "plot": "p.png"}) + "\0")
put("cli", json.dumps({"T": -1}) + "\0--out\n")

# --- vocab_merges: vocab.json NUL merges.txt NUL text ----------------------------------------------
fx = json.loads(read(os.path.join(ROOT, "tests/fixtures/hf/tokenizer.json")))
vocab = json.dumps(fx["model"]["vocab"], ensure_ascii=False).encode()
merges = "\n".join(m if isinstance(m, str) else " ".join(m) for m in fx["model"]["merges"]).encode()
put("vocab_merges", vocab + b"\0#version: 0.2\r\n" + merges + b"\0" + TEXTS[0].encode())
put("vocab_merges", json.dumps({"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3}).encode() + b"\0a b\n\0ab ab<|endoftext|>")

# --- torch_pickle (data.pkl) and torch_bin (the zip), written as torch.save lays them out --------------

def fake_torch():
    torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
    def mk(name):
        c = type(name, (), {}); c.__module__ = "torch"; c.__qualname__ = name; setattr(torch, name, c); return c
    storages = {n: mk(n) for n in ["FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage",
                                   "IntStorage", "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage"]}
    def _rebuild_tensor_v2(*a): pass
    def _rebuild_parameter(*a): pass
    for f in (_rebuild_tensor_v2, _rebuild_parameter):
        f.__module__ = "torch._utils"; f.__qualname__ = f.__name__; setattr(utils, f.__name__, f)
    torch._utils = utils
    sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils
    return storages, utils

STORAGES, UTILS = fake_torch()
ESIZE = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8, "LongStorage": 8, "IntStorage": 4,
         "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1}

class Ref:
    def __init__(s, cls, key, loc, numel): s.cls, s.key, s.loc, s.numel = cls, key, loc, numel

class Tensor:
    def __init__(s, ref, off, size, stride, param=False): s.ref, s.off, s.size, s.stride, s.param = ref, off, size, stride, param
    def __reduce__(s):
        t = (UTILS._rebuild_tensor_v2, (s.ref, s.off, tuple(s.size), tuple(s.stride), False, collections.OrderedDict()))
        if s.param:
            class Inner:
                def __reduce__(_): return t
            return (UTILS._rebuild_parameter, (Inner(), True, collections.OrderedDict()))
        return t

class P(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Ref): return ("storage", STORAGES[obj.cls], obj.key, obj.loc, obj.numel)
        return None

def torch_bin(tensors, wrap=None, prefix="archive", protocol=2):
    """tensors: name -> (storage class, key, numel, offset, size, stride, location)"""
    sd = collections.OrderedDict()
    refs = {}
    for name, (cls, key, numel, off, size, stride, loc) in tensors.items():
        ref = refs.setdefault(key, Ref(cls, key, loc, numel))
        sd[name] = Tensor(ref, off, size, stride, param=name.endswith(".p"))
    obj = {wrap: sd} if wrap else sd
    buf = io.BytesIO(); P(buf, protocol=protocol).dump(obj)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr(prefix + "/data.pkl", buf.getvalue())
        z.writestr(prefix + "/byteorder", "little")
        for key, r in refs.items():
            z.writestr(prefix + "/data/" + key, bytes(i % 251 for i in range(r.numel * ESIZE[r.cls])))
        z.writestr(prefix + "/version", "3\n")
    return buf.getvalue(), out.getvalue()


CASES_BIN = [
    ({"w": ("FloatStorage", "0", 6, 0, [2, 3], [3, 1], "cpu"), "b.p": ("FloatStorage", "0", 6, 2, [2], [2], "cuda:0"),
      "e": ("HalfStorage", "1", 4, 0, [2, 2], [1, 2], "cpu")}, None, "archive", 2),
    ({"x": ("DoubleStorage", "0", 1, 0, [], [], "cpu"), "y": ("LongStorage", "1", 3, 0, [3], [1], "cpu"),
      "z": ("BoolStorage", "2", 2, 1, [1, 1], [1, 1], "cpu"), "q": ("BFloat16Storage", "3", 0, 0, [0, 4], [4, 1], "cpu")},
     "state_dict", "model", 2),
    ({"i": ("IntStorage", "7", 4, 0, [2, 2], [2, 1], "cpu"), "s": ("ShortStorage", "8", 2, 0, [2], [1], "cpu"),
      "c": ("CharStorage", "9", 2, 0, [2], [1], "cpu"), "u": ("ByteStorage", "10", 2, 0, [2], [1], "cpu")}, "model", "x", 4),
]
for tensors, wrap, prefix, proto in CASES_BIN:
    pk, zb = torch_bin(tensors, wrap, prefix, proto)
    put("torch_pickle", pk)
    put("torch_bin", zb)
for p in files("*/pytorch_model.bin", "*/*/pytorch_model.bin", "tests/fixtures/cases/*/pytorch_model.bin",
               "tests/fixtures/cases/*/*/pytorch_model.bin"):
    with zipfile.ZipFile(p) as z:
        for n in z.namelist():
            if n.endswith("data.pkl"):
                put("torch_pickle", z.read(n))
