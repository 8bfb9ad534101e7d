// squad.h — SQuAD v2 for pretrained_eval: the reader (official dev-v2.0.json layout), buckets by
// paragraph length in tokens, and the EM/F1 scores. Torch-free.
//
// One question per paragraph, as the original does: the SECOND question, 1-shot with the first
// question and its first gold answer as the example (tasks.h squad_prompt). A paragraph whose first
// two questions are not both answerable (fewer than two questions, is_impossible, or no gold
// answer) is skipped and counted. Questions are taken by position, never by id (the ids of the
// half dev set here are re-hashed).
//
// Normalisation (both implemented, the rule is recorded with every score):
//   official  (SQuAD v2 evaluate script): lower case, ASCII punctuation REMOVED, articles
//             a/an/the removed, whitespace collapsed.
//   reference (Jelassi et al.'s qa_evaluation_utils): underscores -> spaces, lower case, ASCII
//             punctuation and ‘ ’ ´ REPLACED BY SPACES, articles removed, whitespace collapsed.
// e.g. "U.S." -> "us" (official) vs "u s" (reference). Lower case is Unicode (ICU, root locale);
// articles are whole runs of word characters (letters, digits, '_'), as Python's \b delimits them.
// F1 is the bag-of-tokens F1; official: an empty prediction or gold scores 1 when both are empty
// (else 0); reference: 0 whenever no token is shared. Scores are maxima over the gold answers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pretrained/tasks.h"

namespace ssmlab::pretrained {

struct SquadQA {
  std::string question;
  std::vector<std::string> answers;  // gold answer texts (may repeat)
  bool impossible = false;
};
struct SquadParagraph {
  std::string context;
  std::vector<SquadQA> qas;
};

// Every paragraph of a SQuAD v2 file (data[].paragraphs[]). Throws DataError naming the file and the
// JSON path of the first field of the wrong shape ("data[2].paragraphs[0].qas[1].answers: ...").
std::vector<SquadParagraph> read_squad(const std::string& path);

struct SquadBucket {
  int64_t lo = 0, hi = 0;           // paragraphs with lo < tokens <= hi
  int64_t n_in_range = 0;           // paragraphs of that length
  int64_t n_unanswerable = 0;       // of those, skipped: first two questions not both answerable
  std::vector<Example> items;       // at most max_n, drawn at random from the rest
  std::vector<int64_t> context_tokens;  // per item
};
// `tokens[i]`: paragraph i's context length in tokens.
SquadBucket squad_bucket(const std::vector<SquadParagraph>& paras, const std::vector<int64_t>& tokens, int64_t lo,
                         int64_t hi, int64_t max_n, Rng& rng);

enum class Normalization { Official, Reference };
const char* normalization_name(Normalization n);  // "official" | "reference"
std::string normalize_answer(const std::string& s, Normalization rule);
double exact_match(const std::string& prediction, const std::string& gold, Normalization rule);
double f1_score(const std::string& prediction, const std::string& gold, Normalization rule);
double max_exact_match(const std::string& prediction, const std::vector<std::string>& golds, Normalization rule);
double max_f1(const std::string& prediction, const std::vector<std::string>& golds, Normalization rule);

}  // namespace ssmlab::pretrained
