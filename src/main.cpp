// breakwater: flags, signals, start-up. Everything else lives in the libraries.
#include <sys/resource.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <string>

#include "breakwater/config/load.hpp"
#include "breakwater/log.hpp"
#include "breakwater/server/server.hpp"
#include "breakwater/version.hpp"

namespace {

void usage(std::ostream& os) {
  os << "usage: breakwater [--config FILE]     run (FILE defaults to conf/breakwater.toml)\n"
        "       breakwater --check-config FILE  validate FILE, print ok or every error\n"
        "       breakwater --version\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path = "conf/breakwater.toml";
  std::string check_path;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--version") {
      std::cout << "breakwater " << BREAKWATER_VERSION << "\n";
      return 0;
    }
    if (a == "--help" || a == "-h") {
      usage(std::cout);
      return 0;
    }
    if ((a == "--config" || a == "--check-config") && i + 1 < argc) {
      (a == "--config" ? config_path : check_path) = argv[++i];
      check = check || a == "--check-config";
      continue;
    }
    if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
      continue;
    }
    if (a.rfind("--check-config=", 0) == 0) {
      check_path = a.substr(15);
      check = true;
      continue;
    }
    std::cerr << "breakwater: unknown argument '" << a << "'\n";
    usage(std::cerr);
    return 2;
  }

  if (check) {
    auto res = breakwater::config::load_file(check_path);
    if (res.ok()) {
      std::cout << "ok\n";
      return 0;
    }
    for (auto& e : res.errors) std::cerr << e << "\n";
    return 1;
  }

  std::signal(SIGPIPE, SIG_IGN);
  // A proxy holds two descriptors per request in flight: take all the kernel allows.
  if (rlimit lim{}; getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  auto res = breakwater::config::load_file(config_path);
  if (!res.ok()) {
    for (auto& e : res.errors) std::cerr << e << "\n";
    return 1;
  }
  try {
    breakwater::server::Server server(config_path, std::move(res.config));
    return server.run();
  } catch (const std::exception& e) {
    breakwater::log_error(std::string("cannot start: ") + e.what());
    return 1;
  }
}
