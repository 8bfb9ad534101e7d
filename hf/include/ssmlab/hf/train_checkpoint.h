// train_checkpoint.h — the file format of ssmlab's own training checkpoints (models::save_checkpoint /
// load_checkpoint), torch-free so that it can be fuzzed (tests/fuzz/fuzz_train_checkpoint.cpp).
//
// Layout (format version 3, little-endian):
//   "SSMLABCK" | u32 version | u64 payload size | u32 CRC-32 of the payload (zlib's crc32, the same as
//   Python's zlib.crc32) | payload = a safetensors image (hf::encode_safetensors) whose
//   __metadata__["ssmlab"] is a JSON object with at least next_step (integer) and
//   optimizer.groups (array). No pickle anywhere.
// Versions 1 and 2 (a LibTorch archive under a mis-seeded FNV-1a hash) are refused with a retrain hint.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ssmlab/hf/safetensors.h"

namespace ssmlab::hf {

constexpr std::uint32_t kTrainCheckpointVersion = 3;
constexpr size_t kTrainCheckpointHeaderBytes = 8 + 4 + 8 + 4;

// zlib's CRC-32 of n bytes (any n: fed to zlib in chunks below 2^32).
std::uint32_t crc32_of(const std::uint8_t* p, size_t n);

// The 24-byte header for `payload`, to be written before it.
std::string train_checkpoint_header(const std::vector<std::uint8_t>& payload);

struct TrainCheckpointFile {
  SafetensorsFile tensors;  // the payload's tensors (model/..., adamw/..., rng/...)
  nlohmann::json info;      // __metadata__["ssmlab"], checked to hold next_step and optimizer.groups
};

// Checks magic, version, sizes and the CRC, then decodes the payload and its metadata. `where` names
// the file in messages ("checkpoint 'x.ckpt'"). Throws hf::Error: "... is not an ssmlab checkpoint",
// "... is truncated ...", "... is corrupt: CRC-32 mismatch", "... written by an older ssmlab; retrain",
// "... has a valid header and checksum but an unreadable payload: ...". `bytes` is consumed.
TrainCheckpointFile parse_train_checkpoint(std::string&& bytes, const std::string& where);

}  // namespace ssmlab::hf
