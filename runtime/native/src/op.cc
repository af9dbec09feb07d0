#include "op.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>

namespace bcn_lce {

const TfLiteTensor* Tensor(const TfLiteContext* context, int index) {
  return index >= 0 && size_t(index) < context->tensors_size ? &context->tensors[index] : nullptr;
}

int Rank(const TfLiteTensor* t) { return t && t->dims ? t->dims->size : -1; }

int64_t Elements(const TfLiteTensor* t) {
  int64_t n = 1;
  for (int i = 0; i < t->dims->size; ++i) n *= t->dims->data[i];
  return n;
}

bool IsConstant(const TfLiteTensor* t) {
  return t->allocation_type == kTfLiteMmapRo || t->allocation_type == kTfLitePersistentRo;
}

const char* TypeName(TfLiteType type) {
  switch (type) {
    case kTfLiteFloat32: return "float32";
    case kTfLiteInt32: return "int32";
    case kTfLiteInt8: return "int8";
    case kTfLiteUInt8: return "uint8";
    case kTfLiteInt16: return "int16";
    case kTfLiteInt64: return "int64";
    default: return "another type";
  }
}

std::string Format(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  return buffer;
}

bool IntOption(const FlexMap& options, const char* key, int64_t* value, std::string* error) {
  auto it = options.find(key);
  if (it == options.end() || it->second.kind != FlexValue::Kind::Int) {
    *error = Format("option %s is missing or not an integer", key);
    return false;
  }
  *value = it->second.int_value;
  return true;
}

bool PaddingOption(const FlexMap& options, Padding* padding, std::string* error) {
  auto it = options.find("padding");
  if (it != options.end() && it->second.kind == FlexValue::Kind::String) {
    const std::string& s = it->second.string_value;
    if (s == "SAME" || s == "same") return *padding = Padding::Same, true;
    if (s == "VALID" || s == "valid") return *padding = Padding::Valid, true;
    *error = Format("padding=%s is not supported (SAME or VALID)", s.c_str());
    return false;
  }
  int64_t value;
  if (!IntOption(options, "padding", &value, error)) return false;
  if (value != 0 && value != 1) {
    *error = Format("padding=%lld is not supported (0: SAME, 1: VALID)", (long long)value);
    return false;
  }
  *padding = value == 0 ? Padding::Same : Padding::Valid;
  return true;
}

bool Positive(const FlexMap& options, const char* key, int* out, std::string* error) {
  int64_t value;
  if (!IntOption(options, key, &value, error)) return false;
  if (value < 1 || value > (1 << 20)) {
    *error = Format("%s=%lld is not supported (1 to %d)", key, (long long)value, 1 << 20);
    return false;
  }
  *out = int(value);
  return true;
}

int64_t TypeSize(TfLiteType type) {
  switch (type) {
    case kTfLiteFloat32:
    case kTfLiteInt32: return 4;
    case kTfLiteInt8:
    case kTfLiteUInt8: return 1;
    case kTfLiteInt16: return 2;
    case kTfLiteInt64: return 8;
    default: return 0;
  }
}

bool CheckDims(const int* dims, int size, const char* what, int rank, std::string* error) {
  if (rank ? size != rank : size < 1 || size > kMaxRank) {
    *error = rank ? Format("%s must be %d-D, not %d-D", what, rank, size)
                  : Format("%s must have 1 to %d dimensions, not %d", what, kMaxRank, size);
    return false;
  }
  int64_t elements = 1;
  for (int i = 0; i < size; ++i) {
    if (dims[i] < 1 || dims[i] > kMaxDimension) {
      *error = Format("%s dimension %d is %d (1 to %lld supported)", what, i, dims[i], (long long)kMaxDimension);
      return false;
    }
    elements *= dims[i];
    if (elements > kMaxElements) {
      *error = Format("%s has more than %lld elements", what, (long long)kMaxElements);
      return false;
    }
  }
  return true;
}

bool CheckInput(const TfLiteTensor* t, const char* what, int rank, std::string* error) {
  if (!t || !t->dims) {
    *error = Format("%s is missing", what);
    return false;
  }
  if (!CheckDims(t->dims->data, t->dims->size, what, rank, error)) return false;
  if (t->sparsity) {
    *error = Format("%s is a sparse tensor (LCE ops take dense ones)", what);
    return false;
  }
  const int64_t needed = Elements(t) * TypeSize(t->type);
  if (t->bytes < uint64_t(needed) || (IsConstant(t) && !t->data.raw)) {
    *error = Format("%s holds %zu bytes, its shape needs %lld", what, t->bytes, (long long)needed);
    return false;
  }
  return true;
}

bool CheckWeight(const TfLiteTensor* t, const char* what, TfLiteType type, std::string* error) {
  if (!t)
    *error = Format("%s is missing", what);
  else if (t->type != type)
    *error = Format("%s must be %s, not %s", what, TypeName(type), TypeName(t->type));
  else if (!IsConstant(t))
    *error = Format("%s is not a constant tensor", what);
  else
    return true;
  return false;
}

bool CheckInt8(const TfLiteTensor* t, const char* what, std::string* error) {
  if (t->type != kTfLiteInt8) return true;
  const float scale = t->params.scale;
  const int32_t zero_point = t->params.zero_point;
  if (!std::isfinite(scale) || !(scale > 0)) {
    *error = Format("int8 %s has no valid quantization scale (%g)", what, double(scale));
    return false;
  }
  if (zero_point < -128 || zero_point > 127) {
    *error = Format("int8 %s has zero point %d, outside -128 to 127", what, int(zero_point));
    return false;
  }
  return true;
}

std::optional<FlexMap> NodeOptions(const TfLiteNode* node, std::string* error) {
  return ParseFlexMap(static_cast<const uint8_t*>(node->custom_initial_data), size_t(node->custom_initial_data_size),
                      error);
}

bool CheckType(TfLiteType type, std::initializer_list<TfLiteType> allowed, const char* what, const char* names,
               std::string* error) {
  for (TfLiteType t : allowed)
    if (type == t) return true;
  *error = Format("%s type %s is not supported (%s)", what, TypeName(type), names);
  return false;
}

}  // namespace bcn_lce
