// tokenizer.cpp: byte-level BPE from tokenizer.json (see tokenizer.h for the pipeline).
#include "ssmlab/hf/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using nlohmann::json;

namespace ssmlab::hf {
namespace {

struct CodeRange {
  uint32_t lo, hi;
};
#include "unicode_tables.inc"

template <std::size_t N>
bool in_ranges(const CodeRange (&r)[N], uint32_t cp) {
  std::size_t lo = 0, hi = N;
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (cp < r[mid].lo) hi = mid;
    else if (cp > r[mid].hi) lo = mid + 1;
    else return true;
  }
  return false;
}

constexpr uint32_t kInvalid = 0xFFFFFFFFu;  // stands for a byte that is not valid UTF-8

bool is_letter(uint32_t cp) { return cp != kInvalid && in_ranges(kLetterRanges, cp); }
bool is_number(uint32_t cp) { return cp != kInvalid && in_ranges(kNumberRanges, cp); }
// \s of the Oniguruma engine used by `tokenizers`: the Unicode White_Space property.
bool is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// Decodes UTF-8 into code points with their byte offsets; an invalid byte becomes kInvalid (1 byte).
struct Utf8Text {
  std::vector<uint32_t> cps;
  std::vector<std::size_t> offs;  // offs[i] = byte offset of cps[i]; offs[size] = byte length
};
Utf8Text decode_utf8(const std::string& s) {
  Utf8Text t;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    t.offs.push_back(i);
    const unsigned char c = p[i];
    uint32_t cp = kInvalid;
    std::size_t len = 1;
    auto cont = [&](std::size_t k) { return i + k < n && (p[i + k] & 0xC0) == 0x80; };
    if (c < 0x80) {
      cp = c;
    } else if (c >= 0xC2 && c <= 0xDF && cont(1)) {
      cp = ((c & 0x1F) << 6) | (p[i + 1] & 0x3F);
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF && cont(1) && cont(2)) {
      cp = ((c & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
      if (cp >= 0x800 && !(cp >= 0xD800 && cp <= 0xDFFF)) len = 3;
      else cp = kInvalid;
    } else if (c >= 0xF0 && c <= 0xF4 && cont(1) && cont(2) && cont(3)) {
      cp = ((c & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12) | ((p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F);
      if (cp >= 0x10000 && cp <= 0x10FFFF) len = 4;
      else cp = kInvalid;
    }
    t.cps.push_back(cp);
    i += len;
  }
  t.offs.push_back(n);
  return t;
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

// Rust's char::is_whitespace (used by lstrip/rstrip of added tokens): White_Space.
bool rust_whitespace(uint32_t cp) { return is_space(cp); }
bool word_char(uint32_t cp) { return cp == '_' || is_letter(cp) || is_number(cp); }

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
  if (fs::is_directory(p)) p /= "tokenizer.json";
  std::ifstream in(p, std::ios::binary);
  if (!in) throw Error(p.string() + ": cannot open (a byte-level BPE tokenizer.json is required)");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return from_json(ss.str());
  } catch (const Error& e) {
    throw Error(p.string() + ": " + e.what());
  }
}

Tokenizer Tokenizer::from_json(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    throw Error(std::string("tokenizer.json is not valid JSON: ") + e.what());
  }
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) throw Error("tokenizer.json has no \"model\"");
  Tokenizer tk;
  const json& m = j["model"];
  const std::string type = m.value("type", std::string("BPE"));
  if (type != "BPE") throw Error("tokenizer model type \"" + type + "\" is not supported (only byte-level BPE)");
  for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (m.contains(k) && !m[k].is_null() && !(m[k].is_string() && m[k].get<std::string>().empty()))
      throw Error(std::string("BPE option ") + k + " is not supported");
  if (m.value("byte_fallback", false)) throw Error("BPE byte_fallback is not supported (not a byte-level tokenizer)");
  if (m.contains("dropout") && !m["dropout"].is_null() && m["dropout"].get<double>() != 0.0)
    tk.warnings.push_back("BPE dropout is ignored (deterministic encoding)");
  tk.ignore_merges_ = m.value("ignore_merges", false);
  if (!m.contains("vocab") || !m["vocab"].is_object()) throw Error("BPE model has no vocab object");
  int64_t max_id = -1;
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
      throw Error("vocab entry '" + it.key() + "' has no non-negative integer id");
    const int64_t id = it.value().get<int64_t>();
    if (id > (1 << 24)) throw Error("vocab id " + std::to_string(id) + " is implausibly large");
    tk.vocab_[it.key()] = id;
    max_id = std::max(max_id, id);
  }
  tk.id_to_tok_.assign(static_cast<std::size_t>(max_id + 1), std::string());
  for (const auto& [tok, id] : tk.vocab_) {
    if (!tk.id_to_tok_[id].empty()) throw Error("vocab id " + std::to_string(id) + " is used twice");
    tk.id_to_tok_[id] = tok;
  }
  if (m.contains("merges") && m["merges"].is_array()) {
    int32_t rank = 0;
    for (const auto& e : m["merges"]) {
      std::string a, b;
      if (e.is_string()) {  // "a b" (tokenizers < 0.20)
        const std::string s = e.get<std::string>();
        const auto sp = s.find(' ', 1);
        if (sp == std::string::npos) throw Error("merge \"" + s + "\" is not \"a b\"");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {  // ["a", "b"]
        a = e[0].get<std::string>();
        b = e[1].get<std::string>();
      } else {
        throw Error("merge entry " + e.dump() + " is neither \"a b\" nor [\"a\", \"b\"]");
      }
      auto ia = tk.vocab_.find(a), ib = tk.vocab_.find(b), iab = tk.vocab_.find(a + b);
      if (ia == tk.vocab_.end() || ib == tk.vocab_.end() || iab == tk.vocab_.end())
        throw Error("merge (" + a + ", " + b + ") uses a token missing from the vocab");
      tk.merges_.emplace(pair_key(ia->second, ib->second), std::make_pair(rank, iab->second));
      ++rank;
    }
  }
  if (m.contains("unk_token") && m["unk_token"].is_string()) {
    auto it = tk.vocab_.find(m["unk_token"].get<std::string>());
    if (it != tk.vocab_.end()) tk.unk_id_ = it->second;
  }
  // added tokens
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const auto& a : j["added_tokens"]) {
      AddedToken t;
      t.id = a.at("id").get<int64_t>();
      t.content = a.at("content").get<std::string>();
      t.special = a.value("special", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.single_word = a.value("single_word", false);
      t.normalized = a.value("normalized", false);
      if (t.content.empty()) throw Error("added token " + std::to_string(t.id) + " is empty");
      if (t.id < 0) throw Error("added token '" + t.content + "' has a negative id");
      tk.added_by_id_[t.id] = tk.added_.size();
      tk.added_.push_back(t);
    }
  }
  // normalizer
  if (j.contains("normalizer") && !j["normalizer"].is_null()) {
    const json& nrm = j["normalizer"];
    const std::string nt = nrm.value("type", std::string());
    if (nt == "NFC") tk.nfc_ = true;
    else if (!(nt == "Sequence" && nrm.contains("normalizers") && nrm["normalizers"].empty()))
      throw Error("normalizer \"" + nt + "\" is not supported (none or NFC)");
  }
  // pre-tokenizer: ByteLevel (possibly the only element of a Sequence)
  {
    const json* pt = j.contains("pre_tokenizer") ? &j["pre_tokenizer"] : nullptr;
    if (pt && pt->is_object() && pt->value("type", std::string()) == "Sequence" && (*pt)["pretokenizers"].size() == 1)
      pt = &(*pt)["pretokenizers"][0];
    if (!pt || !pt->is_object() || pt->value("type", std::string()) != "ByteLevel")
      throw Error("pre_tokenizer must be ByteLevel (byte-level BPE), got " + (pt ? pt->dump() : std::string("null")));
    tk.add_prefix_space_ = pt->value("add_prefix_space", false);
    tk.use_regex_ = pt->value("use_regex", true);
  }
  if (j.contains("decoder") && !j["decoder"].is_null() && j["decoder"].value("type", std::string()) != "ByteLevel")
    throw Error("decoder \"" + j["decoder"].value("type", std::string()) + "\" is not supported (ByteLevel)");
  // post-processor
  if (j.contains("post_processor") && !j["post_processor"].is_null()) {
    const json& pp = j["post_processor"];
    const std::string pt = pp.value("type", std::string());
    if (pt == "TemplateProcessing") {
      for (const auto& item : pp.at("single")) {
        if (item.contains("Sequence")) {
          tk.template_single_.push_back({true, 0});
        } else if (item.contains("SpecialToken")) {
          const std::string sid = item["SpecialToken"].at("id").get<std::string>();
          const auto& ids = pp.at("special_tokens").at(sid).at("ids");
          for (const auto& id : ids) tk.template_single_.push_back({false, id.get<int64_t>()});
        }
      }
    } else if (pt != "ByteLevel") {
      throw Error("post_processor \"" + pt + "\" is not supported (ByteLevel, TemplateProcessing)");
    }
  }
  return tk;
}

int64_t Tokenizer::vocab_size() const {
  int64_t n = static_cast<int64_t>(id_to_tok_.size());
  for (const auto& a : added_) n = std::max(n, a.id + 1);
  return n;
}

std::optional<int64_t> Tokenizer::token_to_id(const std::string& token) const {
  for (const auto& a : added_)
    if (a.content == token) return a.id;
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

std::string Tokenizer::id_to_token(int64_t id) const {
  auto it = added_by_id_.find(id);
  if (it != added_by_id_.end()) return added_[it->second].content;
  if (id >= 0 && id < static_cast<int64_t>(id_to_tok_.size())) return id_to_tok_[id];
  throw Error("token id " + std::to_string(id) + " is outside the vocabulary");
}

// ---------------------------------------------------------------------------------------------
// encoding
// ---------------------------------------------------------------------------------------------
void Tokenizer::bpe(const std::string& piece, std::vector<int64_t>& out) const {
  const ByteMap& bm = byte_map();
  std::string mapped;
  for (unsigned char b : piece) mapped += bm.as_utf8[b];
  if (ignore_merges_) {
    auto it = vocab_.find(mapped);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<int64_t> sym;
  sym.reserve(piece.size());
  for (unsigned char b : piece) {
    auto it = vocab_.find(bm.as_utf8[b]);
    if (it != vocab_.end()) sym.push_back(it->second);
    else if (unk_id_) sym.push_back(*unk_id_);
  }
  while (sym.size() > 1) {
    int32_t best_rank = std::numeric_limits<int32_t>::max();
    std::size_t best = 0;
    int64_t best_id = -1;
    for (std::size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = merges_.find(pair_key(sym[i], sym[i + 1]));
      if (it != merges_.end() && it->second.first < best_rank) {
        best_rank = it->second.first;
        best = i;
        best_id = it->second.second;
      }
    }
    if (best_id < 0) break;
    sym[best] = best_id;
    sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  out.insert(out.end(), sym.begin(), sym.end());
}

void Tokenizer::encode_segment(const std::string& seg, std::vector<int64_t>& out) const {
  if (seg.empty()) return;
  if (nfc_) {
    const Utf8Text t = decode_utf8(seg);
    for (uint32_t cp : t.cps)
      if (cp >= 0x300 && cp <= 0x36F) {
        warnings.push_back("NFC normalizer applied as identity on text with combining marks");
        break;
      }
  }
  std::string s = seg;
  if (add_prefix_space_ && s[0] != ' ') s.insert(s.begin(), ' ');
  if (!use_regex_) {
    bpe(s, out);
    return;
  }
  for (const auto& piece : split_gpt2(s)) bpe(piece, out);
}

std::vector<int64_t> Tokenizer::encode(const std::string& text, bool add_special_tokens) const {
  std::vector<int64_t> ids;
  // 1. split on added tokens: leftmost match, longest at that position
  const Utf8Text t = decode_utf8(text);
  const std::size_t n = text.size();
  auto cp_at = [&](std::size_t byte) -> uint32_t {  // code point starting at byte offset (or kInvalid)
    auto it = std::lower_bound(t.offs.begin(), t.offs.end(), byte);
    if (it == t.offs.end() || *it != byte || it - t.offs.begin() >= static_cast<std::ptrdiff_t>(t.cps.size()))
      return kInvalid;
    return t.cps[it - t.offs.begin()];
  };
  auto cp_before = [&](std::size_t byte) -> uint32_t {
    auto it = std::lower_bound(t.offs.begin(), t.offs.end(), byte);
    if (it == t.offs.begin()) return kInvalid;
    return t.cps[(it - t.offs.begin()) - 1];
  };
  std::size_t seg_start = 0, pos = 0;
  while (pos < n) {
    const AddedToken* best = nullptr;
    if (!added_.empty() && (pos == 0 || (static_cast<unsigned char>(text[pos]) & 0xC0) != 0x80)) {
      for (const auto& a : added_) {
        if (text.compare(pos, a.content.size(), a.content) != 0) continue;
        if (best && best->content.size() >= a.content.size()) continue;
        if (a.single_word) {
          const std::size_t e = pos + a.content.size();
          if ((pos > 0 && word_char(cp_before(pos))) || (e < n && word_char(cp_at(e)))) continue;
        }
        best = &a;
      }
    }
    if (!best) {
      ++pos;
      continue;
    }
    std::size_t mstart = pos, mend = pos + best->content.size();
    if (best->lstrip)
      while (mstart > seg_start && rust_whitespace(cp_before(mstart))) {
        const uint32_t cp = cp_before(mstart);
        mstart -= (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
      }
    if (best->rstrip)
      while (mend < n && rust_whitespace(cp_at(mend))) {
        const uint32_t cp = cp_at(mend);
        mend += (cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
      }
    encode_segment(text.substr(seg_start, mstart - seg_start), ids);
    ids.push_back(best->id);
    seg_start = pos = mend;
  }
  encode_segment(text.substr(seg_start), ids);
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
  const ByteMap& bm = byte_map();
  std::string bytes;
  for (int64_t id : ids) {
    auto ait = added_by_id_.find(id);
    std::string tok;
    if (ait != added_by_id_.end()) {
      if (skip_special_tokens && added_[ait->second].special) continue;
      tok = added_[ait->second].content;
    } else if (id >= 0 && id < static_cast<int64_t>(id_to_tok_.size())) {
      tok = id_to_tok_[id];
    } else {
      continue;  // as `tokenizers`: ids without a token (model padding rows) decode to nothing
    }
    // ByteLevel decoder: map every char back to its byte; a token with a char outside the map
    // is copied as UTF-8 unchanged.
    const Utf8Text u = decode_utf8(tok);
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
    bytes += ok ? b : tok;
  }
  return utf8_lossy(bytes);
}

}  // namespace ssmlab::hf
