#!/usr/bin/env python3
"""Checks folders written by ssmlab's save_pretrained against Hugging Face transformers.

    python3 scripts/check_hf_export.py DIR [DIR...] --out result.json [--tol 1e-4]

Each DIR holds config.json, model.safetensors (or shards), tokenizer.json and
ssmlab_expected.json = {"prompts": [{"ids": [int, ...], "logits": [[float x V] x T],
"text": optional str}]}, ssmlab's own fp32 logits. For each DIR the script

  * loads the model with transformers.AutoModelForCausalLM.from_pretrained(DIR, dtype=float32)
    on the CPU; missing, unexpected or shape-mismatched weights are a failure (transformers would
    otherwise leave them randomly initialised and still run);
  * runs every prompt (no cache) and takes max |logit_transformers - logit_ssmlab| over all of
    them; above --tol is a failure, as is a different (T, V);
  * loads tokenizer.json with `tokenizers` and with transformers.AutoTokenizer (falling back to
    PreTrainedTokenizerFast(tokenizer_file=...)) and encodes a sample text; a tokenizer.json that
    `tokenizers` cannot load is a failure, as are differing ids between the two, or ids that
    differ from a prompt's "ids" where the prompt gives its "text".

Folders whose config.json "model_type" starts with "ssmlab_" have no transformers class: they are
recorded with status "skipped: no transformers class" and pass null, and do not fail the run.

result.json:
  {"versions": {"python", "torch", "transformers", "tokenizers"}, "tolerance": float,
   "all_pass": bool,
   "folders": {DIR: {"status": "pass" | "fail" | "skipped: no transformers class",
                     "pass": bool | null, "error": str | null,
                     "model_class": str | null, "config_model_type": str | null,
                     "max_abs_diff": float | null, "prompts": [{"T", "V", "max_abs_diff",
                     "argmax_agree"}], "loading_info": {...}, "tokenizer": {...}}}}
Exit status: 0 when every folder passed or was skipped, 1 otherwise, 2 for bad arguments.

--from-references FIXTURES MODEL DEST (a test helper): copies the parity fixture folder
FIXTURES/<dir of MODEL> to DEST and writes DEST/ssmlab_expected.json from FIXTURES/references.json,
so that the checker can be tried on a folder known to match transformers.
"""
import argparse
import json
import os
import platform
import shutil
import sys
import traceback

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU, fp32: no TF32, no GPU kernels

SAMPLE_TEXT = "Hello world! State space models scan in linear time; attention is quadratic. 123 naïve 🙂"
SKIP_STATUS = "skipped: no transformers class"


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check_tokenizer(d, prompts):
    """Returns (info dict, error or None)."""
    info = {"sample_text": SAMPLE_TEXT}
    path = os.path.join(d, "tokenizer.json")
    if not os.path.isfile(path):
        return info, "no tokenizer.json"
    try:
        from tokenizers import Tokenizer
        tok = Tokenizer.from_file(path)
        ids = tok.encode(SAMPLE_TEXT).ids
        info["tokenizers_vocab_size"] = tok.get_vocab_size(with_added_tokens=True)
        info["tokenizers_ids"] = ids
    except Exception as e:  # noqa: BLE001
        return info, f"tokenizers cannot load tokenizer.json: {type(e).__name__}: {e}"
    if not ids:
        return info, "tokenizer.json encodes the sample text to no ids"
    for i, p in enumerate(prompts):
        if "text" in p and tok.encode(p["text"]).ids != list(p["ids"]):
            return info, f"prompt {i}: tokenizer.json encodes its text to other ids than the given ones"
    # transformers' own loader
    hf = None
    try:
        from transformers import AutoTokenizer
        hf = AutoTokenizer.from_pretrained(d)
        info["auto_tokenizer_class"] = type(hf).__name__
    except Exception as e:  # noqa: BLE001
        info["auto_tokenizer_error"] = f"{type(e).__name__}: {e}"
        try:
            from transformers import PreTrainedTokenizerFast
            hf = PreTrainedTokenizerFast(tokenizer_file=path)
            info["auto_tokenizer_class"] = "PreTrainedTokenizerFast(tokenizer_file) fallback"
        except Exception as e2:  # noqa: BLE001
            return info, f"transformers cannot load tokenizer.json: {type(e2).__name__}: {e2}"
    try:
        hf_ids = hf(SAMPLE_TEXT, add_special_tokens=False)["input_ids"]
        info["transformers_ids_equal"] = list(hf_ids) == ids
        if not info["transformers_ids_equal"]:
            info["transformers_ids"] = list(hf_ids)
            return info, "transformers' tokenizer and tokenizer.json give different ids for the sample text"
    except Exception as e:  # noqa: BLE001
        return info, f"transformers' tokenizer failed to encode: {type(e).__name__}: {e}"
    return info, None


def finite_or_str(x):
    """JSON has no inf/nan: such a float is written as a string."""
    return x if x is None or x == x and abs(x) != float("inf") else str(x)


def check_dir(d, tol):
    r = {"status": "fail", "pass": False, "error": None, "model_class": None,
         "config_model_type": None, "max_abs_diff": None}
    try:
        cfg = load_json(os.path.join(d, "config.json"))
        mt = cfg.get("model_type")
        r["config_model_type"] = mt
        r["config_architectures"] = cfg.get("architectures")
        if isinstance(mt, str) and mt.startswith("ssmlab_"):
            r.update(status=SKIP_STATUS, **{"pass": None})
            return r
        import torch
        expected = load_json(os.path.join(d, "ssmlab_expected.json"))
        prompts = expected["prompts"]
        if not prompts:
            raise ValueError("ssmlab_expected.json has no prompts")

        from transformers import AutoModelForCausalLM
        model, loading = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32,
                                                              output_loading_info=True)
        model = model.to("cpu").eval()
        r["model_class"] = type(model).__name__
        r["loading_info"] = {k: sorted(map(str, v)) for k, v in loading.items() if v is not None}
        bad = {k: v for k, v in r["loading_info"].items()
               if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
        problems = []
        if bad:
            problems.append("weights not loaded cleanly: " + "; ".join(f"{k}: {v}" for k, v in bad.items()))

        worst, per = 0.0, []
        with torch.no_grad():
            for i, p in enumerate(prompts):
                ids = [int(x) for x in p["ids"]]
                want = torch.tensor(p["logits"], dtype=torch.float32)
                got = model(torch.tensor([ids], dtype=torch.long)).logits[0].float()
                if tuple(got.shape) != tuple(want.shape):
                    problems.append(f"prompt {i}: logits shape {list(got.shape)} (transformers) vs "
                                    f"{list(want.shape)} (ssmlab)")
                    per.append({"T": len(ids), "shape_transformers": list(got.shape),
                                "shape_ssmlab": list(want.shape)})
                    continue
                diff = float((got - want).abs().max())
                if diff != diff:  # NaN
                    diff = float("inf")
                worst = max(worst, diff)
                per.append({"T": int(got.shape[0]), "V": int(got.shape[1]), "max_abs_diff": finite_or_str(diff),
                            "argmax_agree": bool(torch.equal(got.argmax(-1), want.argmax(-1)))})
        r["prompts"] = per
        r["max_abs_diff"] = finite_or_str(worst)
        if worst > tol:
            problems.append(f"max |dlogit| {worst:.3g} > tolerance {tol:g}")

        tok_info, tok_err = check_tokenizer(d, prompts)
        r["tokenizer"] = tok_info
        if tok_err:
            problems.append(tok_err)

        if problems:
            r["error"] = " | ".join(problems)
        else:
            r.update(status="pass", **{"pass": True})
    except Exception as e:  # noqa: BLE001
        r["error"] = f"{type(e).__name__}: {e}"
        r["traceback"] = traceback.format_exc(limit=6)
    return r


def make_test_export(fixtures, model, dest):
    """Copies a parity fixture folder and writes ssmlab_expected.json from references.json."""
    refs = load_json(os.path.join(fixtures, "references.json"))
    entry = refs["models"][model]
    src = os.path.join(fixtures, entry["dir"])
    if os.path.exists(dest):
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    prompts = [{"text": p["text"], "ids": p["ids"], "logits": p["logits"]} for p in entry["prompts"]]
    with open(os.path.join(dest, "ssmlab_expected.json"), "w", encoding="utf-8") as f:
        json.dump({"prompts": prompts}, f)
    print(f"wrote {dest} from {src} ({len(prompts)} prompts)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="*", metavar="DIR", help="folders written by ssmlab's save_pretrained")
    ap.add_argument("--out", help="result JSON file")
    ap.add_argument("--tol", type=float, default=1e-4, help="max |dlogit| allowed (default 1e-4)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--from-references", nargs=3, metavar=("FIXTURES", "MODEL", "DEST"),
                    help="test helper: make DEST, an export-like copy of a parity fixture, and exit")
    args = ap.parse_args(argv)
    if args.from_references:
        make_test_export(*args.from_references)
        return 0
    if not args.dirs or not args.out:
        ap.error("give at least one DIR and --out")

    import torch
    torch.set_num_threads(max(1, args.threads))
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import transformers
        versions["transformers"] = transformers.__version__
    except Exception as e:  # noqa: BLE001
        versions["transformers"] = f"unavailable: {e}"
    try:
        import tokenizers
        versions["tokenizers"] = tokenizers.__version__
    except Exception as e:  # noqa: BLE001
        versions["tokenizers"] = f"unavailable: {e}"

    folders = {}
    for d in args.dirs:
        r = check_dir(d, args.tol)
        folders[d] = r
        diff = r["max_abs_diff"]
        diff = "-" if diff is None else (f"{diff:.3g}" if isinstance(diff, float) else diff)
        print(f"{d}: {r['status']} model_class={r['model_class']} model_type={r['config_model_type']} "
              f"max|d|={diff}" + (f" error: {r['error']}" if r["error"] else ""), flush=True)
    all_pass = all(r["pass"] is not False for r in folders.values())
    out = {"versions": versions, "tolerance": args.tol, "all_pass": all_pass, "folders": folders}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2, ensure_ascii=False)
    print(f"{'all pass' if all_pass else 'FAILURES'}; wrote {args.out}")
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
