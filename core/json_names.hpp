// SPDX-License-Identifier: MIT
// Copyright (c) clsync developers
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

/// Names are bytes (Linux file names need not be UTF-8); JSON strings must be UTF-8. This is the
/// one encoding clsync uses wherever a name (chunk key, file or volume path, table, partition
/// value) goes into JSON — output documents, plan files, intents, journals (SPEC §3, §9):
///
/// - a name that is valid UTF-8 is written unchanged under its field ("key": "Level1/…");
/// - any other name is written under its field in a readable, lossy form (each invalid byte is
///   U+FFFD), and exactly under the sibling field "<field>_b64": standard base64 (RFC 4648,
///   with padding) of its raw bytes. Readers take "<field>_b64" when present.
///
/// jq selects any name exactly with `select((.key_b64 // (.key|@base64)) == $b64)`.
namespace clsync::core {

/// Whether `s` is well-formed UTF-8 (shortest forms only, no surrogates, at most U+10FFFF).
bool is_utf8(std::string_view s) noexcept;

/// `s` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD.
/// Valid UTF-8 comes back unchanged.
std::string lossy_utf8(std::string_view s);

/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);
/// Decodes standard base64 (padding required); nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

/// Sets obj[field] to `name` as described above (and obj[field + "_b64"] when needed).
void put_name(nlohmann::json& obj, const std::string& field, std::string_view name);

struct Place;
/// {"node": …, "volume": …} (the volume put_name'd), as plans, journals and --json give places.
nlohmann::json place_json(const Place& p);

/// The exact name under `field` of `obj`: from "<field>_b64" when present, else the string
/// field itself. nullopt when the field is missing, not a string, or the base64 is not valid.
std::optional<std::string> get_name(const nlohmann::json& obj, const std::string& field);

/// Like get_name, with `fallback` when missing or malformed.
std::string get_name_or(const nlohmann::json& obj, const std::string& field, std::string fallback);

/// Serialises an output document; never throws on invalid UTF-8 (any string that missed
/// put_name is written lossy, U+FFFD) — a last safety net, not the encoding.
std::string dump_json(const nlohmann::json& doc, int indent = -1);

} // namespace clsync::core
