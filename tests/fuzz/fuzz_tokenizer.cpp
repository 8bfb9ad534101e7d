// fuzz_tokenizer: tokenizer.json text, a NUL byte, then a text to encode. Tokenizer::from_json,
// then encode (with and without special tokens), decode of the ids (with and without skipping
// special tokens), decode of arbitrary ids taken from the text's bytes (negative, huge, unknown),
// the normalizer alone, and the id <-> token maps. Promise (tokenizer.h): hf::Error or results;
// every id encode() returns is below vocab_size() and maps to a token.
// Without a NUL the input is only the tokenizer.json and a fixed multilingual text is encoded.
// Round trip: with the committed GPT-2-style fixture tokenizer (byte-level BPE, no normalizer,
// loaded once), decode(encode(text)) must give back any valid UTF-8 text exactly (unless the text
// holds the fixture's lstrip added token "<mask>").
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "ssmlab/hf/tokenizer.h"

using namespace ssmlab;

namespace {
const char* kDefaultText = "Hello world! It's 2024: naïve café, Ünïcödé ﬁ 日本語 \t\n  spaces  <|endoftext|> 123";

// Valid UTF-8 (no surrogates, no overlongs, at most U+10FFFF), as Rust's str requires.
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    const unsigned c = p[i];
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

const hf::Tokenizer* fixture() {
  static std::optional<hf::Tokenizer> tk = [] {
    try {
      return std::optional<hf::Tokenizer>(hf::Tokenizer::from_file(SSMLAB_SOURCE_DIR "/tests/fixtures/hf/tokenizer.json"));
    } catch (const hf::Error& e) {
      fuzz::violated("the fixture tokenizer does not load", e.what());
    }
  }();
  return &*tk;
}

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
  // round trip through the fixture tokenizer
  const hf::Tokenizer& fx = *fixture();
  // (the fixture's "<mask>" is an lstrip added token: it eats the spaces before it, as in `tokenizers`)
  if (valid_utf8(text) && text.find("<mask>") == std::string::npos) {
    std::vector<int64_t> ids;
    try {
      ids = fx.encode(text, false);
    } catch (const hf::Error& e) {
      fuzz::violated("the fixture tokenizer refused valid UTF-8", e.what());
    }
    const std::string back = fx.decode(ids, false);
    if (back != text) fuzz::violated("decode(encode(text)) != text", back);
  }
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
