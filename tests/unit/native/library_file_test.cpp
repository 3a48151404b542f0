// The ABI note read from a library's file before it is opened (native/library_file.hpp), on
// ELF images built here: one with the note KEEL_MODULE writes, and broken ones.

#include "native/library_file.hpp"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "app/error.hpp"
#include "native/abi.hpp"

namespace keel::native {
namespace {

// A 64-bit ELF image with a section header table: a null section, the section names and a
// section ".note.keel.abi" holding `notes`.
std::string elf_with(const std::string& notes, const char* section = ".note.keel.abi") {
  std::string names = std::string("\0.shstrtab\0", 11) + section + '\0';
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_DYN;
  eh.e_machine = EM_X86_64;
  eh.e_ehsize = sizeof eh;
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = 3;
  eh.e_shstrndx = 1;
  std::uint64_t names_at = sizeof eh, notes_at = names_at + names.size();
  eh.e_shoff = notes_at + notes.size();
  Elf64_Shdr sh[3]{};
  sh[1].sh_name = 1;
  sh[1].sh_type = SHT_STRTAB;
  sh[1].sh_offset = names_at;
  sh[1].sh_size = names.size();
  sh[2].sh_name = 11;
  sh[2].sh_type = SHT_NOTE;
  sh[2].sh_offset = notes_at;
  sh[2].sh_size = notes.size();
  std::string out(reinterpret_cast<const char*>(&eh), sizeof eh);
  out += names + notes;
  out.append(reinterpret_cast<const char*>(sh), sizeof sh);
  return out;
}

std::string note_of(const sdk::AbiNote& note) {
  return std::string(reinterpret_cast<const char*>(&note), sizeof note);
}

// The note KEEL_MODULE(native_x) writes with these headers.
KEEL_SDK_ABI_NOTE(KEEL_SDK_ABI_BLOCK("native_x"));

TEST(LibraryFile, TheNoteKeelModuleWritesIsReadBack) {
  // Another note first (a build id), then Keel's: both are walked.
  std::string other("\x04\0\0\0\x08\0\0\0\x03\0\0\0GNU\0abcdefgh", 24);
  auto block = read_abi_note(elf_with(other + note_of(keel_module_abi_note_)), "x.so");
  ASSERT_TRUE(block);
  EXPECT_EQ(abi_mismatch(*block, host_abi()), std::nullopt);
  EXPECT_STREQ(block->module, "native_x");
}

TEST(LibraryFile, ANoteOfAnotherAbiIsReportedAsSuch) {
  sdk::AbiNote note = keel_module_abi_note_;
  note.desc.abi_version = 999;
  auto block = read_abi_note(elf_with(note_of(note)), "x.so");
  ASSERT_TRUE(block);
  auto why = abi_mismatch(*block, host_abi());
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("built for SDK ABI 999"), std::string::npos) << *why;
  // A shorter block (another layout) is another ABI too, not a read past its end.
  std::string shorter = note_of(keel_module_abi_note_).substr(0, 20 + 16);
  std::uint32_t size = 16;
  std::memcpy(shorter.data() + 4, &size, 4);
  block = read_abi_note(elf_with(shorter), "x.so");
  ASSERT_TRUE(block);
  EXPECT_EQ(block->size, 16u);
  EXPECT_TRUE(abi_mismatch(*block, host_abi()));
}

TEST(LibraryFile, NoNoteIsNone) {
  EXPECT_EQ(read_abi_note(elf_with("", ".note.other"), "x.so"), std::nullopt);
  EXPECT_EQ(read_abi_note(elf_with(""), "x.so"), std::nullopt);
}

TEST(LibraryFile, BrokenFilesAreRefusedWithoutReadingPastThem) {
  auto refused = [](const std::string& image, const char* why) {
    try {
      read_abi_note(image, "libx.so");
      ADD_FAILURE() << "accepted: " << why;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), "native.load");
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  refused("#!/bin/sh\n", "too short");
  refused(std::string(100, 'x'), "not an ELF file");
  std::string good = elf_with(note_of(keel_module_abi_note_));
  refused(good.substr(0, good.size() - 10), "section headers lie outside the file");
  std::string note = note_of(keel_module_abi_note_);
  std::uint32_t huge = 1u << 30;
  std::memcpy(note.data() + 4, &huge, 4);
  refused(elf_with(note), "truncated");
  std::string wide = good;
  wide[EI_CLASS] = ELFCLASS32;
  refused(wide, "64-bit");
}

}  // namespace
}  // namespace keel::native
