// tasks.cpp — prompt builders, cut rules and samplers of tasks.h.
#include "pretrained/tasks.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "ssmlab/hf/tokenizer.h"
#include "ssmlab/safe_io.h"

namespace ssmlab::pretrained {

int64_t draw_below(Rng& rng, int64_t n) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(n)); }
double draw_unit(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

std::string strip(const std::string& s) {
  const char* ws = " \t\n\r\f\v";
  const size_t a = s.find_first_not_of(ws);
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(ws) - a + 1);
}

namespace {
std::string before(const std::string& s, const std::string& sep) { return s.substr(0, s.find(sep)); }
std::string newlines_to_spaces(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}
}  // namespace

// ---- c4_copy -----------------------------------------------------------------------------------
Example c4_copy_example(const std::string& text) {
  const size_t sp = text.find(' ');
  const std::string first = text.substr(0, sp);
  const std::string rest = sp == std::string::npos ? "" : text.substr(sp + 1);
  return {text + "\n\n" + text + "\n\n" + first, {strip(rest)}};
}

std::string c4_copy_cut(const std::string& generated) { return strip(newlines_to_spaces(before(generated, "\n\n"))); }

int64_t c4_copy_budget(int64_t prompt_tokens) { return (3 * prompt_tokens) / 2 + 50 - prompt_tokens; }

std::string c4_copy_text(const std::vector<std::string>& pool, const hf::Tokenizer& tok, int64_t L, bool shuffle,
                         Rng& rng) {
  if (pool.empty()) throw DataError("c4_copy: no evaluation documents");
  std::vector<size_t> order(pool.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::string text;
  std::vector<int64_t> ids;
  size_t used = 0;  // documents taken from a partial Fisher-Yates shuffle of `order`
  for (int round = 0; static_cast<int64_t>(ids.size()) <= L; ++round) {
    if (round > 0 && used == order.size()) throw DataError("c4_copy: the evaluation documents hold only " +
                                                           std::to_string(ids.size()) + " tokens, not more than " +
                                                           std::to_string(L));
    for (int k = 0; k < 10 && used < order.size(); ++k, ++used) {
      std::swap(order[used], order[used + static_cast<size_t>(draw_below(rng, static_cast<int64_t>(order.size() - used)))]);
      text += pool[order[used]];
    }
    ids = tok.encode(text);
  }
  const int64_t start = draw_below(rng, static_cast<int64_t>(ids.size()) - L);
  std::vector<int64_t> window(ids.begin() + start, ids.begin() + start + L);
  if (shuffle)
    for (size_t i = window.size(); i > 1; --i) std::swap(window[i - 1], window[static_cast<size_t>(draw_below(rng, static_cast<int64_t>(i)))]);
  return strip(newlines_to_spaces(tok.decode(window)));
}

// ---- phone_book --------------------------------------------------------------------------------
const std::string& NameList::draw(Rng& rng) const {
  const double u = draw_unit(rng) * cumulative.back();
  const size_t i = static_cast<size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin());
  return names[std::min(i, names.size() - 1)];
}

NameList read_name_list(const std::string& path) {
  NameList list;
  list.path = path;
  std::string text;
  try {
    text = read_regular_file(path, kMaxJsonFileBytes, "name list");
  } catch (const std::exception& e) {
    throw DataError(std::string("name list: ") + e.what());
  }
  std::istringstream lines(text);
  std::string line;
  double total = 0;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string name;
    double freq = 1;
    if (!(fields >> name)) continue;
    std::string f;
    if (fields >> f) {  // census layout: the frequency column; anything else: weight 1
      try {
        size_t used = 0;
        const double v = std::stod(f, &used);
        if (used == f.size() && v > 0) freq = v;
      } catch (const std::exception&) {
      }
    }
    for (size_t i = 0; i < name.size(); ++i)
      name[i] = static_cast<char>(i == 0 ? std::toupper(static_cast<unsigned char>(name[i]))
                                         : std::tolower(static_cast<unsigned char>(name[i])));
    list.names.push_back(name);
    list.cumulative.push_back(total += freq);
  }
  if (list.names.empty()) throw DataError("name list " + path + " holds no names");
  return list;
}

CensusNames load_census_names(const std::string& dir) {
  namespace fs = std::filesystem;
  CensusNames c;
  const fs::path d(dir);
  for (const char* f : {"dist.male.first", "dist.female.first"})
    if (fs::exists(d / f)) c.first.push_back(read_name_list((d / f).string()));
  if (c.first.empty() || !fs::exists(d / "dist.all.last"))
    throw DataError("phone_book: census name lists not found; looked for " + (d / "dist.male.first").string() + " or " +
                    (d / "dist.female.first").string() + ", and " + (d / "dist.all.last").string());
  c.last = read_name_list((d / "dist.all.last").string());
  return c;
}

std::string phone_number(Rng& rng) {
  std::string n(1, static_cast<char>('6' + draw_below(rng, 4)));
  for (int i = 1; i < 10; ++i) n += static_cast<char>('0' + draw_below(rng, 10));
  return n;
}

std::vector<PhoneEntry> make_phone_book(const CensusNames& names, int64_t L, Rng& rng) {
  std::vector<PhoneEntry> book;
  std::set<std::string> seen;
  for (int64_t tries = 0; static_cast<int64_t>(book.size()) < L; ++tries) {
    if (tries > 100 * L + 1000)
      throw DataError("phone_book: the name lists do not give " + std::to_string(L) + " distinct names (got " +
                      std::to_string(book.size()) + ")");
    const auto& first = names.first[static_cast<size_t>(draw_below(rng, static_cast<int64_t>(names.first.size())))];
    std::string name = first.draw(rng) + " " + names.last.draw(rng);
    if (!seen.insert(name).second) continue;
    book.push_back({name, phone_number(rng)});
  }
  return book;
}

Example phone_book_example(const std::vector<PhoneEntry>& book, size_t a, size_t b, size_t q) {
  auto entry = [&](size_t i) { return book[i].name + ": " + book[i].number; };
  std::string p;
  for (size_t i = 0; i < book.size(); ++i) p += (i ? "\n" : "") + entry(i);
  p += "\n\n" + entry(a) + "\n" + entry(b) + "\n\n" + book[q].name + ":";
  return {p, {book[q].number}};
}

Example phone_book_sample(const std::vector<PhoneEntry>& book, Rng& rng) {
  if (book.size() < 3) throw std::invalid_argument("phone_book: a book needs at least 3 entries");
  const auto n = static_cast<int64_t>(book.size());
  size_t idx[3];
  for (int k = 0; k < 3; ++k) {
    do idx[k] = static_cast<size_t>(draw_below(rng, n));
    while ((k > 0 && idx[k] == idx[0]) || (k > 1 && idx[k] == idx[1]));
  }
  return phone_book_example(book, idx[0], idx[1], idx[2]);
}

std::string phone_book_cut(const std::string& generated) { return strip(before(generated, "\n")); }

// ---- squad -------------------------------------------------------------------------------------
std::string squad_prompt(const std::string& context, const std::string& q1, const std::string& a1,
                         const std::string& q2) {
  return context + "\n\nQuestion: " + q1 + "\nAnswer: " + a1 + "\n\nQuestion: " + q2 + "\nAnswer: ";
}

std::string squad_cut(const std::string& generated) {
  return strip(before(before(generated, "\n\n"), "<|endoftext|>"));
}

}  // namespace ssmlab::pretrained
