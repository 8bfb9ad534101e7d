// tokenizer.cpp: Hugging Face tokenizers (see tokenizer.h for the pipeline). Unicode properties,
// normalization forms and case mapping come from ICU (libicu-dev).
#include "ssmlab/hf/tokenizer.h"

#include "ssmlab/safe_io.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <queue>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/uniset.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace ssmlab::hf {
namespace {

// ---------------------------------------------------------------------------------------------
// Unicode: UTF-8 and the character classes of the regular expressions `tokenizers` uses
// ---------------------------------------------------------------------------------------------
constexpr uint32_t kInvalid = 0xFFFFFFFFu;  // stands for a byte that is not valid UTF-8

bool gc_in(uint32_t cp, uint32_t mask) {
  return cp != kInvalid && (U_GET_GC_MASK(static_cast<UChar32>(cp)) & mask) != 0;
}
bool has_prop(uint32_t cp, UProperty p) {
  return cp != kInvalid && u_hasBinaryProperty(static_cast<UChar32>(cp), p);
}
// Oniguruma's \p{L} and \p{N} (the GPT-2 pattern): general categories L* and N*.
bool is_letter(uint32_t cp) { return gc_in(cp, U_GC_L_MASK); }
bool is_number(uint32_t cp) { return gc_in(cp, U_GC_N_MASK); }
// \s of Oniguruma and of Rust's regex crate, and Rust's char::is_whitespace: White_Space.
bool is_space(uint32_t cp) { return has_prop(cp, UCHAR_WHITE_SPACE); }
// \w of Rust's regex crate (added tokens' single_word, the Whitespace pre-tokenizer):
// Alphabetic | Mark | Decimal_Number | Connector_Punctuation | Join_Control (UTS #18).
bool is_word(uint32_t cp) {
  return has_prop(cp, UCHAR_ALPHABETIC) || gc_in(cp, U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK) ||
         has_prop(cp, UCHAR_JOIN_CONTROL);
}

// Decodes UTF-8 into code points with their byte offsets; an invalid byte becomes kInvalid (1 byte).
struct Utf8Text {
  std::vector<uint32_t> cps;
  std::vector<std::size_t> offs;  // offs[i] = byte offset of cps[i]; offs[size] = byte length
};
// Length and value of the code point at byte i of s (kInvalid, 1 for an invalid byte).
std::pair<uint32_t, std::size_t> next_cp(const std::string& s, std::size_t i) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  const unsigned char c = p[i];
  auto cont = [&](std::size_t k) { return i + k < n && (p[i + k] & 0xC0) == 0x80; };
  if (c < 0x80) return {c, 1};
  if (c >= 0xC2 && c <= 0xDF && cont(1)) return {((c & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu), 2};
  if (c >= 0xE0 && c <= 0xEF && cont(1) && cont(2)) {
    const uint32_t cp = ((c & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
    if (cp >= 0x800 && !(cp >= 0xD800 && cp <= 0xDFFF)) return {cp, 3};
  } else if (c >= 0xF0 && c <= 0xF4 && cont(1) && cont(2) && cont(3)) {
    const uint32_t cp = ((c & 0x07u) << 18) | ((p[i + 1] & 0x3Fu) << 12) | ((p[i + 2] & 0x3Fu) << 6) |
                        (p[i + 3] & 0x3Fu);
    if (cp >= 0x10000 && cp <= 0x10FFFF) return {cp, 4};
  }
  return {kInvalid, 1};
}
Utf8Text decode_utf8(const std::string& s) {
  Utf8Text t;
  for (std::size_t i = 0; i < s.size();) {
    const auto [cp, len] = next_cp(s, i);
    t.offs.push_back(i);
    t.cps.push_back(cp);
    i += len;
  }
  t.offs.push_back(s.size());
  return t;
}
// The code point that ends just before byte `end` (kInvalid if none or not valid UTF-8).
uint32_t cp_before(const std::string& s, std::size_t end, std::size_t* len = nullptr) {
  for (std::size_t k = 1; k <= 4 && k <= end; ++k) {
    const auto [cp, l] = next_cp(s, end - k);
    if (l == k && cp != kInvalid) {
      if (len) *len = k;
      return cp;
    }
  }
  if (len) *len = 1;
  return kInvalid;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Rust's String::from_utf8_lossy: each maximal invalid subpart becomes one U+FFFD.
std::string utf8_lossy(const std::string& s) {
  std::string out;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    std::size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) need = 2;
    else if (c == 0xED) need = 2, hi = 0x9F;
    else if (c >= 0xEE && c <= 0xEF) need = 2;
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) need = 3, hi = 0x8F;
    if (need == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    std::size_t k = 1;
    for (; k <= need; ++k) {
      if (i + k >= n) break;
      const unsigned char b = p[i + k];
      const unsigned char l = (k == 1) ? lo : 0x80, h = (k == 1) ? hi : 0xBF;
      if (b < l || b > h) break;
    }
    if (k == need + 1) {
      out.append(s, i, need + 1);
      i += need + 1;
    } else {
      out += "\xEF\xBF\xBD";
      i += k;
    }
  }
  return out;
}

// Applies `fn` to every maximal valid-UTF-8 run of `s`; invalid bytes are kept as they are.
// (Input from Python is always valid; this keeps encode() total on arbitrary bytes.)
template <class Fn>
std::string on_valid_runs(const std::string& s, Fn fn) {
  std::string out;
  std::size_t run = 0, i = 0;
  while (i < s.size()) {
    const auto [cp, len] = next_cp(s, i);
    if (cp == kInvalid) {
      if (i > run) out += fn(s.substr(run, i - run));
      out.push_back(s[i]);
      run = i + 1;
    }
    i += len;
  }
  if (s.size() > run) out += fn(s.substr(run));
  return out;
}

// ---------------------------------------------------------------------------------------------
// normalizers (ICU)
// ---------------------------------------------------------------------------------------------
// `tokenizers` normalizes with unicode-normalization-alignments 0.1.12, whose tables are Unicode
// 9.0.0: code points assigned later have no decomposition, combining class 0 and compose with
// nothing there. ICU's FilteredNormalizer2 over [:age=9.0:] (code points assigned in 9.0 or
// earlier) normalizes exactly that way: characters outside the set pass through and split the text
// into independently normalized spans, as a class-0 character without mappings does.
struct Unicode9Normalizers {
  icu::UnicodeSet set;
  std::unique_ptr<icu::FilteredNormalizer2> nfc, nfd, nfkc, nfkd;
};
const Unicode9Normalizers& unicode9_normalizers() {
  static const std::unique_ptr<Unicode9Normalizers> n = [] {
    auto r = std::make_unique<Unicode9Normalizers>();
    UErrorCode st = U_ZERO_ERROR;
    r->set.applyPattern(icu::UnicodeString::fromUTF8("[:age=9.0:]"), st);
    if (U_FAILURE(st)) throw Error(std::string("ICU: cannot build the Unicode 9.0 set: ") + u_errorName(st));
    r->set.freeze();
    const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(st);
    const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(st);
    const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCInstance(st);
    const icu::Normalizer2* nfkd = icu::Normalizer2::getNFKDInstance(st);
    if (U_FAILURE(st)) throw Error(std::string("ICU: no normalization data: ") + u_errorName(st));
    r->nfc = std::make_unique<icu::FilteredNormalizer2>(*nfc, r->set);
    r->nfd = std::make_unique<icu::FilteredNormalizer2>(*nfd, r->set);
    r->nfkc = std::make_unique<icu::FilteredNormalizer2>(*nfkc, r->set);
    r->nfkd = std::make_unique<icu::FilteredNormalizer2>(*nfkd, r->set);
    return r;
  }();
  return *n;
}

std::string icu_normalize(const icu::Normalizer2& norm, const std::string& s) {
  UErrorCode st = U_ZERO_ERROR;
  const icu::UnicodeString r = norm.normalize(icu::UnicodeString::fromUTF8(s), st);
  if (U_FAILURE(st)) throw Error(std::string("ICU normalization failed: ") + u_errorName(st));
  std::string out;
  r.toUTF8String(out);
  return out;
}

// `tokenizers`' Lowercase: Rust's char::to_lowercase on every character on its own (full mappings,
// no context: Σ always becomes σ). ICU's root-locale lowercasing of a single code point is that.
std::string lowercase(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto [cp, len] = next_cp(s, i);
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
    } else {
      UChar src[2];
      int32_t n = 0;
      U16_APPEND_UNSAFE(src, n, static_cast<UChar32>(cp));
      UChar dst[16];
      UErrorCode st = U_ZERO_ERROR;
      const int32_t m = u_strToLower(dst, 16, src, n, "", &st);
      if (U_FAILURE(st)) throw Error(std::string("ICU lowercasing failed: ") + u_errorName(st));
      for (int32_t k = 0; k < m;) {
        UChar32 c;
        U16_NEXT(dst, k, m, c);
        append_utf8(out, static_cast<uint32_t>(c));
      }
    }
    i += len;
  }
  return out;
}

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 + k.
struct ByteMap {
  uint32_t to_cp[256];
  std::unordered_map<uint32_t, uint8_t> to_byte;
  std::string as_utf8[256];
  ByteMap() {
    int k = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + k++);
      to_byte[to_cp[b]] = static_cast<uint8_t>(b);
      append_utf8(as_utf8[b], to_cp[b]);
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

uint64_t pair_key(int64_t a, int64_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b); }

// ---------------------------------------------------------------------------------------------
// Checked access to the (untrusted) JSON: every lookup names its path in the error.
// ---------------------------------------------------------------------------------------------
struct Node {
  const json* v;
  std::string path;

  [[noreturn]] void fail(const std::string& msg) const { throw Error(path.empty() ? msg : path + ": " + msg); }
  std::string child(const std::string& k) const { return path.empty() ? k : path + "." + k; }
  std::string shown() const {
    std::string d = v->dump();
    return d.size() > 60 ? d.substr(0, 57) + "..." : d;
  }
  bool is_null() const { return v->is_null(); }
  // The member `k` when present and not null.
  std::optional<Node> opt(const char* k) const {
    if (!v->is_object()) fail("must be a JSON object, got " + shown());
    auto it = v->find(k);
    if (it == v->end() || it->is_null()) return std::nullopt;
    return Node{&*it, child(k)};
  }
  Node at(const char* k, const std::string& why = "") const {
    auto n = opt(k);
    if (!n) fail(std::string("has no \"") + k + "\"" + (why.empty() ? "" : " (" + why + ")"));
    return *n;
  }
  std::size_t size() const {
    if (!v->is_array()) fail("must be a JSON array, got " + shown());
    return v->size();
  }
  Node operator[](std::size_t i) const {
    if (!v->is_array() || i >= v->size()) fail("has no element " + std::to_string(i));
    return Node{&(*v)[i], path + "[" + std::to_string(i) + "]"};
  }
  std::string str() const {
    if (!v->is_string()) fail("must be a string, got " + shown());
    return v->get<std::string>();
  }
  bool boolean() const {
    if (!v->is_boolean()) fail("must be true or false, got " + shown());
    return v->get<bool>();
  }
  int64_t integer() const {
    if (!v->is_number_integer()) fail("must be an integer, got " + shown());
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail("is too large: " + shown());
    return v->get<int64_t>();
  }
  std::string str(const char* k, const std::string& def) const {
    auto n = opt(k);
    return n ? n->str() : def;
  }
  bool boolean(const char* k, bool def) const {
    auto n = opt(k);
    return n ? n->boolean() : def;
  }
  std::string type() const { return at("type").str(); }
};

const char* kSupportedNormalizers =
    "supported: NFC, NFD, NFKC, NFKD, Lowercase, Strip, Replace with a String pattern, Prepend, Sequence";
const char* kSupportedPreTokenizers = "supported: ByteLevel, Whitespace, WhitespaceSplit, Sequence";

void parse_normalizer(const Node& n, std::vector<Tokenizer::NormStep>& out) {
  using S = Tokenizer::NormStep;
  const std::string t = n.type();
  S s;
  if (t == "NFC") s.kind = S::NFC;
  else if (t == "NFD") s.kind = S::NFD;
  else if (t == "NFKC") s.kind = S::NFKC;
  else if (t == "NFKD") s.kind = S::NFKD;
  else if (t == "Lowercase") s.kind = S::Lowercase;
  else if (t == "Strip") {
    s.kind = S::Strip;
    s.left = n.at("strip_left").boolean();
    s.right = n.at("strip_right").boolean();
  } else if (t == "Prepend") {
    s.kind = S::Prepend;
    s.a = n.at("prepend").str();
  } else if (t == "Replace") {
    s.kind = S::Replace;
    const Node p = n.at("pattern");
    if (p.opt("Regex")) p.fail("a Regex pattern is not supported (only {\"String\": ...}; " + std::string(kSupportedNormalizers) + ")");
    s.a = p.at("String").str();
    if (s.a.empty()) p.fail("an empty String pattern is not supported");
    s.b = n.at("content").str();
  } else if (t == "Sequence") {
    const Node list = n.at("normalizers", "a Sequence normalizer needs its list");
    for (std::size_t i = 0; i < list.size(); ++i) parse_normalizer(list[i], out);
    return;
  } else {
    n.fail("normalizer \"" + t + "\" is not supported (" + kSupportedNormalizers + ")");
  }
  out.push_back(s);
}

void parse_pre_tokenizer(const Node& n, std::vector<Tokenizer::PreTokStep>& out) {
  using S = Tokenizer::PreTokStep;
  const std::string t = n.type();
  S s;
  if (t == "ByteLevel") {
    s.add_prefix_space = n.at("add_prefix_space").boolean();
    s.use_regex = n.boolean("use_regex", true);
  } else if (t == "Whitespace") {
    s.kind = S::Whitespace;
  } else if (t == "WhitespaceSplit") {
    s.kind = S::WhitespaceSplit;
  } else if (t == "Sequence") {
    const Node list = n.at("pretokenizers", "a Sequence pre-tokenizer needs its list");
    for (std::size_t i = 0; i < list.size(); ++i) parse_pre_tokenizer(list[i], out);
    return;
  } else {
    n.fail("pre-tokenizer \"" + t + "\" is not supported (" + kSupportedPreTokenizers + ")");
  }
  out.push_back(s);
}

// TemplateProcessing's "single" template: (is the sequence, special id) items.
void parse_template(const Node& pp, std::vector<std::pair<bool, int64_t>>& out) {
  const Node single = pp.at("single");
  for (std::size_t i = 0; i < single.size(); ++i) {
    const Node item = single[i];
    if (item.opt("Sequence")) {
      out.push_back({true, 0});
    } else if (auto sp = item.opt("SpecialToken")) {
      const std::string sid = sp->at("id").str();
      const Node specials = pp.at("special_tokens");
      const auto special = specials.opt(sid.c_str());
      if (!special) specials.fail("has no entry \"" + sid + "\" (used by the template)");
      const Node ids = special->at("ids");
      for (std::size_t k = 0; k < ids.size(); ++k) {
        const int64_t id = ids[k].integer();
        if (id < 0) ids[k].fail("must be a non-negative id");
        out.push_back({false, id});
      }
    } else {
      item.fail("must be {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
}

// Through the checked reader: regular files only (no FIFO hang, no /dev/zero), size-capped.
std::string read_text_file(const fs::path& p, const std::string& what) {
  try {
    return read_regular_file(p.string(), kMaxJsonFileBytes, what);
  } catch (const std::runtime_error& e) {
    throw Error(e.what());
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// GPT-2 split pattern, by hand. At each position the alternatives are tried in order; the first
// that matches wins (Oniguruma is a backtracking, leftmost-first engine).
// ---------------------------------------------------------------------------------------------
std::vector<std::string> Tokenizer::split_gpt2(const std::string& text) {
  const Utf8Text t = decode_utf8(text);
  const auto& c = t.cps;
  const std::size_t n = c.size();
  auto other = [&](std::size_t k) { return !is_space(c[k]) && !is_letter(c[k]) && !is_number(c[k]); };
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < n) {
    std::size_t end = 0;
    // 's 't 're 've 'm 'll 'd
    if (c[i] == '\'' && i + 1 < n) {
      const uint32_t a = c[i + 1];
      const uint32_t b = i + 2 < n ? c[i + 2] : 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd') end = i + 2;
      else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) end = i + 3;
    }
    // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
    if (!end) {
      const std::size_t j = (c[i] == ' ' && i + 1 < n) ? i + 1 : i;
      for (int cls = 0; cls < 3 && !end; ++cls) {
        auto in = [&](std::size_t k) { return cls == 0 ? is_letter(c[k]) : cls == 1 ? is_number(c[k]) : other(k); };
        if (j < n && in(j)) {
          std::size_t k = j;
          while (k < n && in(k)) ++k;
          end = k;
        }
      }
    }
    // '\s+(?!\S)' then '\s+'
    if (!end && is_space(c[i])) {
      std::size_t k = i;
      while (k < n && is_space(c[k])) ++k;
      if (k == n || k - i == 1) end = k;
      else end = k - 1;
    }
    if (!end) end = i + 1;  // unreachable: every code point is in one of the classes above
    out.push_back(text.substr(t.offs[i], t.offs[end] - t.offs[i]));
    i = end;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// loading
// ---------------------------------------------------------------------------------------------
Tokenizer Tokenizer::from_file(const std::string& path) {
  fs::path p(path);
  if (fs::is_directory(p)) {
    if (fs::exists(p / "tokenizer.json")) {
      p /= "tokenizer.json";
    } else if (fs::exists(p / "vocab.json") && fs::exists(p / "merges.txt")) {
      return from_vocab_merges((p / "vocab.json").string(), (p / "merges.txt").string());
    } else {
      throw Error(p.string() + ": no tokenizer.json, and no vocab.json + merges.txt pair, in this folder");
    }
  }
  const std::string text = read_text_file(p, "a tokenizer.json is required");
  try {
    return from_json(text);
  } catch (const Error& e) {
    throw Error(p.string() + ": " + e.what());
  }
}

namespace {
// Shared by tokenizer.json and vocab.json: token -> non-negative id.
void read_vocab(const Node& vocab, std::unordered_map<std::string, int64_t>& out) {
  if (!vocab.v->is_object()) vocab.fail("must be a JSON object {token: id}");
  for (auto it = vocab.v->begin(); it != vocab.v->end(); ++it) {
    const Node id{&it.value(), vocab.path + "[\"" + it.key() + "\"]"};
    const int64_t v = id.integer();
    if (v < 0) id.fail("must be a non-negative id");
    if (v > (1 << 24)) id.fail("id " + std::to_string(v) + " is implausibly large");
    out[it.key()] = v;
  }
}
}  // namespace

Tokenizer Tokenizer::from_json(const std::string& text) {
  json j;
  try {
    j = parse_json_limited(text, "tokenizer.json");  // nesting-limited: the file is untrusted
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
  try {
    const Node root{&j, ""};
    if (!j.is_object()) throw Error("tokenizer.json must be a JSON object");
    Tokenizer tk;
    const Node m = root.at("model");
    const std::string type = m.str("type", "BPE");
    // vocabulary (BPE and WordLevel)
    auto set_vocab = [&](const Node& vocab) {
      read_vocab(vocab, tk.vocab_);
      int64_t max_id = -1;
      for (const auto& [tok, id] : tk.vocab_) max_id = std::max(max_id, id);
      tk.id_to_tok_.assign(static_cast<std::size_t>(max_id + 1), std::string());
      tk.has_id_.assign(static_cast<std::size_t>(max_id + 1), 0);
      for (const auto& [tok, id] : tk.vocab_) {
        if (tk.has_id_[id]) vocab.fail("id " + std::to_string(id) + " is used twice");
        tk.id_to_tok_[id] = tok;
        tk.has_id_[id] = 1;
      }
    };
    if (type == "BPE") {
      tk.model_ = Model::BPE;
      for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
        if (auto o = m.opt(k); o && !o->str().empty())
          o->fail("BPE option is not supported (only byte-level BPE without subword affixes)");
      if (m.boolean("byte_fallback", false)) m.fail("BPE byte_fallback is not supported (not a byte-level tokenizer)");
      if (auto d = m.opt("dropout")) {
        if (!d->v->is_number()) d->fail("must be a number or null");
        if (d->v->get<double>() != 0.0) tk.warnings.push_back("BPE dropout is ignored (deterministic encoding)");
      }
      tk.ignore_merges_ = m.boolean("ignore_merges", false);
      tk.fuse_unk_ = m.boolean("fuse_unk", false);
      tk.unk_token_ = m.str("unk_token", "");
      set_vocab(m.at("vocab"));
      const Node merges = m.at("merges");
      for (std::size_t r = 0; r < merges.size(); ++r) {
        const Node e = merges[r];
        std::string a, b;
        if (e.v->is_string()) {  // "a b" (tokenizers < 0.20)
          const std::string s = e.str();
          const auto sp = s.find(' ', 1);
          if (sp == std::string::npos) e.fail("merge \"" + s + "\" is not \"a b\"");
          a = s.substr(0, sp);
          b = s.substr(sp + 1);
        } else if (e.v->is_array() && e.v->size() == 2 && (*e.v)[0].is_string() && (*e.v)[1].is_string()) {
          a = (*e.v)[0].get<std::string>();
          b = (*e.v)[1].get<std::string>();
        } else {
          e.fail("merge entry is neither \"a b\" nor [\"a\", \"b\"]");
        }
        auto ia = tk.vocab_.find(a), ib = tk.vocab_.find(b), iab = tk.vocab_.find(a + b);
        if (ia == tk.vocab_.end() || ib == tk.vocab_.end() || iab == tk.vocab_.end())
          e.fail("merge (" + a + ", " + b + ") uses a token missing from the vocab");
        // as `tokenizers` (a hash map built in order): a repeated pair keeps its last rank
        tk.merges_[pair_key(ia->second, ib->second)] = {static_cast<int32_t>(r), iab->second};
      }
    } else if (type == "WordLevel") {
      tk.model_ = Model::WordLevel;
      set_vocab(m.at("vocab"));
      tk.unk_token_ = m.at("unk_token").str();
    } else {
      m.fail("model type \"" + type + "\" is not supported (BPE, WordLevel)");
    }
    // normalizer and pre-tokenizer come before the added tokens: normalized added tokens are
    // matched in their normalized form
    if (auto n = root.opt("normalizer")) parse_normalizer(*n, tk.normalizer_);
    if (auto p = root.opt("pre_tokenizer")) parse_pre_tokenizer(*p, tk.pre_tokenizer_);
    if (auto d = root.opt("decoder")) {
      const std::string t = d->type();
      if (t != "ByteLevel") d->fail("decoder \"" + t + "\" is not supported (ByteLevel, or none)");
      tk.byte_level_decoder_ = true;
    }
    if (auto pp = root.opt("post_processor")) {
      const std::string t = pp->type();
      auto one = [&](const Node& p, const std::string& pt) {
        if (pt == "TemplateProcessing") {
          if (!tk.template_single_.empty()) p.fail("more than one TemplateProcessing is not supported");
          parse_template(p, tk.template_single_);
        } else if (pt != "ByteLevel") {
          p.fail("post-processor \"" + pt + "\" is not supported (ByteLevel, TemplateProcessing, Sequence)");
        }
      };
      if (t == "Sequence") {
        const Node list = pp->at("processors", "a Sequence post-processor needs its list");
        for (std::size_t i = 0; i < list.size(); ++i) one(list[i], list[i].type());
      } else {
        one(*pp, t);
      }
    }
    for (const char* k : {"truncation", "padding"})
      if (root.opt(k))
        tk.warnings.push_back(std::string("tokenizer.json's \"") + k +
                              "\" is not applied: encode() returns every id (as transformers does by default)");
    // added tokens
    std::vector<AddedToken> added;
    if (auto at = root.opt("added_tokens")) {
      for (std::size_t i = 0; i < at->size(); ++i) {
        const Node a = (*at)[i];
        AddedToken t;
        t.id = a.at("id").integer();
        t.content = a.at("content").str();
        t.special = a.boolean("special", false);
        t.lstrip = a.boolean("lstrip", false);
        t.rstrip = a.boolean("rstrip", false);
        t.single_word = a.boolean("single_word", false);
        t.normalized = a.boolean("normalized", !t.special);
        added.push_back(t);
      }
    }
    tk.add_tokens(std::move(added));
    // A template's special ids go straight into encode()'s output: each must be a token of this
    // tokenizer, or encode() returns ids >= vocab_size() that no embedding row holds (found by
    // tests/fuzz/fuzz_tokenizer; `tokenizers` itself does not check them).
    for (const auto& [is_sequence, id] : tk.template_single_)
      if (!is_sequence && !tk.model_token(id) && !tk.added_by_id_.count(id))
        throw Error("post_processor: TemplateProcessing special token id " + std::to_string(id) +
                    " is neither in the vocabulary nor an added token");
    return tk;
  } catch (const json::exception& e) {  // a backstop: every access above is checked
    throw Error(std::string("tokenizer.json: unexpected structure: ") + e.what());
  }
}

Tokenizer Tokenizer::from_vocab_merges(const std::string& vocab_path, const std::string& merges_path) {
  Tokenizer tk;
  tk.model_ = Model::BPE;
  json vj;
  try {
    vj = parse_json_limited(read_text_file(vocab_path, "GPT-2 vocab.json"), vocab_path);
  } catch (const std::runtime_error& e) {
    throw Error(e.what());
  }
  read_vocab(Node{&vj, vocab_path}, tk.vocab_);
  int64_t max_id = -1;
  for (const auto& [tok, id] : tk.vocab_) max_id = std::max(max_id, id);
  tk.id_to_tok_.assign(static_cast<std::size_t>(max_id + 1), std::string());
  tk.has_id_.assign(static_cast<std::size_t>(max_id + 1), 0);
  for (const auto& [tok, id] : tk.vocab_) {
    if (tk.has_id_[id]) throw Error(vocab_path + ": id " + std::to_string(id) + " is used twice");
    tk.id_to_tok_[id] = tok;
    tk.has_id_[id] = 1;
  }
  // merges.txt as `tokenizers` reads it: lines (a trailing \r dropped), "#version" lines skipped,
  // every other line exactly "a b".
  const std::string text = read_text_file(merges_path, "GPT-2 merges.txt");
  std::size_t pos = 0, line_no = 0;
  int32_t rank = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("#version", 0) == 0) continue;
    const auto sp = line.find(' ');
    if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
      throw Error(merges_path + ": line " + std::to_string(line_no) + " is not \"a b\": \"" + line.substr(0, 60) + "\"");
    const std::string a = line.substr(0, sp), b = line.substr(sp + 1);
    auto ia = tk.vocab_.find(a), ib = tk.vocab_.find(b), iab = tk.vocab_.find(a + b);
    if (ia == tk.vocab_.end() || ib == tk.vocab_.end() || iab == tk.vocab_.end())
      throw Error(merges_path + ": line " + std::to_string(line_no) + ": merge (" + a + ", " + b +
                  ") uses a token missing from " + vocab_path);
    tk.merges_[pair_key(ia->second, ib->second)] = {rank++, iab->second};
  }
  tk.pre_tokenizer_.push_back({PreTokStep::ByteLevel, /*add_prefix_space=*/false, /*use_regex=*/true});
  tk.byte_level_decoder_ = true;
  auto eot = tk.vocab_.find("<|endoftext|>");
  if (eot != tk.vocab_.end()) {
    AddedToken t;
    t.id = eot->second;
    t.content = eot->first;
    t.special = true;
    tk.add_tokens({t});
  }
  return tk;
}

// Ids as `tokenizers` gives them when it reads added_tokens (AddedVocabulary::add_tokens): the
// id of an earlier added token with the same content, else the model's id for the content, else
// the next id from the model's vocabulary size on. The file's "id" is only compared (a warning).
void Tokenizer::add_tokens(std::vector<AddedToken> tokens) {
  int64_t next_id = static_cast<int64_t>(vocab_.size());
  std::map<int64_t, AddedToken> by_id;
  std::set<std::string> special;
  for (AddedToken& t : tokens) {
    if (t.content.empty()) {
      warnings.push_back("added token " + std::to_string(t.id) + " is empty and is ignored (as tokenizers does)");
      continue;
    }
    auto prev = added_by_content_.find(t.content);
    if (prev != added_by_content_.end()) {
      const AddedToken& o = by_id[prev->second];
      if (o.special == t.special && o.lstrip == t.lstrip && o.rstrip == t.rstrip &&
          o.single_word == t.single_word && o.normalized == t.normalized)
        continue;
    }
    int64_t id;
    if (prev != added_by_content_.end()) id = prev->second;
    else if (auto v = vocab_.find(t.content); v != vocab_.end()) id = v->second;
    else id = next_id++;
    if (t.id != id)
      warnings.push_back("added token '" + t.content + "' is given id " + std::to_string(t.id) + " but gets " +
                         std::to_string(id) + " (as in tokenizers)");
    t.id = id;
    added_by_content_[t.content] = id;
    if (t.special) special.insert(t.content);
    by_id[id] = t;
  }
  special_contents_.assign(special.begin(), special.end());
  added_.clear();
  std::map<std::string, int64_t> seen;  // pattern -> id
  for (auto& [id, t] : by_id) {
    added_by_id_[id] = added_.size();
    added_.push_back(t);
    std::string pattern = t.content;
    if (t.normalized) {
      pattern = normalize(t.content);
      if (pattern != t.content) display_[id] = pattern;
    }
    if (pattern.empty()) continue;  // a token that normalizes to nothing can never match
    const std::string key = std::string(t.normalized ? "n" : "r") + pattern;
    auto [it, fresh] = seen.emplace(key, id);
    if (!fresh)
      throw Error("added tokens " + std::to_string(it->second) + " and " + std::to_string(id) + " both match \"" +
                  pattern + "\" (ambiguous)");
    (t.normalized ? patterns_norm_ : patterns_raw_).push_back({pattern, id});
  }
}

int64_t Tokenizer::vocab_size() const {
  int64_t n = static_cast<int64_t>(id_to_tok_.size());
  for (const auto& a : added_) n = std::max(n, a.id + 1);
  return n;
}

std::optional<int64_t> Tokenizer::token_to_id(const std::string& token) const {
  auto a = added_by_content_.find(token);
  if (a != added_by_content_.end()) return a->second;
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* Tokenizer::model_token(int64_t id) const {
  if (id >= 0 && id < static_cast<int64_t>(id_to_tok_.size()) && has_id_[id]) return &id_to_tok_[id];
  return nullptr;
}

std::string Tokenizer::id_to_token(int64_t id) const {
  if (auto d = display_.find(id); d != display_.end()) return d->second;
  auto it = added_by_id_.find(id);
  if (it != added_by_id_.end()) return added_[it->second].content;
  if (const std::string* t = model_token(id)) return *t;
  throw Error("token id " + std::to_string(id) + " is outside the vocabulary");
}

// ---------------------------------------------------------------------------------------------
// encoding
// ---------------------------------------------------------------------------------------------
std::string Tokenizer::normalize(const std::string& text) const {
  std::string s = text;
  for (const NormStep& st : normalizer_) {
    switch (st.kind) {
      case NormStep::NFC:
      case NormStep::NFD:
      case NormStep::NFKC:
      case NormStep::NFKD: {
        const Unicode9Normalizers& u = unicode9_normalizers();
        const icu::Normalizer2& nm = st.kind == NormStep::NFC    ? *u.nfc
                                     : st.kind == NormStep::NFD  ? *u.nfd
                                     : st.kind == NormStep::NFKC ? *u.nfkc
                                                                 : *u.nfkd;
        s = on_valid_runs(s, [&](const std::string& r) { return icu_normalize(nm, r); });
        break;
      }
      case NormStep::Lowercase:
        s = lowercase(s);
        break;
      case NormStep::Strip: {
        std::size_t b = 0, e = s.size();
        if (st.left)
          while (b < e) {
            const auto [cp, len] = next_cp(s, b);
            if (!is_space(cp)) break;
            b += len;
          }
        if (st.right)
          while (e > b) {
            std::size_t len = 1;
            const uint32_t cp = cp_before(s, e, &len);
            if (!is_space(cp)) break;
            e -= len;
          }
        s = s.substr(b, e - b);
        break;
      }
      case NormStep::Replace: {
        std::string out;
        std::size_t from = 0;
        for (std::size_t at; (at = s.find(st.a, from)) != std::string::npos; from = at + st.a.size())
          out.append(s, from, at - from).append(st.b);
        out.append(s, from, std::string::npos);
        s = std::move(out);
        break;
      }
      case NormStep::Prepend:
        if (!s.empty()) s = st.a + s;
        break;
    }
  }
  return s;
}

// AddedVocabulary::find_matches: leftmost-longest, non-overlapping matches of the patterns; a
// single_word match touching a word character is dropped (the search goes on after it); lstrip /
// rstrip take the whitespace on that side into the token's split.
void Tokenizer::find_added(const std::string& s, bool normalized_set, std::vector<Split>& out) const {
  if (s.empty()) return;
  const auto& pats = normalized_set ? patterns_norm_ : patterns_raw_;
  if (pats.empty()) {
    out.push_back({s, -1});
    return;
  }
  const std::size_t n = s.size();
  std::size_t start_offset = 0, pos = 0;
  while (pos < n) {
    std::size_t mstart = n, mlen = 0;
    int64_t mid = -1;
    for (std::size_t p = pos; p < n && mid < 0; ++p)
      for (const auto& [pat, id] : pats)
        if (pat.size() > mlen && s.compare(p, pat.size(), pat) == 0) {
          mstart = p;
          mlen = pat.size();
          mid = id;
        }
    if (mid < 0) break;
    std::size_t start = mstart, stop = mstart + mlen;
    pos = stop;
    const AddedToken& t = added_[added_by_id_.at(mid)];
    if (t.single_word) {
      const bool start_space = start == 0 || !is_word(cp_before(s, start));
      const bool stop_space = stop == n || !is_word(next_cp(s, stop).first);
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) {
      std::size_t ns = start, len = 1;
      while (ns > 0 && is_space(cp_before(s, ns, &len))) ns -= len;
      start = std::max(ns, start_offset);
    }
    if (t.rstrip)
      while (stop < n) {
        const auto [cp, len] = next_cp(s, stop);
        if (!is_space(cp)) break;
        stop += len;
      }
    if (start_offset < start) out.push_back({s.substr(start_offset, start - start_offset), -1});
    out.push_back({s.substr(start, stop - start), mid});
    start_offset = stop;
  }
  if (start_offset < n) out.push_back({s.substr(start_offset), -1});
}

std::vector<std::string> Tokenizer::pre_tokenize(const std::string& text) const {
  std::vector<std::string> pieces{text};
  const ByteMap& bm = byte_map();
  for (const PreTokStep& st : pre_tokenizer_) {
    std::vector<std::string> next;
    for (const std::string& p : pieces) {
      if (st.kind == PreTokStep::ByteLevel) {
        std::string q = p;
        if (st.add_prefix_space && q[0] != ' ') q.insert(q.begin(), ' ');
        const std::vector<std::string> parts = st.use_regex ? split_gpt2(q) : std::vector<std::string>{q};
        for (const std::string& part : parts) {
          std::string mapped;
          for (unsigned char b : part) mapped += bm.as_utf8[b];
          next.push_back(std::move(mapped));
        }
      } else {
        // Whitespace: the matches of \w+|[^\w\s]+ (whitespace dropped);
        // WhitespaceSplit: the runs between White_Space characters.
        const Utf8Text u = decode_utf8(p);
        const std::size_t n = u.cps.size();
        std::size_t i = 0;
        while (i < n) {
          if (is_space(u.cps[i])) {
            ++i;
            continue;
          }
          std::size_t k = i + 1;
          if (st.kind == PreTokStep::WhitespaceSplit) {
            while (k < n && !is_space(u.cps[k])) ++k;
          } else {
            const bool w = is_word(u.cps[i]);
            while (k < n && !is_space(u.cps[k]) && is_word(u.cps[k]) == w) ++k;
          }
          next.push_back(p.substr(u.offs[i], u.offs[k] - u.offs[i]));
          i = k;
        }
      }
    }
    pieces.clear();
    for (auto& q : next)
      if (!q.empty()) pieces.push_back(std::move(q));
  }
  return pieces;
}

// BPE::merge_word + Word::merge_all: symbols are the piece's characters (after the ByteLevel
// pre-tokenizer: byte stand-ins); the pair of lowest rank merges first, the leftmost on ties.
void Tokenizer::bpe(const std::string& piece, std::vector<int64_t>& out) const {
  if (ignore_merges_) {
    auto it = vocab_.find(piece);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  struct Sym {
    int64_t id;
    std::ptrdiff_t prev, next;
    bool alive;
  };
  std::vector<Sym> sym;
  const Utf8Text u = decode_utf8(piece);
  bool pending_unk = false;  // an unknown-character run waiting to be added (fuse_unk)
  int64_t unk_id = -1;
  auto push = [&](int64_t id) { sym.push_back({id, static_cast<std::ptrdiff_t>(sym.size()) - 1, -1, true}); };
  for (std::size_t i = 0; i < u.cps.size(); ++i) {
    auto it = vocab_.find(piece.substr(u.offs[i], u.offs[i + 1] - u.offs[i]));
    if (it != vocab_.end()) {
      if (pending_unk) push(unk_id), pending_unk = false;
      push(it->second);
    } else if (!unk_token_.empty()) {
      auto unk = vocab_.find(unk_token_);
      if (unk == vocab_.end())
        throw Error("BPE: a character is not in the vocabulary and neither is unk_token \"" + unk_token_ + "\"");
      if (pending_unk && !fuse_unk_) push(unk_id);
      unk_id = unk->second;
      pending_unk = true;
    }
    // no unk_token: the character is dropped, as in `tokenizers`
  }
  if (pending_unk) push(unk_id);
  for (std::size_t i = 0; i + 1 < sym.size(); ++i) sym[i].next = static_cast<std::ptrdiff_t>(i + 1);

  struct Merge {
    int32_t rank;
    std::size_t pos;
    int64_t new_id;
    bool operator>(const Merge& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Merge, std::vector<Merge>, std::greater<Merge>> queue;
  auto lookup = [&](int64_t a, int64_t b) -> const std::pair<int32_t, int64_t>* {
    auto it = merges_.find(pair_key(a, b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  for (std::size_t i = 0; i + 1 < sym.size(); ++i)
    if (auto m = lookup(sym[i].id, sym[i + 1].id)) queue.push({m->first, i, m->second});
  while (!queue.empty()) {
    const Merge top = queue.top();
    queue.pop();
    Sym& cur = sym[top.pos];
    if (!cur.alive || cur.next < 0) continue;
    const Sym right = sym[cur.next];
    auto m = lookup(cur.id, right.id);
    if (!m || m->second != top.new_id) continue;  // an expired entry
    sym[cur.next].alive = false;
    cur.id = top.new_id;
    cur.next = right.next;
    if (right.next >= 0) sym[right.next].prev = static_cast<std::ptrdiff_t>(top.pos);
    if (cur.prev >= 0)
      if (auto pm = lookup(sym[cur.prev].id, cur.id)) queue.push({pm->first, static_cast<std::size_t>(cur.prev), pm->second});
    if (cur.next >= 0)
      if (auto nm = lookup(cur.id, sym[cur.next].id)) queue.push({nm->first, top.pos, nm->second});
  }
  for (const Sym& s : sym)
    if (s.alive) out.push_back(s.id);
}

void Tokenizer::model_tokenize(const std::string& piece, std::vector<int64_t>& out) const {
  if (model_ == Model::BPE) {
    bpe(piece, out);
    return;
  }
  auto it = vocab_.find(piece);
  if (it == vocab_.end()) it = vocab_.find(unk_token_);
  if (it == vocab_.end())
    throw Error("WordLevel: \"" + piece.substr(0, 40) + "\" is not in the vocabulary and neither is unk_token \"" +
                unk_token_ + "\"");
  out.push_back(it->second);
}

std::vector<int64_t> Tokenizer::encode(const std::string& text, bool add_special_tokens) const {
  // AddedVocabulary::extract_and_normalize: raw-matched added tokens, then the normalizer on the
  // rest, then normalized-matched added tokens.
  std::vector<Split> raw, splits;
  find_added(text, false, raw);
  for (Split& sp : raw) {
    if (sp.id >= 0) splits.push_back(std::move(sp));
    else find_added(normalize(sp.text), true, splits);
  }
  std::vector<int64_t> ids;
  for (const Split& sp : splits) {
    if (sp.id >= 0) {
      ids.push_back(sp.id);
      continue;
    }
    for (const std::string& piece : pre_tokenize(sp.text)) model_tokenize(piece, ids);
  }
  if (add_special_tokens && !template_single_.empty()) {
    std::vector<int64_t> out;
    for (const auto& [is_seq, id] : template_single_) {
      if (is_seq) out.insert(out.end(), ids.begin(), ids.end());
      else out.push_back(id);
    }
    return out;
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------
// decoding
// ---------------------------------------------------------------------------------------------
std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  const std::string bytes = decode_bytes(ids, skip_special_tokens);
  return byte_level_decoder_ ? utf8_lossy(bytes) : bytes;
}

std::string Tokenizer::decode_bytes(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  std::vector<const std::string*> toks;
  for (int64_t id : ids) {
    const std::string* tok = nullptr;
    if (auto d = display_.find(id); d != display_.end()) tok = &d->second;
    else if (auto a = added_by_id_.find(id); a != added_by_id_.end()) tok = &added_[a->second].content;
    else tok = model_token(id);
    if (!tok) continue;  // as `tokenizers`: ids without a token (model padding rows) decode to nothing
    if (skip_special_tokens && std::binary_search(special_contents_.begin(), special_contents_.end(), *tok)) continue;
    toks.push_back(tok);
  }
  if (!byte_level_decoder_) {  // no decoder: `tokenizers` joins the tokens with spaces
    std::string out;
    for (std::size_t i = 0; i < toks.size(); ++i) out += (i ? " " : "") + *toks[i];
    return out;
  }
  // ByteLevel decoder: every char back to its byte; a token with a char outside the map is copied
  // as UTF-8 unchanged.
  const ByteMap& bm = byte_map();
  std::string bytes;
  for (const std::string* tok : toks) {
    const Utf8Text u = decode_utf8(*tok);
    std::string b;
    bool ok = true;
    for (uint32_t cp : u.cps) {
      auto it = bm.to_byte.find(cp);
      if (it == bm.to_byte.end()) {
        ok = false;
        break;
      }
      b.push_back(static_cast<char>(it->second));
    }
    bytes += ok ? b : *tok;
  }
  return bytes;
}

namespace {
// Bytes at the end of `s` that begin a UTF-8 character but do not complete it yet (0 to 3).
std::size_t incomplete_tail(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    const unsigned char c = p[n - back];
    if (c >= 0x80 && c <= 0xBF) continue;  // a continuation byte: look further back
    std::size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) need = 2;
    else if (c == 0xED) need = 2, hi = 0x9F;
    else if (c >= 0xEE && c <= 0xEF) need = 2;
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) need = 3, hi = 0x8F;
    if (need < back) return 0;  // ASCII, an invalid byte, or a character that is complete
    for (std::size_t k = 1; k < back; ++k) {  // what follows must be a valid prefix
      const unsigned char b = p[n - back + k];
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
    }
    return back;
  }
  return 0;
}
}  // namespace

std::string DecodeStream::push(int64_t id) {
  std::string piece = tok_->decode_bytes({id}, skip_);
  if (piece.empty()) return "";
  if (!tok_->joins_with_spaces()) {
    pending_ += piece;
    const std::size_t keep = incomplete_tail(pending_);
    std::string out = utf8_lossy(pending_.substr(0, pending_.size() - keep));
    pending_.erase(0, pending_.size() - keep);
    return out;
  }
  std::string out = (any_ ? " " : "") + piece;
  any_ = true;
  return out;
}

std::string DecodeStream::finish() {
  std::string out = utf8_lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace ssmlab::hf
