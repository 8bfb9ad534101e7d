// train_checkpoint.cpp — ssmlab training-checkpoint file format (see train_checkpoint.h).
#include "ssmlab/hf/train_checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "ssmlab/safe_io.h"

namespace ssmlab::hf {

namespace {
constexpr char kMagic[8] = {'S', 'S', 'M', 'L', 'A', 'B', 'C', 'K'};

void put_le(std::string& s, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}
std::uint64_t get_le(const std::string& s, size_t off, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(s[off + i])) << (8 * i);
  return v;
}
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }
}  // namespace

std::uint32_t crc32_of(const std::uint8_t* p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes 32-bit lengths
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<std::uint32_t>(c);
}

std::string train_checkpoint_header(const std::vector<std::uint8_t>& payload) {
  std::string header(kMagic, 8);
  put_le(header, kTrainCheckpointVersion, 4);
  put_le(header, payload.size(), 8);
  put_le(header, crc32_of(payload.data(), payload.size()), 4);
  return header;
}

TrainCheckpointFile parse_train_checkpoint(std::string&& bytes, const std::string& where) {
  if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw Error(where + " is not an ssmlab checkpoint (bad magic; empty or foreign file)");
  if (bytes.size() < 12) throw Error(where + " is truncated (incomplete header)");
  const auto version = static_cast<std::uint32_t>(get_le(bytes, 8, 4));
  if (version < kTrainCheckpointVersion)
    throw Error(where + " has format version " + std::to_string(version) + ": written by an older ssmlab; retrain " +
                "(this build reads version " + std::to_string(kTrainCheckpointVersion) + ")");
  if (version > kTrainCheckpointVersion)
    throw Error(where + " has format version " + std::to_string(version) + ", newer than this build reads (" +
                std::to_string(kTrainCheckpointVersion) + ")");
  if (bytes.size() < kTrainCheckpointHeaderBytes) throw Error(where + " is truncated (incomplete header)");
  const std::uint64_t size = get_le(bytes, 12, 8);
  const auto crc = static_cast<std::uint32_t>(get_le(bytes, 20, 4));
  const size_t have = bytes.size() - kTrainCheckpointHeaderBytes;
  if (have < size)
    throw Error(where + " is truncated: " + std::to_string(have) + " of " + std::to_string(size) + " payload bytes present");
  if (have > size) throw Error(where + " is corrupt: " + std::to_string(have - size) + " trailing bytes");
  const auto* payload = reinterpret_cast<const std::uint8_t*>(bytes.data()) + kTrainCheckpointHeaderBytes;
  if (crc32_of(payload, size) != crc) throw Error(where + " is corrupt: CRC-32 mismatch");
  try {
    SafetensorsFile st = SafetensorsFile::from_bytes(std::vector<std::uint8_t>(payload, payload + size), where);
    bytes.clear();
    bytes.shrink_to_fit();
    auto it = st.metadata().find("ssmlab");
    if (it == st.metadata().end()) throw std::runtime_error("no 'ssmlab' metadata");
    nlohmann::json info = parse_json_limited(it->second, "metadata", 64);
    if (!info.is_object() || !info.contains("next_step") || !info["next_step"].is_number_integer() ||
        !info.contains("optimizer") || !info["optimizer"].is_object() || !info["optimizer"].contains("groups") ||
        !info["optimizer"]["groups"].is_array())
      throw std::runtime_error("metadata lacks next_step or optimizer groups");
    return TrainCheckpointFile{std::move(st), std::move(info)};
  } catch (const std::exception& e) {
    throw Error(where + " has a valid header and checksum but an unreadable payload: " + first_line(e.what()));
  }
}

}  // namespace ssmlab::hf
