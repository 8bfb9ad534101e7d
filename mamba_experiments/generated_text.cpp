// generated_text.cpp — a small template grammar of children's stories: the stand-in corpus for
// --allow-generated-text, so the quick reproduction runs on machines without the real files.
// A story: an opening that introduces a character (name, animal, trait), 2-4 event sentences that
// refer back to the character by name or pronoun, and a closing. About 150 distinct words; the
// name and object chosen in the opening recur later, so a model can lower its loss by
// remembering the story's own words (a mild recall component), not only by word statistics.
#include <sstream>
#include <vector>

#include "mamba_experiments/data.h"

namespace ssmlab::mamba_experiments {
namespace {
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  template <class T>
  const T& pick(const std::vector<T>& v) { return v[next() % v.size()]; }
};

const std::vector<std::string> kNames{"Lily", "Tom", "Mia", "Ben", "Sam", "Anna", "Max", "Lucy", "Jack", "Zoe", "Leo", "Emma"};
const std::vector<std::string> kAnimals{"cat", "dog", "bird", "fox", "rabbit", "bear", "frog", "duck", "mouse", "lion"};
const std::vector<std::string> kTraits{"little", "happy", "brave", "shy", "curious", "kind", "sleepy", "funny"};
const std::vector<std::string> kPlaces{"park", "forest", "garden", "house", "river", "hill", "school", "beach"};
const std::vector<std::string> kThings{"ball", "kite", "box", "hat", "cake", "book", "flower", "toy", "boat", "apple"};
const std::vector<std::string> kColors{"red", "blue", "green", "yellow", "big", "small", "shiny", "soft"};
const std::vector<std::string> kFeel{"happy", "sad", "scared", "excited", "tired", "proud", "surprised"};
const std::vector<std::string> kFriends{"friend", "mom", "dad", "sister", "brother", "teacher", "neighbor"};
const std::vector<std::string> kVerbsPast{"found", "lost", "saw", "wanted", "made", "shared", "hid", "painted"};
}  // namespace

std::string generated_stories(int64_t n_stories, uint64_t seed) {
  Rng r{seed * 0x9E3779B97F4A7C15ULL + 17};
  std::ostringstream os;
  for (int64_t i = 0; i < n_stories; ++i) {
    const std::string& name = r.pick(kNames);
    const std::string& animal = r.pick(kAnimals);
    const std::string& thing = r.pick(kThings);
    const std::string& place = r.pick(kPlaces);
    const std::string& color = r.pick(kColors);
    const std::string& friend_ = r.pick(kFriends);
    const std::string pron = (r.next() % 2) ? "he" : "she";
    const std::string poss = pron == "he" ? "his" : "her";
    switch (r.next() % 3) {
      case 0: os << "Once upon a time , there was a " << r.pick(kTraits) << " " << animal << " named " << name << " . "; break;
      case 1: os << "One day , a " << r.pick(kTraits) << " " << animal << " called " << name << " went to the " << place << " . "; break;
      default: os << name << " was a " << r.pick(kTraits) << " " << animal << " who lived near the " << place << " . "; break;
    }
    const int events = 2 + static_cast<int>(r.next() % 3);
    for (int e = 0; e < events; ++e) {
      switch (r.next() % 5) {
        case 0: os << name << " " << r.pick(kVerbsPast) << " a " << color << " " << thing << " in the " << place << " . "; break;
        case 1: os << pron << " felt " << r.pick(kFeel) << " and went to see " << poss << " " << friend_ << " . "; break;
        case 2: os << "The " << friend_ << " said , \" " << name << " , where is your " << thing << " ? \" "; break;
        case 3: os << name << " looked for the " << thing << " near the " << r.pick(kPlaces) << " . "; break;
        default: os << pron << " played with the " << thing << " all day . "; break;
      }
    }
    switch (r.next() % 3) {
      case 0: os << "In the end , " << name << " and " << poss << " " << friend_ << " were " << r.pick(kFeel) << " .\n"; break;
      case 1: os << name << " smiled and took the " << thing << " home .\n"; break;
      default: os << "From that day on , " << name << " the " << animal << " was never " << r.pick(kFeel) << " again .\n"; break;
    }
  }
  return os.str();
}

}  // namespace ssmlab::mamba_experiments
