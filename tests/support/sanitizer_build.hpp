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

/// True in a ThreadSanitizer build, which maps its shadow and metadata at start as ASan does.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool k_thread_sanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool k_thread_sanitizer = true;
#else
inline constexpr bool k_thread_sanitizer = false;
#endif
#else
inline constexpr bool k_thread_sanitizer = false;
#endif

/// A child under RLIMIT_AS dies at start under either sanitizer ("failed to allocate ... stack
/// depot", exit 99 under TSan): tests cap address space only when this is false.
inline constexpr bool k_sanitizer_reserves_address_space = k_address_sanitizer || k_thread_sanitizer;

} // namespace clsync::test
