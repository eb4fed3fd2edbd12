// migrating.h — the simulation on two nodes, half of it migrated mid-run.
//
//   epidemic node serve|status ...   this program as a stasis-node (it knows the
//                                    epidemic's frame types, so it can host regions);
//   epidemic migrate [options]       runs the simulation in this process (node A)
//                                    with a node B started as a child process; when
//                                    half of the steps are done, the eastern half
//                                    of the regions migrates to B in one handoff
//                                    while their channels stay home on A; prints
//                                    the result and compares it with a run in one
//                                    process. --node ADDR uses a node B that is
//                                    already running (another host: give both the
//                                    same --key-file, and --listen an address B
//                                    can reach).
#ifndef STASIS_SAMPLES_EPIDEMIC_MIGRATING_H_
#define STASIS_SAMPLES_EPIDEMIC_MIGRATING_H_

#include <string>

#include "checkpointed.h"

namespace epidemic {

struct MigrateOptions {
  std::string node;      // ADDR:PORT of node B; empty: start one as a child
  std::string key_file;  // empty: a fresh random key shared with the child
  std::string listen = "127.0.0.1:0";  // this node's (A's) address
};

int cmd_migrate(const RunOptions& run, const MigrateOptions& options);

}  // namespace epidemic

#endif  // STASIS_SAMPLES_EPIDEMIC_MIGRATING_H_
