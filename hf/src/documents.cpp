// documents.cpp — JSON-lines corpora (.jsonl / .json / .json.gz) and the held-out rule (documents.h).
#include "ssmlab/hf/documents.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "ssmlab/hf/safetensors.h"  // hf::Error
#include "ssmlab/safe_io.h"

namespace ssmlab::hf {

namespace {
// The whole file, decompressed when it is gzip (gzread passes other files through unchanged).
std::string read_maybe_gzip(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error("corpus file not found (or not a regular file): " + path);
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error(path + ": cannot open");
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int errnum = 0;
      const std::string msg = gzerror(f, &errnum);
      gzclose(f);
      throw Error(path + ": gzip error: " + msg);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxAnyFileBytes) {
      gzclose(f);
      throw Error(path + ": larger than the read limit once decompressed");
    }
  }
  // A truncated .gz ends without an error from gzread on some zlib versions: gzclose reports it.
  if (gzclose(f) != Z_OK) throw Error(path + ": gzip stream is truncated or corrupt");
  return out;
}
}  // namespace

JsonlDocuments read_jsonl_documents(const std::string& path, const std::string& field) {
  JsonlDocuments d;
  d.path = path;
  const std::string text = read_maybe_gzip(path);
  auto take = [&](const nlohmann::json& j, const std::string& where) {
    if (j.is_object() && j.contains(field) && j[field].is_string()) {
      d.texts.push_back(j[field].get<std::string>());
      return;
    }
    if (d.bad_lines++ == 0) d.first_bad = where + ": not an object with a string field \"" + field + "\"";
  };
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {  // one JSON array of objects
    nlohmann::json arr;
    try {
      arr = parse_json_limited(text, path);
    } catch (const std::exception& e) {
      throw Error(path + ": a JSON array that does not parse: " + e.what());
    }
    for (size_t i = 0; i < arr.size(); ++i) take(arr[i], "element " + std::to_string(i));
    return d;
  }
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = "line " + std::to_string(line_no);
    try {
      take(parse_json_limited(line, path), where);
    } catch (const std::exception& e) {
      if (d.bad_lines++ == 0) d.first_bad = where + ": " + e.what();
    }
  }
  return d;
}

int64_t held_out_count(int64_t n_docs) { return std::min<int64_t>(kHeldOutDocuments, std::max<int64_t>(n_docs, 0) / 5); }

std::vector<std::string> training_documents(const std::vector<std::string>& docs) {
  const auto n = static_cast<int64_t>(docs.size());
  return {docs.begin(), docs.begin() + (n - held_out_count(n))};
}

std::vector<std::string> evaluation_documents(const std::vector<std::string>& docs) {
  const auto n = static_cast<int64_t>(docs.size());
  return {docs.begin() + (n - held_out_count(n)), docs.end()};
}

}  // namespace ssmlab::hf
