// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

namespace clsync::test {

/// True in an AddressSanitizer build (CMake option CLSYNC_SANITIZE). ASan reserves terabytes of
/// address space for its shadow memory at start, so a test that caps a child's address space
/// (RLIMIT_AS) must not do so under it: the child's next mmap fails and ASan ends it.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool k_address_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool k_address_sanitizer = true;
#else
inline constexpr bool k_address_sanitizer = false;
#endif
#else
inline constexpr bool k_address_sanitizer = false;
#endif

} // namespace clsync::test
