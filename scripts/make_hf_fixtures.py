#!/usr/bin/env python3
"""Builds the Hugging Face parity fixtures in tests/fixtures/hf/ (issue 6).

Run once on a machine with torch, transformers (5.x), tokenizers and safetensors:

    PYTHONUNBUFFERED=1 python3 scripts/make_hf_fixtures.py OUT_DIR

It writes, under OUT_DIR:
  tokenizer.json        byte-level BPE trained here with `tokenizers` on inline text
  gpt_neox/             tiny random GPTNeoXForCausalLM (save_pretrained, safetensors)
  gpt2/                 tiny random GPT2LMHeadModel, saved in shards (model.safetensors.index.json)
  mamba/                tiny random MambaForCausalLM (transformers layout, safetensors)
  mamba_orig/           the same Mamba weights in the original state-spaces layout:
                        config.json with d_model/n_layer/pad_vocab_size_multiple and a
                        torch.save'd pytorch_model.bin with backbone.embedding.* keys
  gpt_neox_seq/         GPTNeoX, sequential residual (use_parallel_residual=False), head_size 16
                        with rotary_pct 0.3125 (16 x 0.3125 = 5, an ODD rotary width),
                        layer_norm_eps 1e-3, untied head; its references carry a "rotary" object
                        saying what transformers computes (inv_freq, rotated dims), also for a
                        fractional width (rotary_pct 0.3: 16 x 0.3 = 4.8)
  gpt_neox_frac/        the fractional case above as its own small fixture (if transformers runs it)
  gpt2_inner/           GPT2 with n_inner = 3 x n_embd, gelu_new, one model.safetensors
  mamba_small/          Mamba with state_size 7, expand 3, conv_kernel 3, conv bias
  mamba2/               tiny Mamba2ForCausalLM (n_groups 2, head_dim 16, chunk_size 8), CPU torch path
  mamba_untied/         Mamba with tie_word_embeddings False and its own lm_head.weight
  references.json       fp32 CPU logits and greedy continuations for a few prompts per model,
                        and tokenizer ids for a broad test text

The first four folders (and their references) come out byte-identical to the first version of
this script; the later ones are smaller (width 32) to keep tests/fixtures/hf under 5 MB.

Every model folder also gets a copy of tokenizer.json. Everything runs on the CPU in fp32 so the
numbers do not depend on TF32 or GPU kernels. Each model is wrapped in try/except: a failure is
printed and the others still get written. Each new model's state_dict keys and shapes are printed.
"""
import json
import os
import shutil
import sys
import traceback

os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CPU only: exact fp32 references

import torch  # noqa: E402

kModelVocab = 400        # model vocabulary (>= tokenizer vocabulary, multiple of 8)
kTrainerVocab = 380      # BPE trainer target (bytes + merges + trainer specials)
kNewTokens = 20          # greedy continuation length
kWeightStd = 0.15        # std of the random matrices (large enough for clear argmax margins)
kSeed = 1234

CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog didn't care; it'll sleep.",
    "State space models such as Mamba scan a sequence in linear time, while attention is quadratic.",
    "We're testing ssmlab: tokenizers, safetensors and config.json files, all read from C++.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 123 2026 3.14159 1e-5 -7 +8 100000 0x1F.",
    "Whitespace   runs\tand\ttabs\n\nnew lines   and trailing spaces   ",
    "Unicode: naïve café résumé, Ωμέγα, Привет мир, 日本語のテキスト, 한국어, العربية, emoji 🙂🚀.",
    "Pythia and GPT-2 use byte-level BPE; the tokenizer maps every byte to a printable character.",
    "I'm sure you've seen it: they'd said we'll go, and she's gone. It's done.",
    "def f(x):\n    return x * 2  # code with    indentation\n",
    "<|endoftext|> marks the end of a document.",
]

TOKENIZER_TEXTS = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "I'm sure you've seen it: they'd said we'll go, and she's gone. IT'S DONE, we'RE.",
    "Numbers 0 12 345 6789 3.14159 -42 1,000,000 2026-11-23 ٣٤٥ Ⅻ ½",
    "Whitespace   runs\t\ttabs\n\n\nnew lines    \n  indented\r\n   trailing   ",
    "Unicode: naïve café résumé Ωμέγα Привет мир 日本語のテキスト 한국어 العربية 🙂🚀 👩‍💻 e\u0301",
    "Special tokens: <|endoftext|>middle<|padding|> and <mask> plus  <mask>x <|sep|>.",
    "Punctuation!!! ??? ... --- ((brackets)) [x] {y} 'quoted' \"double\" `tick` #hash @at $5 %",
    "def f(x):\n    return x * 2  # code\n\tif a==b: pass",
    "  leading spaces and a lone ' apostrophe 's 't 're 've 'm 'll 'd",
    "",
    " ",
    "\u00a0non-breaking\u00a0space and\u2003em space\u3000ideographic",
]

PROMPTS = [
    "The state space model",
    "Hello world, this is ssmlab.",
    "1 2 3 4 5",
]


def log(*a):
    print(*a, flush=True)


def train_tokenizer(out_dir):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=kTrainerVocab, min_frequency=1, show_progress=False,
        special_tokens=["<|endoftext|>", "<|padding|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 3, trainer=trainer)
    tok.add_special_tokens([AddedToken("<|sep|>", special=True),
                            AddedToken("<mask>", lstrip=True, special=True)])
    path = os.path.join(out_dir, "tokenizer.json")
    tok.save(path)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    log(f"tokenizer: vocab {vocab}")
    assert vocab <= kModelVocab, vocab
    cases = []
    for text in TOKENIZER_TEXTS:
        enc = tok.encode(text)
        cases.append({"text": text, "ids": enc.ids, "tokens": enc.tokens,
                      "decoded": tok.decode(enc.ids, skip_special_tokens=False),
                      "decoded_skip_special": tok.decode(enc.ids, skip_special_tokens=True)})
    return tok, {"vocab_size": vocab, "cases": cases}


def randomize(model):
    """Random weights with clear logit margins; keeps A_log and dt_proj.bias (Mamba) at init."""
    g = torch.Generator().manual_seed(kSeed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("A_log") or name.endswith("dt_proj.bias") or name.endswith("dt_bias"):
                p.add_(0.05 * torch.randn(p.shape, generator=g))
            elif p.dim() >= 2:
                p.copy_(kWeightStd * torch.randn(p.shape, generator=g))
            elif name.endswith(".D") or (name.endswith("weight") and ("norm" in name or "ln_" in name)):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))


def rounded(t):
    return [[float(f"{v:.8g}") for v in row] for row in t.tolist()]


def references(model, tok):
    out = []
    with torch.no_grad():
        for text in PROMPTS:
            ids = tok.encode(text).ids
            x = torch.tensor([ids], dtype=torch.long)
            logits = model(x).logits[0].float()                        # (T, V)
            greedy, margins = [], []
            cur = list(ids)
            for _ in range(kNewTokens):                               # no cache: the plain definition
                last = model(torch.tensor([cur])).logits[0, -1].float()
                top2 = torch.topk(last, 2).values
                margins.append(float(top2[0] - top2[1]))
                nxt = int(torch.argmax(last))
                greedy.append(nxt)
                cur.append(nxt)
            entry = {"text": text, "ids": ids, "logits": rounded(logits), "greedy": greedy,
                     "min_margin": min(margins)}
            try:  # transformers' own cached generate, recorded for information
                gen = model.generate(x, max_new_tokens=kNewTokens, do_sample=False,
                                     min_new_tokens=kNewTokens, pad_token_id=0)
                entry["hf_generate"] = gen[0, len(ids):].tolist()
                if entry["hf_generate"] != greedy:
                    log(f"  note: hf generate differs from uncached greedy for {text!r}")
            except Exception as e:  # noqa: BLE001
                log(f"  generate() failed: {e}")
            out.append(entry)
            log(f"  {text!r}: T={len(ids)} greedy={greedy[:8]}... min margin {min(margins):.4f}")
    return out


def save_common(model, tok_path, d, **kw):
    os.makedirs(d, exist_ok=True)
    try:
        model.save_pretrained(d, **kw)
    except Exception as e:  # noqa: BLE001
        log(f"  save_pretrained({kw}) failed ({e}); saving unsharded")
        shutil.rmtree(d)
        os.makedirs(d)
        model.save_pretrained(d)
    shutil.copy(tok_path, os.path.join(d, "tokenizer.json"))
    log(f"  files: {sorted(os.listdir(d))}")
    with open(os.path.join(d, "config.json")) as f:
        log("  config.json: " + f.read().replace("\n", " "))


def make_gpt_neox(tok, tok_path, out):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM
    cfg = GPTNeoXConfig(vocab_size=kModelVocab, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=256, hidden_act="gelu",
                        rotary_pct=0.5, rotary_emb_base=10000, max_position_embeddings=128,
                        layer_norm_eps=1e-5, use_parallel_residual=True, tie_word_embeddings=False,
                        bos_token_id=0, eos_token_id=0)
    try:
        cfg._attn_implementation = "eager"
    except Exception:  # noqa: BLE001
        pass
    torch.manual_seed(kSeed)
    model = GPTNeoXForCausalLM(cfg).eval()
    randomize(model)
    save_common(model, tok_path, os.path.join(out, "gpt_neox"))
    return {"dir": "gpt_neox", "prompts": references(model, tok)}


def make_gpt2(tok, tok_path, out):
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(vocab_size=kModelVocab, n_positions=128, n_embd=64, n_layer=2, n_head=4,
                     activation_function="gelu_new", layer_norm_epsilon=1e-5,
                     bos_token_id=0, eos_token_id=0)
    try:
        cfg._attn_implementation = "eager"
    except Exception:  # noqa: BLE001
        pass
    torch.manual_seed(kSeed)
    model = GPT2LMHeadModel(cfg).eval()
    randomize(model)
    save_common(model, tok_path, os.path.join(out, "gpt2"), max_shard_size="200KB")
    return {"dir": "gpt2", "prompts": references(model, tok)}


def make_mamba(tok, tok_path, out):
    from transformers import MambaConfig, MambaForCausalLM
    cfg = MambaConfig(vocab_size=kModelVocab, hidden_size=64, state_size=16, num_hidden_layers=2,
                      conv_kernel=4, expand=2, time_step_rank="auto", use_bias=False,
                      use_conv_bias=True, layer_norm_epsilon=1e-5, residual_in_fp32=True,
                      tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    torch.manual_seed(kSeed)
    model = MambaForCausalLM(cfg).eval()
    randomize(model)
    if model.lm_head.weight.data_ptr() != model.backbone.embeddings.weight.data_ptr():
        log("  warning: lm_head not tied after init; tying by copy")
        with torch.no_grad():
            model.lm_head.weight.copy_(model.backbone.embeddings.weight)
    save_common(model, tok_path, os.path.join(out, "mamba"))
    refs = {"dir": "mamba", "prompts": references(model, tok)}

    # Original state-spaces layout: config.json (d_model, n_layer, padded vocab) + pytorch_model.bin
    d = os.path.join(out, "mamba_orig")
    os.makedirs(d, exist_ok=True)
    sd = {}
    for k, v in model.state_dict().items():
        k2 = k.replace("backbone.embeddings.", "backbone.embedding.")
        sd[k2] = v.detach().clone().contiguous()
    sd["lm_head.weight"] = sd["backbone.embedding.weight"]  # tied, shares storage like mamba_ssm
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    orig_cfg = {"d_model": 64, "n_layer": 2, "vocab_size": kModelVocab - 3, "ssm_cfg": {},
                "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
                "pad_vocab_size_multiple": 8}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(orig_cfg, f, indent=2)
    shutil.copy(tok_path, os.path.join(d, "tokenizer.json"))
    log(f"  mamba_orig keys: {sorted(sd.keys())}")
    return refs


def describe_state_dict(model, d):
    """Logs the state_dict (keys, shapes) and the keys actually stored in d's safetensors file(s)."""
    for k, v in model.state_dict().items():
        log(f"    {k}: {list(v.shape)}")
    try:
        from safetensors import safe_open
        stored = []
        for fn in sorted(os.listdir(d)):
            if fn.endswith(".safetensors"):
                with safe_open(os.path.join(d, fn), "pt") as f:
                    stored += [(k, list(f.get_slice(k).get_shape())) for k in f.keys()]
        log(f"  stored in safetensors ({len(stored)}): {sorted(stored)}")
        return sorted(k for k, _ in stored)
    except Exception as e:  # noqa: BLE001
        log(f"  could not list safetensors keys: {e}")
        return None


def saved_config(d):
    with open(os.path.join(d, "config.json")) as f:
        return json.load(f)


def neox_config(rotary_pct, layers, hidden=32, heads=2):
    from transformers import GPTNeoXConfig
    cfg = GPTNeoXConfig(vocab_size=kModelVocab, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=2 * hidden, hidden_act="gelu",
                        rotary_pct=rotary_pct, rotary_emb_base=10000, max_position_embeddings=64,
                        layer_norm_eps=1e-3, use_parallel_residual=False, tie_word_embeddings=False,
                        bos_token_id=0, eos_token_id=0)
    try:
        cfg._attn_implementation = "eager"
    except Exception:  # noqa: BLE001
        pass
    return cfg


def inspect_neox_rotary(model, head_size, rotary_pct):
    """What transformers' GPT-NeoX actually does with head_size x rotary_pct rotary dims."""
    import inspect
    import transformers.models.gpt_neox.modeling_gpt_neox as m
    info = {"head_size": head_size, "rotary_pct": rotary_pct,
            "head_size_times_rotary_pct": head_size * rotary_pct,
            "int_head_size_times_rotary_pct": int(head_size * rotary_pct)}
    rp = getattr(model.config, "rope_parameters", None)
    if rp is not None:
        info["config_rope_parameters"] = dict(rp)
        info["partial_rotary_factor"] = rp.get("partial_rotary_factor")
    invs = {n: b for n, b in model.named_buffers() if n.split(".")[-1] == "inv_freq"}
    info["inv_freq_buffers"] = sorted(invs)
    inv = next(iter(invs.values())) if invs else None
    if inv is not None:
        info["inv_freq_len"] = int(inv.numel())
        info["inv_freq"] = [float(f"{v:.8g}") for v in inv.flatten().tolist()]
    attn = [mod for n, mod in model.named_modules() if n.endswith("attention")]
    if attn and hasattr(attn[0], "rotary_ndims"):
        info["attention_rotary_ndims_attribute"] = attn[0].rotary_ndims
    # spy on apply_rotary_pos_emb: the cos/sin width it gets, and which dims it changes
    seen = {}
    if not hasattr(m, "apply_rotary_pos_emb"):
        log("  modeling_gpt_neox has no apply_rotary_pos_emb; rotary spy skipped")
        return info
    orig = m.apply_rotary_pos_emb

    def spy(q, k, cos, sin, *a, **kw):
        if "cos_shape" not in seen:
            seen["cos_shape"] = list(cos.shape)
            seen["q_shape"] = list(q.shape)
            out_q, _ = orig(q, k, cos, sin, *a, **kw)
            if out_q.shape == q.shape:
                T = q.shape[-2]
                diff = (out_q[..., T - 1, :] - q[..., T - 1, :]).abs().amax(dim=tuple(range(q.dim() - 2)))
                seen["changed_dims_last_position"] = [i for i, v in enumerate(diff.tolist()) if v > 1e-7]
            else:
                seen["output_shape"] = list(out_q.shape)
        return orig(q, k, cos, sin, *a, **kw)

    m.apply_rotary_pos_emb = spy
    try:
        with torch.no_grad():
            model(torch.tensor([list(range(1, 41))]))  # 40 positions: the slowest frequency moves too
    finally:
        m.apply_rotary_pos_emb = orig
    if "cos_shape" in seen:
        info["cos_shape"] = seen["cos_shape"]
        info["cos_last_dim"] = seen["cos_shape"][-1]
        info["query_shape_into_apply_rotary"] = seen["q_shape"]
        info["rotated_dims"] = seen["cos_shape"][-1]
        if "changed_dims_last_position" in seen:
            info["dims_changed_by_rope_at_position_39"] = seen["changed_dims_last_position"]
    try:
        src = inspect.getsource(orig)
        log("  apply_rotary_pos_emb source:\n" + src)
        info["apply_rotary_pos_emb_slices_by_cos_width"] = "cos.shape[-1]" in src
    except Exception:  # noqa: BLE001
        pass
    log(f"  rotary: {json.dumps(info)}")
    return info


def make_neox_rotary_fixture(tok, tok_path, out, name, pct, layers):
    """GPTNeoX (sequential residual) with head_size 16 and rotary_pct pct; refs carry "rotary"."""
    from transformers import GPTNeoXForCausalLM
    cfg = neox_config(pct, layers=layers)
    torch.manual_seed(kSeed)
    model = GPTNeoXForCausalLM(cfg).eval()
    randomize(model)
    rotary = inspect_neox_rotary(model, 16, pct)
    d = os.path.join(out, name)
    save_common(model, tok_path, d)
    describe_state_dict(model, d)
    rotary["saved_rope_parameters"] = saved_config(d).get("rope_parameters")
    return {"dir": name, "prompts": references(model, tok), "rotary": rotary}


def make_gpt_neox_seq(tok, tok_path, out):
    return make_neox_rotary_fixture(tok, tok_path, out, "gpt_neox_seq", 0.3125, 2)  # 16 x 0.3125 = 5


def make_gpt_neox_frac(tok, tok_path, out):
    return make_neox_rotary_fixture(tok, tok_path, out, "gpt_neox_frac", 0.3, 1)    # 16 x 0.3 = 4.8


def make_gpt2_inner(tok, tok_path, out):
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(vocab_size=kModelVocab, n_positions=64, n_embd=32, n_layer=2, n_head=2,
                     n_inner=96, activation_function="gelu_new", layer_norm_epsilon=1e-5,
                     bos_token_id=0, eos_token_id=0)
    try:
        cfg._attn_implementation = "eager"
    except Exception:  # noqa: BLE001
        pass
    torch.manual_seed(kSeed)
    model = GPT2LMHeadModel(cfg).eval()
    randomize(model)
    d = os.path.join(out, "gpt2_inner")
    save_common(model, tok_path, d)
    describe_state_dict(model, d)
    return {"dir": "gpt2_inner", "prompts": references(model, tok)}


def make_mamba_variant(tok, tok_path, out, name, **kw):
    from transformers import MambaConfig, MambaForCausalLM
    args = dict(vocab_size=kModelVocab, hidden_size=32, state_size=16, num_hidden_layers=2,
                conv_kernel=4, expand=2, time_step_rank="auto", use_bias=False,
                use_conv_bias=True, layer_norm_epsilon=1e-5, residual_in_fp32=True,
                tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    args.update(kw)
    cfg = MambaConfig(**args)
    torch.manual_seed(kSeed)
    model = MambaForCausalLM(cfg).eval()
    randomize(model)
    tied = model.lm_head.weight.data_ptr() == model.backbone.embeddings.weight.data_ptr()
    log(f"  lm_head shares the embedding: {tied}")
    if args["tie_word_embeddings"] and not tied:
        with torch.no_grad():
            model.lm_head.weight.copy_(model.backbone.embeddings.weight)
    if not args["tie_word_embeddings"]:
        assert not tied, "untied Mamba still shares lm_head"
        assert not torch.equal(model.lm_head.weight, model.backbone.embeddings.weight)
    d = os.path.join(out, name)
    save_common(model, tok_path, d)
    stored = describe_state_dict(model, d)
    entry = {"dir": name, "prompts": references(model, tok),
             "tie_word_embeddings": saved_config(d).get("tie_word_embeddings")}
    if stored is not None:
        entry["lm_head_weight_stored"] = "lm_head.weight" in stored
    return entry


def make_mamba_small(tok, tok_path, out):
    return make_mamba_variant(tok, tok_path, out, "mamba_small", state_size=7, expand=3,
                              conv_kernel=3, use_conv_bias=True)


def make_mamba_untied(tok, tok_path, out):
    return make_mamba_variant(tok, tok_path, out, "mamba_untied", tie_word_embeddings=False)


def make_mamba2(tok, tok_path, out):
    import inspect
    from transformers import Mamba2Config, Mamba2ForCausalLM
    import transformers.models.mamba2.modeling_mamba2 as mm
    log(f"  Mamba2Config signature: {inspect.signature(Mamba2Config.__init__)}")
    log(f"  fast path (cuda kernels) available: {getattr(mm, 'is_fast_path_available', '?')}")
    hidden, expand, head_dim = 32, 2, 16
    cfg = Mamba2Config(vocab_size=kModelVocab, hidden_size=hidden, num_hidden_layers=2,
                       expand=expand, head_dim=head_dim, num_heads=expand * hidden // head_dim,
                       n_groups=2, state_size=16, chunk_size=8, conv_kernel=4,
                       use_bias=False, use_conv_bias=True, layer_norm_epsilon=1e-5,
                       residual_in_fp32=True, rms_norm=True,
                       bos_token_id=0, eos_token_id=0, pad_token_id=0)  # tie: transformers' default
    torch.manual_seed(kSeed)
    model = Mamba2ForCausalLM(cfg).eval()
    randomize(model)
    tied = model.lm_head.weight.data_ptr() == model.backbone.embeddings.weight.data_ptr()
    log(f"  config.tie_word_embeddings={getattr(cfg, 'tie_word_embeddings', None)}, lm_head shares the embedding: {tied}")
    d = os.path.join(out, "mamba2")
    save_common(model, tok_path, d)
    stored = describe_state_dict(model, d)
    try:
        log("  MambaRMSNormGated source:\n" + inspect.getsource(mm.MambaRMSNormGated))
    except Exception:  # noqa: BLE001
        pass
    # the chunked scan (no cache) against a token-by-token cached pass
    prompts = references(model, tok)
    try:
        with torch.no_grad():
            ids = torch.tensor([prompts[1]["ids"]])
            full = model(ids).logits[0]
            out1 = model(ids[:, :1], use_cache=True)
            rows = [out1.logits[0, -1]]
            cache = out1.cache_params if hasattr(out1, "cache_params") else out1.past_key_values
            for t in range(1, ids.shape[1]):
                o = model(ids[:, t:t + 1], cache_params=cache, use_cache=True,
                          cache_position=torch.tensor([t]))
                cache = o.cache_params if hasattr(o, "cache_params") else o.past_key_values
                rows.append(o.logits[0, -1])
            log(f"  mamba2 chunked vs recurrent max |dlogit| = {(torch.stack(rows) - full).abs().max().item():.3g}")
    except Exception as e:  # noqa: BLE001
        log(f"  mamba2 recurrent check failed: {type(e).__name__}: {e}")
    return {"dir": "mamba2", "prompts": prompts,
            "tie_word_embeddings": saved_config(d).get("tie_word_embeddings"),
            "lm_head_weight_stored": None if stored is None else "lm_head.weight" in stored}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "hf_fixtures"
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(kSeed)
    torch.set_num_threads(1)
    import tokenizers
    import transformers
    refs = {"format": "ssmlab-hf-fixtures", "version": 1,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "tokenizers": tokenizers.__version__},
            "new_tokens": kNewTokens, "models": {}}
    tok, tok_refs = train_tokenizer(out)
    refs["tokenizer"] = tok_refs
    tok_path = os.path.join(out, "tokenizer.json")
    failures = 0
    for name, fn in [("gpt_neox", make_gpt_neox), ("gpt2", make_gpt2), ("mamba", make_mamba)]:
        log(f"== {name}")
        try:
            refs["models"][name] = fn(tok, tok_path, out)
        except Exception:  # noqa: BLE001
            failures += 1
            traceback.print_exc()
            sys.stdout.flush()
    if "mamba" in refs["models"]:
        refs["models"]["mamba_orig"] = dict(refs["models"]["mamba"], dir="mamba_orig")
    # later fixtures (smaller); the ones above stay byte-identical
    errors = {}
    for name, fn in [("gpt_neox_seq", make_gpt_neox_seq), ("gpt_neox_frac", make_gpt_neox_frac),
                     ("gpt2_inner", make_gpt2_inner), ("mamba_small", make_mamba_small),
                     ("mamba2", make_mamba2), ("mamba_untied", make_mamba_untied)]:
        log(f"== {name}")
        try:
            refs["models"][name] = fn(tok, tok_path, out)
        except Exception as e:  # noqa: BLE001
            errors[name] = f"{type(e).__name__}: {e}"
            if name != "gpt_neox_frac":   # a rejected fractional width is a finding, not a failure
                failures += 1
            traceback.print_exc()
            sys.stdout.flush()
    # what transformers does with the fractional width, next to the odd one
    if "gpt_neox_seq" in refs["models"]:
        frac = {"head_size": 16, "rotary_pct": 0.3, "head_size_times_rotary_pct": 16 * 0.3}
        if "gpt_neox_frac" in refs["models"]:
            frac = dict(refs["models"]["gpt_neox_frac"]["rotary"], accepted=True, fixture="gpt_neox_frac")
        else:
            frac.update(accepted=False, error=errors.get("gpt_neox_frac"))
        refs["models"]["gpt_neox_seq"]["rotary"]["fractional"] = frac
    with open(os.path.join(out, "references.json"), "w", encoding="utf-8") as f:
        json.dump(refs, f, ensure_ascii=False, separators=(",", ":"))
    total = 0
    for root, _, files in os.walk(out):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    log(f"total fixture size {total / 1e6:.2f} MB, failures {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
