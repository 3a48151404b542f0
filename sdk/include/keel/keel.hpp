#pragma once

// Everything a native module needs. See docs/native.md.

#include "keel/abi.hpp"
#include "keel/decimal.hpp"
#include "keel/env.hpp"
#include "keel/errors.hpp"
#include "keel/http.hpp"
#include "keel/layout.hpp"
#include "keel/loader.hpp"
#include "keel/module.hpp"
#include "keel/records.hpp"
#include "keel/value.hpp"
