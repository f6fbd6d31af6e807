// Precompiled header for the parts of the core that use LibTorch. Only .cpp files see it;
// public headers of the core never include LibTorch unless they must expose tensors.
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>
