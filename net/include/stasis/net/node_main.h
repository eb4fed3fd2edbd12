// stasis/net/node_main.h — the stasis-node command line, for node programs.
//
// A node can only restore frame types linked into it, so every program whose
// tasklets migrate builds its own node binary: a main() that links its frames
// and calls node_main() (tools/stasis-node is exactly that, with no frames of
// its own; samples/epidemic has one too). Commands:
//   serve  --listen ADDR:PORT --key-file F [--node-id ID] [--checkpoint FILE] [--restore FILE]
//          hosts tasklets until SIGTERM/SIGINT, then checkpoints them to FILE;
//          prints "stasis-node ID listening on ADDR" once it accepts peers;
//   status --connect ADDR:PORT --key-file F
//          lists the tasklets hosted at a node.
// Returns the process exit code (0 success, 1 runtime failure, 2 usage).
#ifndef STASIS_NET_NODE_MAIN_H_
#define STASIS_NET_NODE_MAIN_H_

namespace stasis::net {

int node_main(int argc, char** argv);

}  // namespace stasis::net

#endif  // STASIS_NET_NODE_MAIN_H_
