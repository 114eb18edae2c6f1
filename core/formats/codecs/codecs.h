#pragma once
// Every row codec, by family: one folder per family (plain, legacy, kquants, iq4, iqgrid,
// lowbit) holds its block layout (<family>.h), its decoders (decode.cpp) and its encoders
// (encode*.cpp). The type table (formats/type_table.h) points at them; most code goes through
// it, or through decodeRows (decode.h) / encodeRows (encoders.h), rather than through these.

#include "formats/codecs/block.h"
#include "formats/codecs/iq4/iq4.h"
#include "formats/codecs/iqgrid/iqgrid.h"
#include "formats/codecs/kquants/kquants.h"
#include "formats/codecs/legacy/legacy.h"
#include "formats/codecs/lowbit/lowbit.h"
#include "formats/codecs/plain/plain.h"
#include "formats/codecs/scale_search.h"
