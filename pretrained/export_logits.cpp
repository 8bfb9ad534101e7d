// export_logits: ssmlab's own fp32 logits of a Hugging Face folder for a few prompts, written as
// DIR/ssmlab_expected.json, the file scripts/check_hf_export.py compares against transformers
// (same folder, AutoModelForCausalLM, max |Δlogit| ≤ its --tol). This is how a model that ssmlab
// trained and saved (mamba_train --checkpoint-dir, hf::save_pretrained) is checked in transformers.
//
//   export_logits --model DIR [--prompt TEXT ...] [--output-file FILE]
//
// Output: {"prompts": [{"text", "ids": [T ints], "logits": [[V floats] x T]}]}, the prompt ids from
// the folder's tokenizer.json; one full forward per prompt, no cache, on the CPU in fp32.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "models/torch_util.h"
#include "ssmlab/atomic_file.h"
#include "ssmlab/cli.h"
#include "ssmlab/runtime.h"
#include "ssmlab/hf/pretrained.h"
#include "ssmlab/jsonl_log.h"
#include "ssmlab/main_guard.h"

namespace hf = ssmlab::hf;

static int ssmlab_main(int argc, char** argv) {
  std::string model_dir, out;
  std::vector<std::string> prompts = {"Once upon a time, there was a little girl named Lily.",
                                      "The tower is 324 metres tall, about the same height as an 81-storey building."};
  ssmlab::Cli cli("export_logits", "ssmlab's fp32 logits of a Hugging Face folder, for scripts/check_hf_export.py",
                  "pretrained", "pretrained.jsonl");
  cli.add("model", &model_dir, "Hugging Face folder with config.json, weights and tokenizer.json").nonempty();
  cli.add("prompt", &prompts, "prompt texts (each one forward)").nonempty();
  cli.add("output-file", &out, "output file (default <model>/ssmlab_expected.json)");
  auto opts = cli.parse_or_exit(argc, argv);
  ssmlab::init_runtime(opts);  // threads, heap reuse, --quiet (ssmlab/runtime.h)
  ssmlab::models::torch_set_threads(opts);
  if (out.empty()) out = model_dir + "/ssmlab_expected.json";
  ssmlab::check_output_file("output-file", out);

  hf::LoadOptions lo;
  lo.require_tokenizer = true;
  hf::Pretrained p = hf::load_pretrained(model_dir, lo);
  p.model->eval();
  nlohmann::json expected = {{"prompts", nlohmann::json::array()}};
  torch::NoGradGuard ng;
  for (const auto& text : prompts) {
    const std::vector<int64_t> ids = p.tokenizer->encode(text);
    if (ids.empty()) throw ssmlab::UsageError("--prompt '" + text + "' encodes to no tokens");
    auto logits = p.model->forward(torch::tensor(ids, torch::kInt64).unsqueeze(0))[0].to(torch::kFloat32).contiguous();  // (T, V)
    if (!torch::isfinite(logits).all().item<bool>()) throw std::runtime_error("non-finite logits for prompt '" + text + "'");
    std::vector<std::vector<float>> rows;
    for (int64_t t = 0; t < logits.size(0); ++t)
      rows.emplace_back(logits[t].data_ptr<float>(), logits[t].data_ptr<float>() + logits.size(1));
    expected["prompts"].push_back({{"text", text}, {"ids", ids}, {"logits", rows}});
  }
  ssmlab::write_file_atomic(out, expected.dump() + "\n");
  ssmlab::progress(opts, "wrote " + out + " (" + std::to_string(prompts.size()) + " prompts, vocab " +
                             std::to_string(p.model->vocab_size()) + ")");
  return 0;
}

int main(int argc, char** argv) { return ssmlab::run_main(argc, argv, ssmlab_main); }
