// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <string>

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

/// The clsync binary a test runs to bound its peak RSS: CLSYNC_BINARY, but in a sanitized build
/// the Release clsync of CMake's CLSYNC_RELEASE_BUILD (a sanitized process's RSS is mostly the
/// sanitizer's shadow memory and quarantine: 742 MiB against a bound of 512). Without one the
/// calling test fails rather than not checking its bound.
std::string rss_binary();

} // namespace clsync::test
