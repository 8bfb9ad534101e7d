// fuzz_tokenizer: tokenizer.json text, a NUL byte, then a text to encode. Tokenizer::from_json,
// then encode (with and without special tokens), decode of the ids (with and without skipping
// special tokens), decode of arbitrary ids taken from the text's bytes (negative, huge, unknown),
// the normalizer alone, and the id <-> token maps. Promise (tokenizer.h): hf::Error or results;
// every id encode() returns is below vocab_size() and maps to a token.
// Without a NUL the input is only the tokenizer.json and a fixed multilingual text is encoded.
// (fuzz_tokenizer_text fuzzes the text alone through the committed fixture tokenizers, faster.)
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "ssmlab/hf/tokenizer.h"

using namespace ssmlab;

namespace {
const char* kDefaultText = "Hello world! It's 2024: naïve café, Ünïcödé ﬁ 日本語 \t\n  spaces  <|endoftext|> 123";

void exercise(const hf::Tokenizer& tk, const std::string& text) {
  const int64_t vocab = tk.vocab_size();
  for (bool special : {true, false}) {
    std::vector<int64_t> ids;
    try {
      ids = tk.encode(text, special);
    } catch (const hf::Error&) {
      continue;
    }
    for (int64_t id : ids) {
      if (id < 0 || id >= vocab) fuzz::violated("encode() returned an id outside [0, vocab_size)", std::to_string(id));
      const std::string t = tk.id_to_token(id);
      (void)tk.token_to_id(t);
    }
    try {
      (void)tk.decode(ids, false);
      (void)tk.decode(ids, true);
    } catch (const hf::Error&) {
    }
  }
  // arbitrary ids from the text's bytes
  std::vector<int64_t> raw((text.size() + 7) / 8);
  if (!raw.empty()) std::memcpy(raw.data(), text.data(), text.size() < raw.size() * 8 ? text.size() : raw.size() * 8);
  for (size_t i = 0; i < text.size() && i < 64; ++i) raw.push_back(static_cast<unsigned char>(text[i]) - 8);
  for (bool skip : {false, true}) {
    try {
      (void)tk.decode(raw, skip);
    } catch (const hf::Error&) {
    }
  }
  for (int64_t id : raw) {
    try {
      (void)tk.id_to_token(id);
    } catch (const hf::Error&) {
    }
  }
  try {
    (void)tk.normalize(text);
  } catch (const hf::Error&) {
  }
  (void)hf::Tokenizer::split_gpt2(text);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = fuzz::split_at_nul(fuzz::as_text(data, size));
  const std::string text = parts.has_second ? std::string(parts.second) : std::string(kDefaultText);
  // the fuzzed tokenizer
  std::optional<hf::Tokenizer> tk;
  try {
    tk.emplace(hf::Tokenizer::from_json(std::string(parts.first)));
  } catch (const hf::Error&) {
    return 0;
  }
  exercise(*tk, text);
  return 0;
}
