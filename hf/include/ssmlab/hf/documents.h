// documents.h — text corpora in the JSON-lines layout of Hugging Face dataset dumps (C4's
// `c4-train.00000-of-01024.json.gz`, ssmlab's `c4-en-sample.jsonl`): one JSON object per line, the
// document in a string field ("text"). Torch-free.
//
// Files: `.jsonl`, `.json` and `.json.gz` (gzip, read through zlib's gzread, which also reads an
// uncompressed file as it is). A `.json` file whose first non-blank character is '[' is read as
// one JSON array of such objects. Blank lines are ignored. A line that is not a JSON object with a
// string field is NOT fatal: it is skipped and counted (`bad_lines`, first one described), because
// downloaded shards are sometimes cut short; the caller decides whether to warn or fail.
//
// Held-out rule (shared by evaluation and training, docs/pretrained.md): the LAST
// held_out_count(n) = min(200, n / 5) documents of each file are evaluation-only. The C4 sample
// here (1,000 documents) has 800 training and 200 evaluation documents. Evaluation code
// (pretrained_eval's c4_copy) samples only from evaluation_documents(); training code that reads
// the same file must use training_documents().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ssmlab::hf {

struct JsonlDocuments {
  std::string path;
  std::vector<std::string> texts;  // in file order
  int64_t bad_lines = 0;           // skipped lines (invalid JSON, not an object, no string field)
  std::string first_bad;           // "line 7: ..." for the first skipped line ("" if none)
};

// Reads `path` as described above. Throws hf::Error naming the path for a missing or unreadable
// file, a gzip error, or a file larger than the checked-read limit (safe_io.h kMaxAnyFileBytes).
JsonlDocuments read_jsonl_documents(const std::string& path, const std::string& field = "text");

inline constexpr int64_t kHeldOutDocuments = 200;
// Documents at the end of a file of n documents that are evaluation-only: min(200, n / 5).
int64_t held_out_count(int64_t n_docs);
// The first n - held_out_count(n) documents / the last held_out_count(n) documents.
std::vector<std::string> training_documents(const std::vector<std::string>& docs);
std::vector<std::string> evaluation_documents(const std::vector<std::string>& docs);

}  // namespace ssmlab::hf
