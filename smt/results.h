// results.h — the run folders of smt_train, read back without LibTorch (smt_plot_results, smt_compare).
//
// A run folder <results>/<dataset>_<arch>/<YYYYMMDD_HHMMSS>/ holds (docs/smt.md, "Output folder"):
//   config.yaml            the resolved configuration (every flag's value)
//   results.json           experiment, timestamp, status, training time, model configuration and
//                          parameter counts per part, dataset sizes and sequence length, best/final
//                          validation loss and perplexity
//   metrics_history.json   one object per evaluation: step, tokens, train_loss, val_loss, val_ppl, lr,
//                          tokens_per_s, elapsed_s
//   best_model.ckpt        the model (and optimizer) at the lowest validation loss
//   checkpoint_last.ckpt, checkpoint_step<N>.ckpt   resumable checkpoints (models/trainer.h format)
// Every file is written atomically (ssmlab/atomic_file.h).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ssmlab::smt {

// The files every finished run folder holds besides the numbered checkpoints.
const std::vector<std::string>& run_files();
// Every folder under `root` (itself included) that holds a results.json, sorted by path.
std::vector<std::string> find_runs(const std::string& root);
// results.json / metrics_history.json of a run folder. Throw std::runtime_error naming the file.
nlohmann::json read_results(const std::string& run_dir);
nlohmann::json read_history(const std::string& run_dir);

}  // namespace ssmlab::smt
