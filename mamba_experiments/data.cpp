// data.cpp — loaders of data.h.
#include "mamba_experiments/data.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ssmlab/atomic_file.h"
#include "ssmlab/hf/documents.h"
#include "ssmlab/hf/tokenizer.h"
#include "ssmlab/safe_io.h"

namespace ssmlab::mamba_experiments {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
// splitmix64: the same stream on every platform (std:: distributions are not specified bit for bit).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }
};

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::string read_text(const std::string& path, const std::string& what) {
  try {
    return read_regular_file(path, kMaxAnyFileBytes, what);
  } catch (const std::exception& e) {
    throw DataError(e.what());
  }
}

// Unicode White_Space (the property Rust's char::is_whitespace, and so WhitespaceSplit, uses).
bool is_white_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
// Decodes one UTF-8 code point at s[i]; *len = its byte length (1 for an invalid byte, code 0xFFFD).
uint32_t decode_utf8(const std::string& s, size_t i, size_t* len) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  if (c < 0x80) return *len = 1, c;
  if ((c & 0xE0) == 0xC0 && cont(i + 1)) return *len = 2, ((c & 0x1Fu) << 6) | (b(i + 1) & 0x3Fu);
  if ((c & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2))
    return *len = 3, ((c & 0x0Fu) << 12) | ((b(i + 1) & 0x3Fu) << 6) | (b(i + 2) & 0x3Fu);
  if ((c & 0xF8) == 0xF0 && cont(i + 1) && cont(i + 2) && cont(i + 3))
    return *len = 4, ((c & 0x07u) << 18) | ((b(i + 1) & 0x3Fu) << 12) | ((b(i + 2) & 0x3Fu) << 6) | (b(i + 3) & 0x3Fu);
  return *len = 1, 0xFFFD;
}

template <class F>
void for_each_line(const std::string& text, F f) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    f(text.substr(pos, end - pos));
    pos = end + 1;
  }
}

bool blank(const std::string& line) {
  for (char c : line)
    if (!std::isspace(static_cast<unsigned char>(c))) return false;
  return true;
}
}  // namespace

// ---- recall ----------------------------------------------------------------------------------
RecallSet make_recall(int64_t n, int64_t L, int64_t gap, int64_t V, uint64_t seed) {
  if (gap < 1 || gap >= L)
    throw std::invalid_argument("recall: --gap must be in [1, --seq-len) (got gap " + std::to_string(gap) +
                                ", seq-len " + std::to_string(L) + ")");
  if (V < 2) throw std::invalid_argument("recall: vocabulary must have >= 2 symbols");
  RecallSet r;
  r.n = n;
  r.L = L;
  r.inputs.resize(n * L);
  r.targets.assign(n * L, 0);
  r.mask.assign(n * L, 0);
  Rng rng(seed * 0x2545F4914F6CDD1DULL + 0x5EC0);
  for (int64_t i = 0; i < n; ++i) {
    int32_t* x = &r.inputs[i * L];
    for (int64_t t = 0; t < L; ++t) x[t] = static_cast<int32_t>(rng.below(V));
    for (int64_t t = gap; t < L; ++t) {
      r.targets[i * L + t] = x[t - gap];
      r.mask[i * L + t] = 1;
    }
  }
  return r;
}

// ---- word level --------------------------------------------------------------------------------
std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> out;
  size_t i = 0, start = std::string::npos;
  while (i < line.size()) {
    size_t len = 1;
    const uint32_t c = decode_utf8(line, i, &len);
    if (is_white_space(c)) {
      if (start != std::string::npos) out.push_back(line.substr(start, i - start)), start = std::string::npos;
    } else if (start == std::string::npos) {
      start = i;
    }
    i += len;
  }
  if (start != std::string::npos) out.push_back(line.substr(start));
  return out;
}

int32_t WordVocab::id(const std::string& w) const {
  auto it = index.find(w);
  return it == index.end() ? kUnk : it->second;
}

WordVocab build_word_vocab(const std::string& text, int64_t max_vocab) {
  if (max_vocab < 1) throw std::invalid_argument("--max-vocab must be >= 1 (got " + std::to_string(max_vocab) + ")");
  std::unordered_map<std::string, std::pair<int64_t, int64_t>> counts;  // word -> (count, first position)
  int64_t pos = 0;
  for_each_line(text, [&](const std::string& line) {
    for (auto& w : split_words(line)) {
      auto it = counts.try_emplace(w, 0, pos).first;
      ++it->second.first;
      ++pos;
    }
  });
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> order(counts.begin(), counts.end());
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second.first != b.second.first ? a.second.first > b.second.first : a.second.second < b.second.second;
  });
  WordVocab v;
  v.words = {"<unk>", "<eos>"};
  for (const auto& [w, c] : order) {
    if (static_cast<int64_t>(v.words.size()) - 2 >= max_vocab) break;
    if (w == "<unk>" || w == "<eos>") continue;  // already ids 0 / 1
    v.words.push_back(w);
  }
  for (size_t i = 0; i < v.words.size(); ++i) v.index[v.words[i]] = static_cast<int32_t>(i);
  return v;
}

std::vector<int32_t> encode_words(const std::string& text, const WordVocab& vocab, int64_t* n_unk) {
  std::vector<int32_t> ids;
  int64_t unk = 0;
  for_each_line(text, [&](const std::string& line) {
    auto words = split_words(line);
    if (words.empty()) return;
    for (auto& w : words) {
      const int32_t id = vocab.id(w);
      unk += id == WordVocab::kUnk;
      ids.push_back(id);
    }
    ids.push_back(WordVocab::kEos);
  });
  if (n_unk) *n_unk = unk;
  return ids;
}

std::string wordlevel_tokenizer_json(const WordVocab& vocab) {
  json added = json::array();
  for (int32_t id : {WordVocab::kUnk, WordVocab::kEos})
    added.push_back({{"id", id}, {"content", vocab.words[id]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  json v = json::object();
  for (size_t i = 0; i < vocab.words.size(); ++i) v[vocab.words[i]] = i;
  json tok{{"version", "1.0"},
           {"truncation", nullptr},
           {"padding", nullptr},
           {"added_tokens", added},
           {"normalizer", nullptr},
           {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
           {"post_processor", nullptr},
           {"decoder", nullptr},
           {"model", {{"type", "WordLevel"}, {"vocab", v}, {"unk_token", "<unk>"}}}};
  return tok.dump(1);
}

// ---- corpora -----------------------------------------------------------------------------------
namespace {
Corpus word_corpus(const std::string& name, const std::string& train_text, const std::string& valid_text,
                   int64_t max_vocab) {
  Corpus c;
  c.name = name;
  c.words = build_word_vocab(train_text, max_vocab);
  c.vocab_size = c.words.size();
  c.eos_id = WordVocab::kEos;
  c.train = encode_words(train_text, c.words, &c.n_unk_train);
  c.valid = encode_words(valid_text, c.words, &c.n_unk_valid);
  c.tokenizer_json = wordlevel_tokenizer_json(c.words);
  return c;
}
}  // namespace

Corpus load_wikitext2(const std::string& data_dir, int64_t max_vocab) {
  if (data_dir.empty())
    throw DataError("wikitext2: no data folder (--data-dir not given and SSMLAB_DATA_DIR not set); it must hold "
                    "wikitext-2-raw/wiki.train.raw and wiki.valid.raw (or pass --allow-generated-text)");
  std::vector<std::string> looked;
  for (const fs::path& dir : {fs::path(data_dir) / "wikitext-2-raw", fs::path(data_dir)}) {
    const fs::path tr = dir / "wiki.train.raw", va = dir / "wiki.valid.raw";
    if (fs::is_regular_file(tr) && fs::is_regular_file(va)) {
      Corpus c = word_corpus("wikitext2", read_text(tr.string(), "WikiText-2 train"), read_text(va.string(), "WikiText-2 valid"),
                             max_vocab);
      c.source = "real";
      c.files = {tr.string(), va.string()};
      if (c.train.empty()) throw DataError("wikitext2: " + tr.string() + " holds no words");
      return c;
    }
    looked.push_back(tr.string());
    looked.push_back(va.string());
  }
  std::string list;
  for (auto& p : looked) list += (list.empty() ? "" : ", ") + p;
  throw DataError("wikitext2: WikiText-2 raw files not found; looked for " + list +
                  " (set --data-dir or SSMLAB_DATA_DIR, or pass --allow-generated-text)");
}

Corpus generated_word_corpus(int64_t max_vocab) {
  Corpus c = word_corpus("wikitext2", generated_stories(4000, 1), generated_stories(500, 2), max_vocab);
  c.source = "generated";
  c.files = {"(generated: 4000 train stories, 500 valid stories)"};
  return c;
}

std::vector<std::string> split_documents(const std::string& text, int64_t* n_separators) {
  std::vector<std::string> docs;
  int64_t seps = 0;
  for_each_line(text, [&](const std::string& line) {
    std::string t = line;
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.erase(0, 1);
    seps += t == "<|endoftext|>";
  });
  std::string cur;
  auto flush = [&] {
    if (!blank(cur)) {
      while (!cur.empty() && cur.back() == '\n') cur.pop_back();
      docs.push_back(cur);
    }
    cur.clear();
  };
  for_each_line(text, [&](const std::string& line) {
    std::string t = line;
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
    const bool sep = seps > 0 ? t.find_first_not_of(" \t") != std::string::npos &&
                                    t.substr(t.find_first_not_of(" \t")) == "<|endoftext|>"
                              : blank(line);
    if (sep) {
      flush();
    } else {
      cur += line;
      cur += '\n';
    }
  });
  flush();
  if (n_separators) *n_separators = seps;
  return docs;
}

bool is_jsonl_corpus(const std::string& path) {
  auto ends_with = [&](const std::string& suffix) {
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".jsonl") || ends_with(".json.gz");
}

std::vector<std::string> read_documents(const std::string& path) {
  if (!fs::is_regular_file(path)) throw DataError("text file not found: " + path);
  if (!is_jsonl_corpus(path)) return split_documents(read_text(path, "text corpus"));
  hf::JsonlDocuments d;
  try {
    d = hf::read_jsonl_documents(path);
  } catch (const std::exception& e) {
    throw DataError(e.what());
  }
  // Training data must be whole: a broken line is an error here (pretrained_eval skips and counts).
  if (d.bad_lines > 0) throw DataError(path + ": " + d.first_bad);
  return d.texts;
}

std::string tokenizer_json_for(const std::string& tokenizer_path) {
  const fs::path p(tokenizer_path);
  if (fs::is_regular_file(p)) return read_text(p.string(), "tokenizer.json");
  if (fs::is_regular_file(p / "tokenizer.json")) return read_text((p / "tokenizer.json").string(), "tokenizer.json");
  const fs::path vp = p / "vocab.json", mp = p / "merges.txt";
  if (!fs::is_regular_file(vp) || !fs::is_regular_file(mp))
    throw DataError("tokenizer not found: looked for " + p.string() + " (a tokenizer.json file), " +
                    (p / "tokenizer.json").string() + ", and " + vp.string() + " + " + mp.string());
  json vocab = parse_json_limited(read_text(vp.string(), "GPT-2 vocab.json"), vp.string());
  json merges = json::array();
  for_each_line(read_text(mp.string(), "GPT-2 merges.txt"), [&](const std::string& l) {
    std::string line = l;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) return;
    merges.push_back(line);
  });
  json added = json::array();
  if (vocab.contains("<|endoftext|>"))
    added.push_back({{"id", vocab["<|endoftext|>"]}, {"content", "<|endoftext|>"}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", false}, {"special", true}});
  const json bl{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  json tok{{"version", "1.0"},
           {"truncation", nullptr},
           {"padding", nullptr},
           {"added_tokens", added},
           {"normalizer", nullptr},
           {"pre_tokenizer", bl},
           {"post_processor", bl},
           {"decoder", bl},
           {"model",
            {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
             {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab}, {"merges", merges}}}};
  return tok.dump();
}

namespace {
int64_t find_eos(const hf::Tokenizer& tk, const std::string& where) {
  for (const char* s : {"<|endoftext|>", "</s>", "<eos>", "<|end_of_text|>"})
    if (auto id = tk.token_to_id(s)) return *id;
  throw DataError(where + ": the tokenizer has no end-of-text token (<|endoftext|>, </s>, <eos>)");
}

std::vector<int32_t> encode_docs(const hf::Tokenizer& tk, const std::vector<std::string>& docs, int64_t eos) {
  std::vector<int32_t> ids;
  for (const auto& d : docs) {
    for (int64_t id : tk.encode(d, /*add_special_tokens=*/false)) ids.push_back(static_cast<int32_t>(id));
    ids.push_back(static_cast<int32_t>(eos));
  }
  return ids;
}

std::string file_key(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return path + ":missing";
  return path + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtime);
}

constexpr char kCacheMagic[8] = {'S', 'S', 'M', 'X', 'T', 'O', 'K', '1'};
}  // namespace

Corpus load_bpe_corpus(const std::string& name, const BpeSpec& spec, bool* cache_hit) {
  if (cache_hit) *cache_hit = false;
  for (const auto* list : {&spec.train_files, &spec.valid_files}) {
    if (list->empty()) throw DataError(name + ": no " + std::string(list == &spec.train_files ? "training" : "validation") + " files given");
    for (const auto& f : *list)
      if (!fs::is_regular_file(f)) throw DataError(name + ": file not found: " + f);
  }
  Corpus c;
  c.name = name;
  c.source = "real";
  c.files = spec.train_files;
  c.files.insert(c.files.end(), spec.valid_files.begin(), spec.valid_files.end());
  c.tokenizer_json = tokenizer_json_for(spec.tokenizer);
  hf::Tokenizer tk;
  try {
    tk = hf::Tokenizer::from_json(c.tokenizer_json);
  } catch (const std::exception& e) {
    throw DataError(name + ": tokenizer " + spec.tokenizer + ": " + e.what());
  }
  c.vocab_size = tk.vocab_size();
  c.eos_id = find_eos(tk, name + ": tokenizer " + spec.tokenizer);

  // cache key: tokenizer bytes + every file's path, size and mtime + the document rules' version
  uint64_t h = fnv1a(c.tokenizer_json);
  h = fnv1a("docs-v2|" + name, h);  // v2: the held-out rule on JSON-lines training files
  for (auto& f : spec.train_files) h = fnv1a("T" + file_key(f), h);
  for (auto& f : spec.valid_files) h = fnv1a("V" + file_key(f), h);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  const std::string cache = spec.cache_dir.empty() ? "" : (fs::path(spec.cache_dir) / (name + "_" + hex + ".tokens")).string();
  if (!cache.empty() && fs::is_regular_file(cache)) {
    try {
      const std::string bytes = read_regular_file(cache, kMaxAnyFileBytes, "token cache");
      int64_t hdr[5];
      if (bytes.size() >= 8 + sizeof hdr && std::memcmp(bytes.data(), kCacheMagic, 8) == 0) {
        std::memcpy(hdr, bytes.data() + 8, sizeof hdr);
        const size_t need = 8 + sizeof hdr + 4 * static_cast<size_t>(hdr[0] + hdr[1]);
        if (hdr[0] >= 0 && hdr[1] >= 0 && bytes.size() == need) {
          c.train.resize(hdr[0]);
          c.valid.resize(hdr[1]);
          std::memcpy(c.train.data(), bytes.data() + 8 + sizeof hdr, 4 * hdr[0]);
          std::memcpy(c.valid.data(), bytes.data() + 8 + sizeof hdr + 4 * hdr[0], 4 * hdr[1]);
          c.n_docs_train = hdr[2];
          c.n_docs_valid = hdr[3];
          if (cache_hit) *cache_hit = true;
          return c;
        }
      }
    } catch (const std::exception&) {
      // unreadable cache: tokenize again and overwrite it
    }
  }
  for (auto& f : spec.train_files) {
    auto docs = read_documents(f);
    // JSON-lines corpora (C4): their last documents are evaluation-only (hf/documents.h, the rule
    // pretrained_eval samples its c4_copy texts by), so training never sees them.
    if (is_jsonl_corpus(f)) docs = hf::training_documents(docs);
    c.n_docs_train += static_cast<int64_t>(docs.size());
    auto ids = encode_docs(tk, docs, c.eos_id);
    c.train.insert(c.train.end(), ids.begin(), ids.end());
  }
  for (auto& f : spec.valid_files) {
    auto docs = read_documents(f);
    c.n_docs_valid += static_cast<int64_t>(docs.size());
    auto ids = encode_docs(tk, docs, c.eos_id);
    c.valid.insert(c.valid.end(), ids.begin(), ids.end());
  }
  if (!cache.empty()) {
    fs::create_directories(spec.cache_dir);
    const int64_t hdr[5] = {static_cast<int64_t>(c.train.size()), static_cast<int64_t>(c.valid.size()), c.n_docs_train,
                            c.n_docs_valid, c.vocab_size};
    write_file_atomic(cache, [&](std::ostream& os) {
      os.write(kCacheMagic, 8);
      os.write(reinterpret_cast<const char*>(hdr), sizeof hdr);
      os.write(reinterpret_cast<const char*>(c.train.data()), 4 * static_cast<std::streamsize>(c.train.size()));
      os.write(reinterpret_cast<const char*>(c.valid.data()), 4 * static_cast<std::streamsize>(c.valid.size()));
    });
  }
  return c;
}

void resolve_tinystories(const std::string& data_dir, std::string* train_file, std::string* valid_file) {
  const fs::path dir = fs::path(data_dir) / "tinystories";
  auto pick = [&](std::string* out, const char* official, const char* head) {
    if (!out->empty()) {
      if (!fs::is_regular_file(*out)) throw DataError("tinystories: file not found: " + *out);
      return;
    }
    if (data_dir.empty())
      throw DataError(std::string("tinystories: no data folder (--data-dir not given and SSMLAB_DATA_DIR not set) and no ") +
                      "--train-file/--valid-file (or pass --allow-generated-text)");
    for (const char* n : {official, head})
      if (fs::is_regular_file(dir / n)) {
        *out = (dir / n).string();
        return;
      }
    throw DataError("tinystories: looked for " + (dir / official).string() + " and " + (dir / head).string() +
                    "; neither exists (pass --train-file/--valid-file, or --allow-generated-text)");
  };
  pick(train_file, "TinyStories-train.txt", "TinyStories-train-head.txt");
  pick(valid_file, "TinyStories-valid.txt", "TinyStories-valid-head.txt");
}

int64_t n_windows(int64_t n_tokens, int64_t L, int64_t max_n) {
  const int64_t n = n_tokens > L ? (n_tokens - 1) / L : 0;
  return max_n > 0 ? std::min(n, max_n) : n;
}

}  // namespace ssmlab::mamba_experiments
