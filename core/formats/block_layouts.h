#pragma once
// Every block layout at once, for code that works across families (the best-fit encoder, the
// K-quant dot products). Each family's header holds its layout next to its codec declarations;
// see codecs/block.h for what they share.

#include "formats/codecs/block.h"
#include "formats/codecs/iq4/iq4.h"
#include "formats/codecs/iqgrid/iqgrid.h"
#include "formats/codecs/kquants/kquants.h"
#include "formats/codecs/legacy/legacy.h"
#include "formats/codecs/lowbit/lowbit.h"
