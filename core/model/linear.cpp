#include "model/linear.h"

namespace dpowb::model {

LinearImpl::LinearImpl(int64_t in, int64_t out, bool withBias, bool conv1d)
    : in_(in), out_(out), conv1d_(conv1d) {
    weight = register_parameter("weight", conv1d ? torch::empty({in, out}) : torch::empty({out, in}));
    torch::nn::init::normal_(weight, 0.0, 0.02);
    if (withBias) bias = register_parameter("bias", torch::zeros({out}));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
    torch::Tensor y;
    if (conv1d_) {
        y = torch::matmul(x, weight);
        if (bias.defined()) y = y + bias;
    } else {
        y = torch::nn::functional::linear(x, weight, bias);
    }
    if (rank_ > 0 && adapterEnabled_) {
        torch::Tensor h = x;
        if (dropout_ > 0 && is_training()) h = torch::dropout(h, dropout_, /*train=*/true);
        y = y + loraB(loraA(h)) * scale();
    }
    return y;
}

void LinearImpl::addAdapter(int64_t rank, double alpha, double dropout) {
    TORCH_CHECK(rank > 0, "LoRA rank must be positive");
    TORCH_CHECK(rank_ == 0, "this projection already has an adapter");
    rank_ = rank;
    alpha_ = alpha;
    dropout_ = dropout;
    auto opts = torch::nn::LinearOptions(in_, rank).bias(false);
    loraA = register_module("lora_A", torch::nn::Linear(opts));
    loraB = register_module("lora_B", torch::nn::Linear(torch::nn::LinearOptions(rank, out_).bias(false)));
    {
        torch::NoGradGuard ng;
        // As PEFT: A Kaiming-uniform (a = sqrt(5)), B zero, so the adapter starts as a no-op.
        torch::nn::init::kaiming_uniform_(loraA->weight, std::sqrt(5.0));
        loraB->weight.zero_();
    }
    loraA->to(weight.device(), weight.scalar_type());
    loraB->to(weight.device(), weight.scalar_type());
}

void LinearImpl::mergeAdapter() {
    if (rank_ == 0) return;
    {
        torch::NoGradGuard ng;
        torch::Tensor delta = torch::matmul(loraB->weight, loraA->weight) * scale();  // (out, in)
        if (conv1d_) delta = delta.t();
        weight.add_(delta.to(weight.scalar_type()));
    }
    unregister_module("lora_A");
    unregister_module("lora_B");
    loraA = nullptr;
    loraB = nullptr;
    rank_ = 0;
}

}  // namespace dpowb::model
