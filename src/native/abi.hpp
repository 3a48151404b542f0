#pragma once

#include <optional>
#include <string>

#include "keel/abi.hpp"

namespace keel::native {

// The block this Keel expects, as the SDK headers it was built with write it.
const sdk::AbiBlock& host_abi();

// Why a module's block does not fit `host` (nullopt when it does), naming both sides:
// another SDK ABI version, compiler or standard library, or a newer Keel than this one.
std::optional<std::string> abi_mismatch(const sdk::AbiBlock& module, const sdk::AbiBlock& host);

// "SDK ABI 1, Keel 0.1.0, gcc 12, libstdc++ 12 cxx11"
std::string describe(const sdk::AbiBlock& block);

}  // namespace keel::native
