// A reader for the one FlexBuffer shape custom ops carry as options: a map from keys to
// integers, booleans, floats or strings. Bounds-checked: a damaged buffer is an error,
// never a read outside it.
#ifndef BCN_LCE_FLEXBUFFERS_H_
#define BCN_LCE_FLEXBUFFERS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace bcn_lce {

struct FlexValue {
  enum class Kind { Int, Float, String, Other } kind = Kind::Other;
  int64_t int_value = 0;
  double float_value = 0;
  std::string string_value;
};

using FlexMap = std::map<std::string, FlexValue>;

// The map at the root of `data`, or nullopt (with `error` set) when it is not one.
std::optional<FlexMap> ParseFlexMap(const uint8_t* data, size_t size, std::string* error);

}  // namespace bcn_lce

#endif  // BCN_LCE_FLEXBUFFERS_H_
