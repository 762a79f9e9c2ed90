// gatewayctl: the admin CLI of gateway-control and gatewayd (docs/cli.md).
#include <iostream>
#include <string>
#include <vector>

#include "source/ctl/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return gw::ctl::runCli(args, std::cout, std::cerr);
}
