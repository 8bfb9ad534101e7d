// fuzz_vocab_merges: GPT-2's original tokenizer files, vocab.json NUL merges.txt NUL text, through
// Tokenizer::from_vocab_merges (two in-memory files), then encode/decode of the text. Promise
// (tokenizer.h): hf::Error or a tokenizer whose ids are in [0, vocab_size).
#include <cstdint>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.h"
#include "ssmlab/hf/tokenizer.h"

using namespace ssmlab;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile vocab("vocab.json"), merges("merges.txt");
  const auto a = fuzz::split_at_nul(fuzz::as_text(data, size));
  const auto b = fuzz::split_at_nul(a.second);
  const std::string& vp = vocab.write(a.first);
  const std::string& mp = merges.write(b.first);
  try {
    const hf::Tokenizer tk = hf::Tokenizer::from_vocab_merges(vp, mp);
    const std::string text = b.has_second ? std::string(b.second) : std::string("Hello world, it's <|endoftext|> 42!");
    const std::vector<int64_t> ids = tk.encode(text);
    for (int64_t id : ids)
      if (id < 0 || id >= tk.vocab_size()) fuzz::violated("encode() returned an id outside [0, vocab_size)", std::to_string(id));
    (void)tk.decode(ids);
    (void)tk.decode(ids, true);
  } catch (const hf::Error&) {
  }
  return 0;
}
