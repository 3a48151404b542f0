#pragma once

// A module's library as a file, before anything of it runs: its SHA-256 (what `keel module sign`
// records) and its ABI note (section .note.keel.abi, written by KEEL_MODULE), both read from one
// open descriptor. The dynamic loader then opens that same descriptor (/proc/self/fd/N), so the
// code that runs is the code whose bytes were checked, even if the path is replaced meanwhile.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "keel/abi.hpp"

namespace keel::native {

class LibraryFile {
 public:
  // Opens and reads `file`; throws keel::Error (native.load) when it cannot.
  explicit LibraryFile(const std::filesystem::path& file);
  ~LibraryFile();
  LibraryFile(const LibraryFile&) = delete;
  LibraryFile& operator=(const LibraryFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // "sha256:<64 hex digits>" of the bytes read.
  const std::string& digest() const { return digest_; }
  // The ABI note; nullopt when the file has none (an older SDK, or no KEEL_MODULE).
  const std::optional<sdk::AbiBlock>& abi() const { return abi_; }
  // What to hand to dlopen: the open descriptor, not the path.
  std::string loader_path() const;
  // Once the library is loaded: the descriptor stays open for good, like the library, so that
  // its number (the name the dynamic loader knows the library by) is never another library's.
  void keep_open() const { kept_ = true; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  mutable bool kept_ = false;
  std::string digest_;
  std::optional<sdk::AbiBlock> abi_;
};

// The ABI note of the ELF image `elf` (64-bit, little-endian, like this machine); nullopt when
// there is none. A note of another size is returned with the sizes it declares (so that the
// check reports another SDK ABI). Throws keel::Error (native.load) for a file that is not such
// an ELF image or whose headers point outside it.
std::optional<sdk::AbiBlock> read_abi_note(std::string_view elf, const std::string& where);

}  // namespace keel::native
