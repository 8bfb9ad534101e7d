// tokenizer.h: Hugging Face tokenizer.json with a byte-level BPE model (GPT-2, GPT-NeoX/Pythia).
//
// Encoding follows `tokenizers`' pipeline:
//   1. split the text on added tokens (leftmost-longest; lstrip/rstrip/single_word honoured),
//   2. normalizer (none, or NFC: see NOTE),
//   3. ByteLevel pre-tokenizer: optional prefix space, then the GPT-2 split pattern
//        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      matched by hand (std::regex has no \p classes; L/N tables in unicode_tables.inc),
//      then every byte mapped to its printable stand-in (GPT-2's bytes_to_unicode),
//   4. BPE: repeatedly merge the adjacent pair of lowest merge rank (leftmost on ties),
//   5. post-processor: ByteLevel (adds nothing) or a TemplateProcessing "single" template.
// Decoding maps stand-ins back to bytes and replaces invalid UTF-8 with U+FFFD like Rust's
// String::from_utf8_lossy.
// NOTE: an NFC normalizer is applied as the identity (no Unicode composition tables here). This is
// exact for text without combining marks; a warning is recorded when marks U+0300..U+036F appear.
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
  int64_t id = 0;
  std::string content;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = false;
};

class Tokenizer {
 public:
  static Tokenizer from_file(const std::string& path);   // tokenizer.json, or a folder holding one
  static Tokenizer from_json(const std::string& json_text);

  std::vector<int64_t> encode(const std::string& text, bool add_special_tokens = true) const;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;

  int64_t vocab_size() const;  // largest id + 1 (model vocabulary and added tokens)
  std::optional<int64_t> token_to_id(const std::string& token) const;
  std::string id_to_token(int64_t id) const;
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  // Pre-tokenization pieces of `text` (for tests): the GPT-2 pattern's matches, as raw bytes.
  static std::vector<std::string> split_gpt2(const std::string& text);
  mutable std::vector<std::string> warnings;

 private:
  void bpe(const std::string& piece, std::vector<int64_t>& out) const;
  void encode_segment(const std::string& seg, std::vector<int64_t>& out) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::string> id_to_tok_;
  std::unordered_map<uint64_t, std::pair<int32_t, int64_t>> merges_;  // (a,b) -> (rank, merged id)
  std::vector<AddedToken> added_;
  std::map<int64_t, std::size_t> added_by_id_;
  bool add_prefix_space_ = false, use_regex_ = true, ignore_merges_ = false, nfc_ = false;
  std::optional<int64_t> unk_id_;
  std::vector<std::pair<bool, int64_t>> template_single_;  // (is_sequence, special id)
};

}  // namespace ssmlab::hf
