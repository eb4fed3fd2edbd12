// stasis/net.h — nodes, migration and remote channels (docs/migration.md).
#ifndef STASIS_NET_H_
#define STASIS_NET_H_

#include "stasis/net/errors.h"
#include "stasis/net/exceptions.h"
#include "stasis/net/host.h"
#include "stasis/net/key.h"
#include "stasis/net/node_main.h"

#endif  // STASIS_NET_H_
