// How far two floating-point computations of the same value may drift apart when only the
// order of their operations differs: another BLAS (OpenBLAS, MKL), another kernel for another
// batch shape or padding, another thread count. The tolerances follow from the computation
// (its precision, how many terms it accumulates and their size), never from the numbers one
// machine happened to print.
//
// A sum of n terms x_i rounded with unit roundoff u is off by at most λ·√n·u·Σ|x_i| except
// with a probability below 2n·exp(−λ²/2) — the probabilistic rounding-error bound of Higham
// and Mary ("A new approach to probabilistic rounding error analysis", SIAM J. Sci. Comput.
// 41(5), 2019), which treats the rounding errors as independent and zero-mean. The worst-case
// bound (n·u instead of λ·√n·u) is too loose to catch anything at the sizes used here. With
// λ = 8 the bound fails with probability below 2n·1.3e-14 per value. Two computations that
// each satisfy it differ by at most twice the bound.
//
// Header-only, no Qt, no LibTorch: usable from every suite.
#pragma once

#include <cmath>
#include <cstdint>

namespace dpowb::test {

constexpr double kFloat32Unit = 0x1p-24;  // unit roundoff of IEEE binary32
constexpr double kFloat64Unit = 0x1p-53;  // binary64
constexpr double kLambda = 8.0;

// Bound on |a − b| for two evaluations of a sum of `terms` terms whose absolute values add up
// to `sumAbs`, each evaluated in a precision with unit roundoff `unit`.
inline double sumTolerance(double sumAbs, double terms, double unit = kFloat32Unit) {
    return 2.0 * kLambda * std::sqrt(std::max(1.0, terms)) * unit * sumAbs;
}

// The shape of a transformer forward pass, for the length of its accumulation chains.
struct ForwardShape {
    int64_t layers = 0;
    int64_t hidden = 0;
    int64_t intermediate = 0;
    int64_t positions = 0;  // sequence length (attention sums over it)
    int64_t vocab = 0;
};

// The longest chain of accumulations behind one logit or one token's log-prob: in every layer
// the attention (a sum over positions), the projections (over the hidden size) and the MLP
// (over the intermediate size); then the LM head (hidden) and the log-softmax (vocabulary).
// Errors made early are carried by the later sums, so the chain lengths add up.
inline double chainLength(const ForwardShape& s) {
    return double(s.layers) * double(s.hidden + s.intermediate + s.positions) + double(s.hidden + s.vocab);
}

// Bound on the difference between two evaluations of a response's summed log-prob `logp` over
// `tokens` tokens. Each token's log-prob is a log-softmax of logits carrying the chain's
// relative error on terms of the size of the log-prob itself plus one (the log-sum-exp);
// the per-token errors then add up over the response.
inline double logpTolerance(double logp, int64_t tokens, const ForwardShape& s, double unit = kFloat32Unit) {
    return sumTolerance(std::abs(logp) + double(std::max<int64_t>(tokens, 1)), chainLength(s), unit);
}

}  // namespace dpowb::test
