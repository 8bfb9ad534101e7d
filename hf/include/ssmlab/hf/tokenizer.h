// tokenizer.h: Hugging Face tokenizers in C++: tokenizer.json (BPE or WordLevel model) and GPT-2's
// vocab.json + merges.txt pair. Ids and decoded text equal those of Hugging Face `tokenizers`
// (tests/hf/test_hf_tokenizer.cpp compares them on generated text covering every Unicode general
// category, and on the real GPT-2 and GPT-NeoX-20B tokenizers).
//
// Encoding follows `tokenizers`' pipeline:
//   1. split the text on added tokens whose "normalized" is false (leftmost-longest match;
//      single_word / lstrip / rstrip honoured as `tokenizers` does),
//   2. normalizer on each remaining piece: NFC, NFD, NFKC, NFKD (ICU, restricted to the code points
//      of Unicode 9.0, the version of the tables `tokenizers` normalizes with), Lowercase, Strip,
//      Replace (string pattern), Prepend, or a Sequence of these,
//   3. split the normalized pieces on added tokens whose "normalized" is true (matched in their
//      normalized form),
//   4. pre-tokenizer: ByteLevel (optional prefix space, the GPT-2 split pattern
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      matched by hand with ICU's Unicode properties, then every byte mapped to its printable
//      stand-in, GPT-2's bytes_to_unicode), Whitespace (\w+|[^\w\s]+), WhitespaceSplit, none, or a
//      Sequence of these,
//   5. model: BPE (merge the adjacent pair of lowest rank, leftmost on ties; unk_token, fuse_unk,
//      ignore_merges) or WordLevel (unk_token),
//   6. post-processor: ByteLevel (adds nothing), TemplateProcessing ("single" template), or a
//      Sequence of these.
// Decoding: ByteLevel decoder (stand-ins back to bytes, invalid UTF-8 replaced by U+FFFD like Rust's
// String::from_utf8_lossy), or no decoder (tokens joined with single spaces, as `tokenizers` does).
// Any other component (BertNormalizer, Metaspace, Unigram, WordPiece decoder, regex Replace, ...)
// is rejected with an hf::Error that names it; nothing is skipped silently.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ssmlab/hf/safetensors.h"  // hf::Error

namespace ssmlab::hf {

struct AddedToken {
  int64_t id = 0;  // the id `tokenizers` gives it (the vocab's id for its content, else the next free one)
  std::string content;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = false;
};

class Tokenizer {
 public:
  // `path`: a tokenizer.json file, or a folder holding tokenizer.json or (GPT-2's original files)
  // vocab.json + merges.txt. Throws hf::Error naming the file and the problem.
  static Tokenizer from_file(const std::string& path);
  static Tokenizer from_json(const std::string& json_text);
  // GPT-2's vocab.json + merges.txt, read as `tokenizers` reads them (BPE.from_file) and set up as
  // transformers' GPT2TokenizerFast: ByteLevel pre-tokenizer without prefix space, ByteLevel
  // decoder, and <|endoftext|> as a special added token when the vocab has it.
  static Tokenizer from_vocab_merges(const std::string& vocab_json_path, const std::string& merges_txt_path);

  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = true) const;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;
  // decode()'s bytes before invalid UTF-8 is replaced by U+FFFD, so a streaming caller can append
  // them token by token and print only complete characters (pretrained/generate.cpp): decode(ids)
  // is the lossy UTF-8 reading of decode_bytes(ids). Without a decoder (joins_with_spaces()),
  // decode() puts one space between the tokens decode_bytes({id}) returns.
  std::string decode_bytes(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;
  bool joins_with_spaces() const { return !byte_level_decoder_; }

  int64_t vocab_size() const;  // largest id + 1 (model vocabulary and added tokens)
  std::optional<int64_t> token_to_id(const std::string& token) const;
  std::string id_to_token(int64_t id) const;
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  // Pre-tokenization pieces of `text` (for tests): the GPT-2 pattern's matches, as raw bytes.
  static std::vector<std::string> split_gpt2(const std::string& text);
  // The normalizer alone, applied to `text` (identity when the tokenizer has none).
  std::string normalize(const std::string& text) const;
  mutable std::vector<std::string> warnings;

  // Pipeline components (public so that the loader's helpers can build them; see the .cpp).
  struct NormStep {
    enum Kind { NFC, NFD, NFKC, NFKD, Lowercase, Strip, Replace, Prepend } kind = NFC;
    bool left = false, right = false;  // Strip
    std::string a, b;                  // Replace: pattern, content; Prepend: a
  };
  struct PreTokStep {
    enum Kind { ByteLevel, Whitespace, WhitespaceSplit } kind = ByteLevel;
    bool add_prefix_space = false, use_regex = true;  // ByteLevel
  };

 private:
  enum class Model { BPE, WordLevel };
  struct Split {
    std::string text;
    int64_t id = -1;  // >= 0: an added token
  };
  void find_added(const std::string& sentence, bool normalized_set, std::vector<Split>& out) const;
  std::vector<std::string> pre_tokenize(const std::string& text) const;
  void model_tokenize(const std::string& piece, std::vector<int64_t>& out) const;
  void bpe(const std::string& piece, std::vector<int64_t>& out) const;
  void add_tokens(std::vector<AddedToken> tokens);  // assigns ids as `tokenizers` does
  const std::string* model_token(int64_t id) const;

  Model model_ = Model::BPE;
  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::string> id_to_tok_;
  std::vector<char> has_id_;
  std::unordered_map<uint64_t, std::pair<int32_t, int64_t>> merges_;  // (a,b) -> (rank, merged id)
  std::string unk_token_;  // BPE: empty = none; WordLevel: "<unk>" unless given
  bool fuse_unk_ = false, ignore_merges_ = false;
  std::vector<NormStep> normalizer_;
  std::vector<PreTokStep> pre_tokenizer_;
  bool byte_level_decoder_ = false;
  // Added tokens, in the order of the file; display_ is what decode() shows (the normalized form
  // for normalized tokens, as `tokenizers` does).
  std::vector<AddedToken> added_;
  std::map<int64_t, std::size_t> added_by_id_;
  std::unordered_map<std::string, int64_t> added_by_content_;
  std::map<int64_t, std::string> display_;
  std::vector<std::string> special_contents_;
  std::vector<std::pair<std::string, int64_t>> patterns_raw_, patterns_norm_;  // (pattern, id)
  std::vector<std::pair<bool, int64_t>> template_single_;  // (is_sequence, special id)
};

// decode() one id at a time, for streaming generated text: push(id) returns the text that became
// complete with this token (never a partial UTF-8 character; the work is proportional to the
// token's bytes, not to the text so far), finish() the rest. The pieces concatenate to
// decode(ids, skip_special_tokens).
class DecodeStream {
 public:
  DecodeStream(const Tokenizer& tok, bool skip_special_tokens) : tok_(&tok), skip_(skip_special_tokens) {}
  std::string push(int64_t id);
  std::string finish();

 private:
  const Tokenizer* tok_;
  bool skip_;
  bool any_ = false;     // a token was emitted (for the space between tokens without a decoder)
  std::string pending_;  // bytes of a character that is not complete yet
};

}  // namespace ssmlab::hf
