// The one table of LCE ops the delegate claims, by custom name.
#include <cstring>

#include "op.h"

namespace bcn_lce {

extern const OpType kLceQuantize, kLceDequantize, kLceBconv2d, kLceBMaxPool2d;

namespace {
const OpType* const kOpTypes[] = {&kLceQuantize, &kLceDequantize, &kLceBconv2d, &kLceBMaxPool2d};
}  // namespace

const OpType* FindOp(const char* custom_name) {
  for (const OpType* op : kOpTypes)
    if (std::strcmp(custom_name, op->name) == 0) return op;
  return nullptr;
}

}  // namespace bcn_lce
