// Forwarding header: the header is sqlite.h now (one header style in the tree). Remove
// this file once nothing includes "tierflow/sql/sqlite.hpp".
#pragma once

#include "tierflow/sql/sqlite.h"
