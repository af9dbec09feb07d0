#include "flexbuffers.h"

#include <cstring>

namespace bcn_lce {
namespace {

// FlexBuffer type codes (flexbuffers::Type).
enum Type : int {
  kNull = 0,
  kInt = 1,
  kUInt = 2,
  kFloat = 3,
  kKey = 4,
  kString = 5,
  kIndirectInt = 6,
  kIndirectUInt = 7,
  kIndirectFloat = 8,
  kMap = 9,
  kBool = 26,
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool Fits(size_t offset, size_t width) const { return offset <= size_ && width <= size_ - offset; }

  bool ReadUInt(size_t offset, size_t width, uint64_t* value) const {
    if (!Fits(offset, width) || (width != 1 && width != 2 && width != 4 && width != 8)) return false;
    uint64_t result = 0;
    for (size_t i = 0; i < width; ++i) result |= uint64_t(data_[offset + i]) << (8 * i);  // little endian
    *value = result;
    return true;
  }

  bool ReadInt(size_t offset, size_t width, int64_t* value) const {
    uint64_t raw;
    if (!ReadUInt(offset, width, &raw)) return false;
    const unsigned shift = unsigned(64 - 8 * width);
    *value = shift == 0 ? int64_t(raw) : int64_t(raw << shift) >> shift;  // sign-extend
    return true;
  }

  bool ReadFloat(size_t offset, size_t width, double* value) const {
    uint64_t raw;
    if (!ReadUInt(offset, width, &raw)) return false;
    if (width == 4) {
      uint32_t bits = uint32_t(raw);
      float f;
      std::memcpy(&f, &bits, sizeof f);
      *value = f;
    } else if (width == 8) {
      std::memcpy(value, &raw, sizeof *value);
    } else {
      return false;
    }
    return true;
  }

  // The target of the offset stored at `offset` (offsets point backwards).
  bool Indirect(size_t offset, size_t width, size_t* target) const {
    uint64_t distance;
    if (!ReadUInt(offset, width, &distance) || distance > offset) return false;
    *target = offset - size_t(distance);
    return true;
  }

  bool ReadCString(size_t offset, std::string* out) const {
    if (offset >= size_) return false;
    const void* end = std::memchr(data_ + offset, 0, size_ - offset);
    if (end == nullptr) return false;
    out->assign(reinterpret_cast<const char*>(data_ + offset), static_cast<const uint8_t*>(end) - (data_ + offset));
    return true;
  }

  // One value stored at `offset` in a slot of `parent_width` bytes with packed type `packed`.
  bool ReadValue(size_t offset, size_t parent_width, uint8_t packed, FlexValue* out) const {
    const int type = packed >> 2;
    const size_t own_width = size_t(1) << (packed & 3);
    switch (type) {
      case kInt: out->kind = FlexValue::Kind::Int; return ReadInt(offset, parent_width, &out->int_value);
      case kUInt:
      case kBool: {
        uint64_t value;
        if (!ReadUInt(offset, parent_width, &value)) return false;
        out->kind = FlexValue::Kind::Int;
        out->int_value = int64_t(value);
        return true;
      }
      case kFloat: out->kind = FlexValue::Kind::Float; return ReadFloat(offset, parent_width, &out->float_value);
      case kIndirectInt:
      case kIndirectUInt: {
        size_t target;
        if (!Indirect(offset, parent_width, &target)) return false;
        out->kind = FlexValue::Kind::Int;
        return ReadInt(target, own_width, &out->int_value);
      }
      case kIndirectFloat: {
        size_t target;
        if (!Indirect(offset, parent_width, &target)) return false;
        out->kind = FlexValue::Kind::Float;
        return ReadFloat(target, own_width, &out->float_value);
      }
      case kString:
      case kKey: {
        size_t target;
        if (!Indirect(offset, parent_width, &target)) return false;
        out->kind = FlexValue::Kind::String;
        return ReadCString(target, &out->string_value);
      }
      default: out->kind = FlexValue::Kind::Other; return true;
    }
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

}  // namespace

std::optional<FlexMap> ParseFlexMap(const uint8_t* data, size_t size, std::string* error) {
  auto fail = [error](const char* why) -> std::optional<FlexMap> {
    if (error) *error = why;
    return std::nullopt;
  };
  if (data == nullptr || size < 3) return fail("options are missing");
  const Reader reader(data, size);
  const size_t root_width = data[size - 1];
  const uint8_t root_type = data[size - 2];
  if (root_width > size - 2 || (root_type >> 2) != kMap) return fail("options are not a FlexBuffer map");
  const size_t root_slot = size - 2 - root_width;
  size_t map;
  if (!reader.Indirect(root_slot, root_width, &map)) return fail("options are damaged");
  const size_t width = size_t(1) << (root_type & 3);

  uint64_t count, keys_width, keys_distance;
  if (map < 3 * width || !reader.ReadUInt(map - width, width, &count) ||
      !reader.ReadUInt(map - 2 * width, width, &keys_width) ||
      !reader.ReadUInt(map - 3 * width, width, &keys_distance) || keys_distance > map - 3 * width || count > size)
    return fail("options are damaged");
  const size_t keys = map - 3 * width - size_t(keys_distance);
  const size_t types = map + size_t(count) * width;
  if (!reader.Fits(types, size_t(count))) return fail("options are damaged");

  FlexMap result;
  for (size_t i = 0; i < count; ++i) {
    size_t key_target;
    std::string key;
    if (!reader.Indirect(keys + i * size_t(keys_width), size_t(keys_width), &key_target) ||
        !reader.ReadCString(key_target, &key))
      return fail("options are damaged");
    FlexValue value;
    if (!reader.ReadValue(map + i * width, width, data[types + i], &value)) return fail("options are damaged");
    result[key] = value;
  }
  return result;
}

}  // namespace bcn_lce
