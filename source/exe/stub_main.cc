// Placeholder for binaries that a later milestone fills (gateway-control, gatewayctl).
#include <cstdio>

#ifndef GW_BINARY_NAME
#define GW_BINARY_NAME "binary"
#endif

int main() {
  fprintf(stderr, "%s: not yet implemented (the control-plane milestone adds it)\n",
          GW_BINARY_NAME);
  return 2;
}
