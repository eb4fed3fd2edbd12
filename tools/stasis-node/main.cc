// stasis-node — the node daemon and its status command (stasis/net/node_main.h).
// It restores only the frame types linked into it; programs whose tasklets
// migrate build their own node binary the same way, with their frames linked.
#include "stasis/net/node_main.h"

int main(int argc, char** argv) { return stasis::net::node_main(argc, argv); }
