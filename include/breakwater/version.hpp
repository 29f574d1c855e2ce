#pragma once
#define BREAKWATER_VERSION "0.1.0"
