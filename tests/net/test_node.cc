// test_node.cc — a node program for the migration tests: stasis-node's command
// line with the test frame types (net_frames.h) linked in, so that it can host
// the tests' tasklets.
#include "stasis/net/node_main.h"

int main(int argc, char** argv) { return stasis::net::node_main(argc, argv); }
