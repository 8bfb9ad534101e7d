// squad.cpp — SQuAD v2 reader, buckets and EM/F1 (squad.h).
#include "pretrained/squad.h"

#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "ssmlab/safe_io.h"

namespace ssmlab::pretrained {

using nlohmann::json;

// ---- reader ------------------------------------------------------------------------------------
namespace {
const json& field(const json& j, const std::string& key, const std::string& where, bool (json::*is)() const,
                  const char* type) {
  if (!j.is_object()) throw DataError(where + ": expected an object");
  auto it = j.find(key);
  if (it == j.end() || !((*it).*is)()) throw DataError(where + "." + key + ": expected " + type);
  return *it;
}
}  // namespace

std::vector<SquadParagraph> read_squad(const std::string& path) {
  json root;
  try {
    root = read_json_file(path);
  } catch (const std::exception& e) {
    throw DataError(std::string("squad: ") + e.what());
  }
  std::vector<SquadParagraph> out;
  try {
    const json& data = field(root, "data", "(root)", &json::is_array, "an array");
    for (size_t a = 0; a < data.size(); ++a) {
      const std::string wa = "data[" + std::to_string(a) + "]";
      const json& paras = field(data[a], "paragraphs", wa, &json::is_array, "an array");
      for (size_t p = 0; p < paras.size(); ++p) {
        const std::string wp = wa + ".paragraphs[" + std::to_string(p) + "]";
        SquadParagraph para;
        para.context = field(paras[p], "context", wp, &json::is_string, "a string").get<std::string>();
        const json& qas = field(paras[p], "qas", wp, &json::is_array, "an array");
        for (size_t q = 0; q < qas.size(); ++q) {
          const std::string wq = wp + ".qas[" + std::to_string(q) + "]";
          SquadQA qa;
          qa.question = field(qas[q], "question", wq, &json::is_string, "a string").get<std::string>();
          const json& answers = field(qas[q], "answers", wq, &json::is_array, "an array");
          for (size_t k = 0; k < answers.size(); ++k)
            qa.answers.push_back(field(answers[k], "text", wq + ".answers[" + std::to_string(k) + "]",
                                       &json::is_string, "a string")
                                     .get<std::string>());
          if (qas[q].contains("is_impossible"))
            qa.impossible = field(qas[q], "is_impossible", wq, &json::is_boolean, "a boolean").get<bool>();
          para.qas.push_back(std::move(qa));
        }
        out.push_back(std::move(para));
      }
    }
  } catch (const DataError& e) {
    throw DataError("squad: " + path + ": not the SQuAD v2 layout: " + e.what());
  }
  if (out.empty()) throw DataError("squad: " + path + " holds no paragraphs");
  return out;
}

SquadBucket squad_bucket(const std::vector<SquadParagraph>& paras, const std::vector<int64_t>& tokens, int64_t lo,
                         int64_t hi, int64_t max_n, Rng& rng) {
  SquadBucket b;
  b.lo = lo;
  b.hi = hi;
  std::vector<size_t> ok;
  auto answerable = [](const SquadQA& q) { return !q.impossible && !q.answers.empty(); };
  for (size_t i = 0; i < paras.size(); ++i) {
    if (tokens[i] <= lo || tokens[i] > hi) continue;
    ++b.n_in_range;
    const auto& q = paras[i].qas;
    if (q.size() >= 2 && answerable(q[0]) && answerable(q[1])) ok.push_back(i);
    else ++b.n_unanswerable;
  }
  for (size_t i = ok.size(); i > 1; --i) std::swap(ok[i - 1], ok[static_cast<size_t>(draw_below(rng, static_cast<int64_t>(i)))]);
  if (static_cast<int64_t>(ok.size()) > max_n) ok.resize(static_cast<size_t>(max_n));
  for (size_t i : ok) {
    const auto& q = paras[i].qas;
    b.items.push_back({squad_prompt(paras[i].context, q[0].question, q[0].answers[0], q[1].question), q[1].answers});
    b.context_tokens.push_back(tokens[i]);
  }
  return b;
}

// ---- normalisation and scores ------------------------------------------------------------------
const char* normalization_name(Normalization n) { return n == Normalization::Official ? "official" : "reference"; }

namespace {
bool ascii_punct(UChar32 c) { return c < 128 && std::ispunct(static_cast<int>(c)); }  // Python's string.punctuation
bool word_char(UChar32 c) { return c == '_' || u_isalnum(c); }

std::vector<std::string> normalized_tokens(const std::string& s, Normalization rule) {
  icu::UnicodeString u = icu::UnicodeString::fromUTF8(s);
  if (rule == Normalization::Reference) u.findAndReplace("_", " ");
  u.toLower();  // root locale
  // Punctuation: removed (official) or replaced by a space (reference, which also treats ‘ ’ ´ so).
  icu::UnicodeString v;
  for (int32_t i = 0; i < u.length(); i = u.moveIndex32(i, 1)) {
    const UChar32 c = u.char32At(i);
    const bool punct = ascii_punct(c) || (rule == Normalization::Reference && (c == 0x2018 || c == 0x2019 || c == 0xB4));
    if (!punct) v.append(c);
    else if (rule == Normalization::Reference) v.append(static_cast<UChar32>(' '));
  }
  // Articles (whole word-character runs) become spaces; then split on white space.
  std::vector<std::string> out;
  // Tokens are the maximal runs of non-white-space; an article is a whole run of word characters
  // ("the-end" -> "-end" as Python's \b(a|an|the)\b gives, "a1" and "theater" stay) and ends the token.
  std::string token;
  auto end_token = [&] {
    if (!token.empty()) out.push_back(token);
    token.clear();
  };
  for (int32_t i = 0; i < v.length();) {
    const UChar32 c = v.char32At(i);
    if (u_isUWhiteSpace(c)) {
      end_token();
      i = v.moveIndex32(i, 1);
      continue;
    }
    int32_t j = i;
    const bool w = word_char(c);
    while (j < v.length() && !u_isUWhiteSpace(v.char32At(j)) && word_char(v.char32At(j)) == w) j = v.moveIndex32(j, 1);
    std::string run;
    v.tempSubStringBetween(i, j).toUTF8String(run);
    if (w && (run == "a" || run == "an" || run == "the")) end_token();  // the article becomes a space
    else token += run;
    i = j;
  }
  end_token();
  return out;
}

std::string join(const std::vector<std::string>& toks) {
  std::string s;
  for (size_t i = 0; i < toks.size(); ++i) s += (i ? " " : "") + toks[i];
  return s;
}
}  // namespace

std::string normalize_answer(const std::string& s, Normalization rule) { return join(normalized_tokens(s, rule)); }

double exact_match(const std::string& prediction, const std::string& gold, Normalization rule) {
  return normalize_answer(prediction, rule) == normalize_answer(gold, rule) ? 1.0 : 0.0;
}

double f1_score(const std::string& prediction, const std::string& gold, Normalization rule) {
  const auto p = normalized_tokens(prediction, rule), g = normalized_tokens(gold, rule);
  if (rule == Normalization::Official && (p.empty() || g.empty())) return p == g ? 1.0 : 0.0;
  std::map<std::string, int64_t> count;
  for (const auto& t : g) ++count[t];
  int64_t same = 0;
  for (const auto& t : p)
    if (count[t]-- > 0) ++same;
  if (same == 0) return 0.0;
  const double precision = static_cast<double>(same) / static_cast<double>(p.size());
  const double recall = static_cast<double>(same) / static_cast<double>(g.size());
  return 2 * precision * recall / (precision + recall);
}

double max_exact_match(const std::string& prediction, const std::vector<std::string>& golds, Normalization rule) {
  double best = 0;
  for (const auto& g : golds) best = std::max(best, exact_match(prediction, g, rule));
  return best;
}

double max_f1(const std::string& prediction, const std::vector<std::string>& golds, Normalization rule) {
  double best = 0;
  for (const auto& g : golds) best = std::max(best, f1_score(prediction, g, rule));
  return best;
}

}  // namespace ssmlab::pretrained
