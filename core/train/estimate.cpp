#include "train/estimate.h"

#include <algorithm>
#include <string>
#include <vector>

#include "common/text_list.h"
#include "model/architectures.h"

namespace dpowb::train {

namespace {

// Bytes per activation value: bfloat16 runs the forwards under autocast.
double activationBytes(const std::string& dtype) { return dtype == "float32" ? 4.0 : 2.0; }

}  // namespace

int64_t loraParameterCount(const model::ModelConfig& m, const TrainConfig& c) {
    if (c.loraRank <= 0) return 0;
    const std::vector<std::string> targets = commaListItems(c.loraTargetModules);
    int64_t n = 0;
    for (const model::TensorSlot& slot : model::tensorTable(m)) {
        if (!slot.isProjection()) continue;
        const std::string module = slot.module();
        const bool targeted = std::any_of(targets.begin(), targets.end(),
                                          [&](const std::string& t) { return model::matchesLoraTarget(module, t); });
        // A rank-r adapter on an (in → out) projection: A is (r, in), B is (out, r).
        if (targeted) n += c.loraRank * (slot.inFeatures + slot.outFeatures);
    }
    return n;
}

MemoryEstimate estimateMemory(const model::ModelConfig& m, const TrainConfig& c) {
    MemoryEstimate e;
    // The trainer keeps weights, gradients and AdamW's moments in float32 whatever --dtype says
    // (bfloat16 = autocast forwards; pure-bfloat16 weights would lose AdamW updates below their
    // resolution), and loads a live reference in float32 too.
    const double b = 4.0;
    const double a16 = activationBytes(c.dtype);
    e.parameters = model::tableParameterCount(m);
    const double params = static_cast<double>(e.parameters);
    e.weights = params * b;
    if (c.loraRank > 0) {
        // Frozen base weights; gradients and AdamW's two moments only for the adapters. The
        // reference is the same network with the adapters switched off: no second copy.
        e.trainableParameters = loraParameterCount(m, c);
        const double lora = static_cast<double>(e.trainableParameters) * b;
        e.weights += lora;
        e.gradients = lora;
        e.optimizer = 2 * lora;
    } else {
        e.trainableParameters = e.parameters;
        e.gradients = params * b;
        e.optimizer = 2 * params * b;
        // A precomputed reference is released before training starts.
        if (c.usesReference() && !c.precomputeRef) e.reference = params * b;
    }
    // Activations kept for the backward pass, per layer and token, after Korthikanti et al.
    // (2022): h·(34 + 5·a·s/h) bytes in 16-bit; chosen and rejected rows go in one batch.
    const double s = static_cast<double>(m.maxPositions > 0 ? std::min<int64_t>(c.maxLength, m.maxPositions) : c.maxLength);
    const double rows = 2.0 * static_cast<double>(c.batchSize);
    const double h = static_cast<double>(m.hiddenSize), a = static_cast<double>(std::max<int64_t>(1, m.numHeads));
    const double perLayer = rows * s * (34.0 * h + 5.0 * a * s) * (a16 / 2.0);
    // Logits over the whole vocabulary in float32, and as much again for the logsumexp and the
    // gradient of the log-prob gather (logprobs.cpp never forms a full log-softmax).
    const double logits = rows * s * static_cast<double>(m.vocabSize) * 4.0 * 2.0;
    e.activations = perLayer * static_cast<double>(m.numLayers) + logits;
    return e;
}

}  // namespace dpowb::train
