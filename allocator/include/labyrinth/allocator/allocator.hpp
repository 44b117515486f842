// Umbrella header of the labyrinth allocator model (C++). C code uses labyrinth.h.
#pragma once

#include "labyrinth/allocator/config.hpp"
#include "labyrinth/allocator/gfp.hpp"
#include "labyrinth/allocator/metrics.hpp"
#include "labyrinth/allocator/model.hpp"
#include "labyrinth/allocator/results.hpp"
#include "labyrinth/allocator/types.hpp"
#include "labyrinth/allocator/watermarks.hpp"
