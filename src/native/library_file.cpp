#include "native/library_file.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "app/error.hpp"

namespace keel::native {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kNoteSection = ".note.keel.abi";

[[noreturn]] void unreadable(const std::string& where, const std::string& why) {
  throw Error("native.load", "cannot use " + where + ": " + why,
              "check that the library was built for this machine (a 64-bit ELF shared object)");
}

// `n` bytes at `offset` lie inside `size` (no overflow).
bool inside(std::uint64_t offset, std::uint64_t n, std::uint64_t size) {
  return offset <= size && n <= size - offset;
}

std::uint32_t align4(std::uint32_t n) {
  return (n + 3u) & ~3u;
}

}  // namespace

std::optional<sdk::AbiBlock> read_abi_note(std::string_view elf, const std::string& where) {
  Elf64_Ehdr eh{};
  if (elf.size() < sizeof eh) unreadable(where, "it is too short for an ELF file");
  std::memcpy(&eh, elf.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) unreadable(where, "it is not an ELF file");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
    unreadable(where, "it is not a 64-bit little-endian ELF file");
  if (eh.e_shnum == 0) return std::nullopt;  // no section headers: no note to find
  if (eh.e_shentsize != sizeof(Elf64_Shdr) ||
      !inside(eh.e_shoff, std::uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr), elf.size()) ||
      eh.e_shstrndx >= eh.e_shnum)
    unreadable(where, "its section headers lie outside the file");
  auto section = [&](size_t i) {
    Elf64_Shdr sh{};
    std::memcpy(&sh, elf.data() + eh.e_shoff + i * sizeof sh, sizeof sh);
    return sh;
  };
  Elf64_Shdr names = section(eh.e_shstrndx);
  if (!inside(names.sh_offset, names.sh_size, elf.size()))
    unreadable(where, "its section names lie outside the file");
  std::string_view strings = elf.substr(names.sh_offset, names.sh_size);
  for (size_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh = section(i);
    if (sh.sh_name >= strings.size()) continue;
    std::string_view name = strings.substr(sh.sh_name);
    name = name.substr(0, std::min(name.find('\0'), name.size()));
    if (name != kNoteSection || sh.sh_type == SHT_NOBITS) continue;
    if (!inside(sh.sh_offset, sh.sh_size, elf.size()))
      unreadable(where, "its section " + std::string(kNoteSection) + " lies outside the file");
    std::string_view notes = elf.substr(sh.sh_offset, sh.sh_size);
    while (notes.size() >= 12) {
      std::uint32_t head[3];
      std::memcpy(head, notes.data(), sizeof head);
      std::uint64_t name_at = 12, desc_at = name_at + align4(head[0]);
      std::uint64_t end = desc_at + align4(head[1]);
      if (head[0] > notes.size() || head[1] > notes.size() || end > notes.size())
        unreadable(where, "its ABI note is truncated");
      if (head[0] == 5 && head[2] == sdk::kAbiNoteType &&
          notes.substr(name_at, 5) == std::string_view("Keel\0", 5)) {
        sdk::AbiBlock block{};
        std::memcpy(&block, notes.data() + desc_at, std::min<size_t>(head[1], sizeof block));
        if (head[1] != sizeof block) block.size = head[1];
        return block;
      }
      notes.remove_prefix(end);
    }
  }
  return std::nullopt;
}

LibraryFile::LibraryFile(const fs::path& file) : path_(file) {
  fd_ = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) unreadable(file.string(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    unreadable(file.string(), "it is not a regular file");
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::pread(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd_);
      unreadable(file.string(), n < 0 ? std::strerror(errno) : "it shrank while it was read");
    }
    done += static_cast<size_t>(n);
  }
  std::array<unsigned char, crypto_hash_sha256_BYTES> hash{};
  if (sodium_init() < 0) {
    ::close(fd_);
    throw Error("crypto.init", "libsodium could not be initialised");
  }
  crypto_hash_sha256(hash.data(), reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size());
  std::array<char, crypto_hash_sha256_BYTES * 2 + 1> hex{};
  sodium_bin2hex(hex.data(), hex.size(), hash.data(), hash.size());
  digest_ = "sha256:" + std::string(hex.data());
  try {
    abi_ = read_abi_note(bytes, file.string());
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

LibraryFile::~LibraryFile() {
  if (fd_ >= 0 && !kept_) ::close(fd_);
}

std::string LibraryFile::loader_path() const {
  return "/proc/self/fd/" + std::to_string(fd_);
}

}  // namespace keel::native
