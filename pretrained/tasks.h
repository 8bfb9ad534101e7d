// tasks.h — the three evaluation tasks of Jelassi et al. 2024 ("Repeat After Me", §pretrained) as
// prompt builders, cut rules and samplers, torch-free (pretrained_eval runs them through models::generate).
// docs/pretrained.md has the full description; ../shared/reference/pretrained_tasks.md the original's behaviour.
//
// Legend: L the task's length (c4_copy: tokens of the copied text; phone_book: entries; squad:
// paragraph tokens, bucketed), P prompt tokens.
//
//   c4_copy     prompt  = T "\n\n" T "\n\n" W          T: L tokens of C4 text, decoded, newlines -> spaces,
//                                                       stripped; W: T up to its first space
//               answer  = T after its first space (stripped)
//               cut     = generated text up to the first "\n\n", newlines -> spaces, stripped; exact match
//               budget  = floor(1.5 P) + 50 - P new tokens (the original's max_length = 1.5 P + 50)
//   phone_book  prompt  = E_1 "\n" ... E_L "\n\n" E_a "\n" E_b "\n\n" N_q ":"
//                                                       E_i = "First Last: dddddddddd", a, b, q distinct
//               answer  = the 10 digits of entry q;  cut = first line, stripped; exact match; budget 50
//   squad       prompt  = C "\n\nQuestion: " Q1 "\nAnswer: " A1 "\n\nQuestion: " Q2 "\nAnswer: "
//               answers = every gold answer of Q2;  cut = up to the first "\n\n" (and "<|endoftext|>"),
//               stripped; EM/F1 (squad.h), max over gold answers; budget 200
//
// Randomness: std::mt19937_64 (its output is fixed by the standard) with our own modulo draws, so
// a seed gives the same prompts on every platform.
#pragma once

#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace ssmlab::hf {
class Tokenizer;
}

namespace ssmlab::pretrained {

// Bad or missing data the user pointed at; the message names the files. pretrained_eval: exit 2.
struct DataError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using Rng = std::mt19937_64;
int64_t draw_below(Rng& rng, int64_t n);  // uniform in [0, n) (modulo; n >= 1)
double draw_unit(Rng& rng);               // uniform in [0, 1)

// One prompt and what counts as right: answers.size() == 1 except for squad (every gold answer).
struct Example {
  std::string prompt;
  std::vector<std::string> answers;
};

std::string strip(const std::string& s);  // ASCII whitespace at both ends

// ---- c4_copy -----------------------------------------------------------------------------------
Example c4_copy_example(const std::string& text);  // `text` already flattened and stripped
std::string c4_copy_cut(const std::string& generated);
int64_t c4_copy_budget(int64_t prompt_tokens);
// The copied text for length L: documents drawn at random (distinct while the pool lasts; 10, more if
// they hold <= L tokens) are concatenated as they are, tokenized, a window of exactly L tokens starts
// at a uniform offset in [0, n - L), its ids are shuffled when `shuffle` (--text-order random: token
// ids, as the original does), then decoded, newlines become spaces and the ends are stripped.
// Throws DataError when the pool is empty or all of it holds <= L tokens.
std::string c4_copy_text(const std::vector<std::string>& pool, const hf::Tokenizer& tok, int64_t L, bool shuffle,
                         Rng& rng);

// ---- phone_book --------------------------------------------------------------------------------
// A name list: 1990 census layout ("JAMES  3.318  3.318  1": name, frequency %, cumulative %, rank),
// names drawn with probability proportional to the frequency; or any one-name-per-line list (first
// word of each line, uniform). Names are capitalised ("JAMES" -> "James"), as the `names` package does.
struct NameList {
  std::string path;
  std::vector<std::string> names;
  std::vector<double> cumulative;  // running sum of the weights
  const std::string& draw(Rng& rng) const;
};
NameList read_name_list(const std::string& path);  // DataError: missing file, no names
struct CensusNames {
  std::vector<NameList> first;  // male and/or female lists: one is picked uniformly per name
  NameList last;
};
// <dir>/dist.male.first, dist.female.first (at least one), dist.all.last. DataError naming them.
CensusNames load_census_names(const std::string& dir);

struct PhoneEntry {
  std::string name, number;
};
std::string phone_number(Rng& rng);  // 10 digits, the first in 6-9
// L entries with distinct full names. DataError when the lists cannot give L distinct names.
std::vector<PhoneEntry> make_phone_book(const CensusNames& names, int64_t L, Rng& rng);
// The prompt with entries a, b as the two examples and q as the query (distinct indices).
Example phone_book_example(const std::vector<PhoneEntry>& book, size_t a, size_t b, size_t q);
Example phone_book_sample(const std::vector<PhoneEntry>& book, Rng& rng);  // a, b, q drawn distinct; L >= 3
std::string phone_book_cut(const std::string& generated);
inline constexpr int64_t kPhoneBookBudget = 50;

// ---- squad (prompt and cut; the data set, buckets and scores are in squad.h) --------------------
std::string squad_prompt(const std::string& context, const std::string& q1, const std::string& a1,
                         const std::string& q2);
std::string squad_cut(const std::string& generated);
inline constexpr int64_t kSquadBudget = 200;

}  // namespace ssmlab::pretrained
