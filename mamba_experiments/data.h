// data.h — the data sets of mamba_experiments (no LibTorch): the generated recall task, word-level
// WikiText-2, BPE-tokenized TinyStories / plain text, and a generated story corpus for machines
// without the real files. Every loader takes paths; nothing touches the network.
//
// Legend: L window length (--seq-len), V vocabulary size, N windows.
//
// recall (docs/mamba_experiments.md): x_t ~ U{0..V-1} i.i.d.; target y_t = x_{t-gap} for
//   t >= gap; positions t < gap carry no loss (mask 0).
// word level (WikiText-2): a line is split on Unicode White_Space (as Hugging Face's
//   WhitespaceSplit does); every non-empty line ends with <eos>. Ids: 0 <unk>, 1 <eos>, then the
//   --max-vocab most frequent training words (ties broken by first appearance in train).
// BPE (TinyStories, text): documents are the pieces between "<|endoftext|>" lines; a file with no
//   such line is split into blank-line-separated paragraphs instead. Each document is encoded on
//   its own and followed by the EOS id.
// Windows: the token stream is cut into non-overlapping pieces of L + 1 tokens; inputs are the
//   first L, targets the last L (next-token prediction). The first N windows are kept.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace ssmlab::mamba_experiments {

// A problem with the data the user pointed at (missing files, empty corpus): a config error,
// exit 2 in mamba_train. The message names the paths looked for.
struct DataError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- recall ----------------------------------------------------------------------------------
struct RecallSet {
  int64_t n = 0, L = 0;
  std::vector<int32_t> inputs, targets;  // (N, L) row-major
  std::vector<uint8_t> mask;             // (N, L): 1 where t >= gap
};
// N sequences of length L over V symbols; deterministic in `seed`. Throws std::invalid_argument
// unless 1 <= gap < L and V >= 2.
RecallSet make_recall(int64_t n, int64_t L, int64_t gap, int64_t V, uint64_t seed);

// ---- word level --------------------------------------------------------------------------------
// Splits on Unicode White_Space code points (UTF-8); invalid bytes stay inside words.
std::vector<std::string> split_words(const std::string& line);

struct WordVocab {
  static constexpr int32_t kUnk = 0, kEos = 1;
  std::vector<std::string> words;  // id -> word; words[0] = "<unk>", words[1] = "<eos>"
  std::unordered_map<std::string, int32_t> index;
  int64_t size() const { return static_cast<int64_t>(words.size()); }
  int32_t id(const std::string& w) const;
};
// The max_vocab most frequent words of `text` plus <unk>, <eos>. Throws std::invalid_argument
// for max_vocab < 1.
WordVocab build_word_vocab(const std::string& text, int64_t max_vocab);
// Token ids of `text`, line by line (<eos> after every non-empty line); *n_unk counts <unk>s.
std::vector<int32_t> encode_words(const std::string& text, const WordVocab& vocab, int64_t* n_unk = nullptr);
// The vocabulary as a Hugging Face tokenizers file: WordLevel model, WhitespaceSplit
// pre-tokenizer, <unk>/<eos> as special added tokens, no decoder (tokens joined by spaces).
std::string wordlevel_tokenizer_json(const WordVocab& vocab);

// ---- corpora -----------------------------------------------------------------------------------
struct Corpus {
  std::string name;                  // wikitext2 | tinystories | text
  std::string source;                // "real" or "generated"
  std::vector<std::string> files;    // files read (train, valid[, test])
  int64_t vocab_size = 0;            // model vocabulary (largest id + 1)
  int64_t eos_id = -1;
  std::vector<int32_t> train, valid;
  int64_t n_docs_train = 0, n_docs_valid = 0;
  int64_t n_unk_train = 0, n_unk_valid = 0;  // word level only
  WordVocab words;                   // word level only (empty otherwise)
  std::string tokenizer_json;        // tokenizer.json text to save beside the model
  bool word_level() const { return !words.words.empty(); }
};

// The WikiText-2 raw files under data_dir (data_dir/wikitext-2-raw/wiki.{train,valid}.raw, or
// data_dir/wiki.{train,valid}.raw). Throws DataError naming every path looked for.
Corpus load_wikitext2(const std::string& data_dir, int64_t max_vocab);
// The generated story corpus (generated_text.cpp), word level, as a stand-in for WikiText-2.
Corpus generated_word_corpus(int64_t max_vocab);

// Documents of a plain-text file as described above. .jsonl / .json.gz: one JSON object per line, its
// "text" (hf/documents.h; a broken line is a DataError here). load_bpe_corpus drops the held-out
// tail of every JSON-lines *training* file (hf::training_documents: the last min(200, n/5)
// documents, which pretrained_eval's c4_copy samples from); validation files are read whole.
std::vector<std::string> split_documents(const std::string& text, int64_t* n_separators = nullptr);
std::vector<std::string> read_documents(const std::string& path);
bool is_jsonl_corpus(const std::string& path);  // .jsonl or .json.gz

struct BpeSpec {
  std::vector<std::string> train_files, valid_files;
  std::string tokenizer;   // tokenizer.json, or a folder with tokenizer.json or vocab.json + merges.txt
  std::string cache_dir;   // token cache folder ("" = no cache)
};
// Tokenizes (or reads the cache: one file per (files, sizes, mtimes, tokenizer bytes), written
// atomically). Throws DataError for a missing file or tokenizer.
Corpus load_bpe_corpus(const std::string& name, const BpeSpec& spec, bool* cache_hit = nullptr);
// The tokenizer.json text for a tokenizer path (GPT-2 vocab.json + merges.txt converted to the
// Hugging Face layout: BPE, ByteLevel pre-tokenizer and decoder, <|endoftext|> special).
std::string tokenizer_json_for(const std::string& tokenizer_path);

// TinyStories paths: explicit flags win; else data_dir/tinystories/TinyStories-{train,valid}.txt,
// falling back to the -head files. Throws DataError naming the paths looked for.
void resolve_tinystories(const std::string& data_dir, std::string* train_file, std::string* valid_file);

// ---- generated text ----------------------------------------------------------------------------
// `n_stories` short stories from a fixed template grammar, one story per line, deterministic.
std::string generated_stories(int64_t n_stories, uint64_t seed);

// ---- windows -----------------------------------------------------------------------------------
// Number of complete (L + 1)-token windows in a stream of `n_tokens`, capped at max_n (0 = no cap).
int64_t n_windows(int64_t n_tokens, int64_t L, int64_t max_n);

}  // namespace ssmlab::mamba_experiments
