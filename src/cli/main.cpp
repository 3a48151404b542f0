#include "cli/cli.hpp"
#include "native/host.hpp"

int main(int argc, char** argv) {
  keel::native::register_static_modules();  // addons linked in (KEEL_STATIC_ADDONS)
  return keel::cli::run(argc, argv);
}
