// A linear projection that can carry a LoRA adapter. Parameter names follow the checkpoint:
// "weight" and "bias"; the adapter adds "lora_A.weight" (r, in) and "lora_B.weight" (out, r)
// as PEFT names them.
//
// `conv1d` = GPT-2's Conv1D layout: weight is stored (in, out) and y = x·W + b.
#pragma once

#include <torch/torch.h>

namespace dpowb::model {

class LinearImpl : public torch::nn::Module {
public:
    LinearImpl(int64_t in, int64_t out, bool bias, bool conv1d = false);

    torch::Tensor forward(const torch::Tensor& x);  // (…,in) -> (…,out)

    // LoRA: adds lora_A (rank, in) initialised Kaiming-uniform from `generator`-free default
    // RNG, lora_B (out, rank) zero, so the adapted layer starts equal to the base.
    void addAdapter(int64_t rank, double alpha, double dropout);
    bool hasAdapter() const { return rank_ > 0; }
    void setAdapterEnabled(bool enabled) { adapterEnabled_ = enabled; }
    bool adapterEnabled() const { return adapterEnabled_; }
    void mergeAdapter();  // W += scale·B·A (respecting the layout), then removes the adapter
    double scale() const { return rank_ > 0 ? alpha_ / double(rank_) : 0.0; }
    int64_t rank() const { return rank_; }

    int64_t inFeatures() const { return in_; }
    int64_t outFeatures() const { return out_; }
    bool conv1d() const { return conv1d_; }

    torch::Tensor weight, bias;  // bias undefined when absent
    torch::nn::Linear loraA{nullptr}, loraB{nullptr};

private:
    int64_t in_, out_;
    bool conv1d_;
    int64_t rank_ = 0;
    double alpha_ = 0;
    double dropout_ = 0;
    bool adapterEnabled_ = true;
};
TORCH_MODULE(Linear);

}  // namespace dpowb::model
