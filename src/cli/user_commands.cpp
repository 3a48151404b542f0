#include "cli/user_commands.hpp"

#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "app/error.hpp"
#include "cli/context.hpp"
#include "cli/database.hpp"
#include "runtime/users.hpp"
#include "security/crypto.hpp"
#include "security/policy.hpp"
#include "security/users.hpp"

namespace keel::cli {

namespace {

// Turns off the terminal's echo while a password is typed; restores it on scope exit.
class NoEcho {
 public:
  NoEcho() {
    if (::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    active_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
  }
  ~NoEcho() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
  }
  NoEcho(const NoEcho&) = delete;
  NoEcho& operator=(const NoEcho&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

std::string read_line(const char* prompt, bool terminal) {
  if (terminal) std::cerr << prompt << std::flush;
  std::string line;
  bool got = static_cast<bool>(std::getline(std::cin, line));
  if (terminal) std::cerr << '\n';
  if (!got && line.empty())
    throw UsageError("no password given", "type it at the prompt or pipe one line to stdin");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

// The new password: typed twice on a terminal (without echo), or one line of stdin. Never
// from the command line, where other users could read it in the process list.
std::string read_new_password() {
  bool terminal = ::isatty(STDIN_FILENO);
  std::string password;
  {
    std::optional<NoEcho> quiet;
    if (terminal) quiet.emplace();
    password = read_line("Password: ", terminal);
    if (terminal && read_line("Repeat password: ", terminal) != password)
      throw UsageError("the passwords differ", "type the same password twice");
  }
  if (password.size() < security::kMinPasswordLength)
    throw UsageError(
        "the password is too short",
        "use at least " + std::to_string(security::kMinPasswordLength) + " characters");
  return password;
}

struct Args {
  std::string login;
  std::vector<std::string> roles;
  std::string name;
};

}  // namespace

void add_user_commands(CLI::App& app, Runner& selected) {
  auto* user = app.add_subcommand("user", "user administration");
  user->require_subcommand(1);
  user->fallthrough();
  auto args = std::make_shared<Args>();

  auto* add =
      user->add_subcommand("add", "create a user; the password comes from a prompt or stdin");
  add->add_option("login", args->login, "the user's login")->required();
  add->add_option("--role", args->roles, "a role to grant (repeatable; default base.user)");
  add->fallthrough();
  add->callback([&selected, args] {
    selected = [args](Context& c) {
      auto database = open_with_base(c);
      std::string password = read_new_password();
      auto roles = args->roles;
      if (roles.empty()) roles.emplace_back(security::kUserRole);
      std::string hash = security::hash_password(password);
      auto& conn = database->connection();
      runtime::create_user(conn, *installed_snapshot(c, conn).records, args->login, hash, roles);
      std::string listed;
      for (const auto& r : roles)
        listed += (listed.empty() ? "" : ", ") + r;
      std::cout << "created user " << args->login << " (" << listed << ")\n";
      return 0;
    };
  });

  auto* passwd = user->add_subcommand("passwd", "change a user's password (prompt or stdin)");
  passwd->add_option("login", args->login, "the user's login")->required();
  passwd->fallthrough();
  passwd->callback([&selected, args] {
    selected = [args](Context& c) {
      auto database = open_with_base(c);
      std::string password = read_new_password();
      std::string hash = security::hash_password(password);
      auto& conn = database->connection();
      runtime::set_password(conn, *installed_snapshot(c, conn).records, args->login, hash);
      std::cout << "changed the password of " << args->login << "; its sessions were signed out\n";
      return 0;
    };
  });

  auto* apikey = user->add_subcommand("apikey", "create an API key for a user and print it once");
  apikey->add_option("login", args->login, "the user's login")->required();
  apikey->add_option("--name", args->name, "what the key is for");
  apikey->fallthrough();
  apikey->callback([&selected, args] {
    selected = [args](Context& c) {
      auto database = open_with_base(c);
      auto& conn = database->connection();
      auto key = runtime::create_api_key(conn, *installed_snapshot(c, conn).records, args->login,
                                         args->name);
      std::cout << key.key << '\n';
      if (::isatty(STDOUT_FILENO))
        std::cerr << "store this key now: it is not shown again. Send it as "
                     "`Authorization: Bearer <key>`.\n";
      return 0;
    };
  });
}

}  // namespace keel::cli
