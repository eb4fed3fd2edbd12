// stasis/stasis.h — everything of the Stasis runtime in one include.
#ifndef STASIS_STASIS_H_
#define STASIS_STASIS_H_

#include "stasis/accounting.h"
#include "stasis/channel.h"
#include "stasis/ctx.h"
#include "stasis/error.h"
#include "stasis/frame.h"
#include "stasis/generator.h"
#include "stasis/native.h"
#include "stasis/registry.h"
#include "stasis/scheduler.h"
#include "stasis/select.h"
#include "stasis/soft.h"
#include "stasis/tasklet.h"

#endif  // STASIS_STASIS_H_
