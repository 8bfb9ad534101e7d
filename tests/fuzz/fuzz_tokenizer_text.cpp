// fuzz_tokenizer_text: arbitrary text (any bytes) through the committed fixture tokenizers, loaded
// once: the GPT-2-style byte-level BPE (tests/fixtures/hf/tokenizer.json), the same with an NFC
// normalizer (tests/fixtures/hf/tok_nfc_nfd_input) and a WordLevel tokenizer with a normalizer
// sequence, Whitespace pre-tokenizer and a template (written below). encode() with and without
// special tokens, decode() with and without skipping them. Properties:
//   - every id is in [0, vocab_size) and has a token;
//   - round trip: for valid UTF-8 without '<' (the fixtures' added tokens start with '<'; "<mask>"
//     is lstrip, and NFC may compose across an added token's edge, as in `tokenizers`),
//     decode(encode(text)) == text for the byte-level BPE, == normalize(text) for the NFC one.
#include <cstdint>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "ssmlab/hf/tokenizer.h"

using namespace ssmlab;

namespace {
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

struct Fixtures {
  hf::Tokenizer gpt2, nfc, wordlevel;
};

const Fixtures& fixtures() {
  static const Fixtures f = [] {
    try {
      return Fixtures{
          hf::Tokenizer::from_file(SSMLAB_SOURCE_DIR "/tests/fixtures/hf/tokenizer.json"),
          hf::Tokenizer::from_file(SSMLAB_SOURCE_DIR "/tests/fixtures/hf/tok_nfc_nfd_input/tokenizer.json"),
          hf::Tokenizer::from_json(R"({
            "model": {"type": "WordLevel", "unk_token": "[UNK]",
                      "vocab": {"[UNK]": 0, "hello": 1, "world": 2, "!": 3, "[CLS]": 4, "[SEP]": 5, "fi": 6}},
            "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                           {"type": "Strip", "strip_left": true, "strip_right": true},
                           {"type": "Replace", "pattern": {"String": "ß"}, "content": "ss"}]},
            "pre_tokenizer": {"type": "Whitespace"},
            "post_processor": {"type": "TemplateProcessing",
              "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
              "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [4], "tokens": ["[CLS]"]},
                                 "[SEP]": {"id": "[SEP]", "ids": [5], "tokens": ["[SEP]"]}}},
            "added_tokens": [{"id": 4, "content": "[CLS]", "special": true}, {"id": 5, "content": "[SEP]", "special": true},
                             {"id": 7, "content": "<mask>", "special": true, "lstrip": true, "rstrip": true,
                              "single_word": true},
                             {"id": 8, "content": "Hello", "special": false, "normalized": true}]
          })")};
    } catch (const hf::Error& e) {
      fuzz::violated("a fixture tokenizer does not load", e.what());
    }
  }();
  return f;
}

// encode (+ checks) and decode; returns the decoded text of encode(text, false), or nothing.
std::string run(const hf::Tokenizer& tk, const std::string& text) {
  std::string decoded;
  for (bool special : {false, true}) {
    std::vector<int64_t> ids;
    try {
      ids = tk.encode(text, special);
    } catch (const hf::Error&) {
      continue;
    }
    for (int64_t id : ids)
      if (id < 0 || id >= tk.vocab_size() || tk.id_to_token(id).empty())
        fuzz::violated("encode() returned an id outside the vocabulary", std::to_string(id));
    std::string d = tk.decode(ids, false);
    (void)tk.decode(ids, true);
    if (!special) decoded = std::move(d);
  }
  return decoded;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixtures& f = fixtures();
  const std::string text(fuzz::as_text(data, size));
  const bool check = valid_utf8(text) && text.find('<') == std::string::npos;
  const std::string g = run(f.gpt2, text);
  if (check && g != text) fuzz::violated("byte-level BPE: decode(encode(text)) != text", g);
  const std::string n = run(f.nfc, text);
  if (check) {
    const std::string want = f.nfc.normalize(text);
    if (n != want) fuzz::violated("NFC byte-level BPE: decode(encode(text)) != normalize(text)", n);
  }
  (void)run(f.wordlevel, text);
  return 0;
}
