#pragma once
// An optional observer of the forward pass's matrix products (the importance collector is one):
// before each product of a weight with the activations, the observer sees the activations, one
// row per token (for an expert, the rows of the tokens routed to it). A tensor bound as several
// views (phi3's fused attn_qkv and ffn_up) is reported once per product of the whole tensor.
// Called on the thread that runs the forward pass, never concurrently.

#include <cstdint>

#include "eval/llama_model.h"

namespace qs::eval {

class ActivationObserver {
public:
    virtual ~ActivationObserver() = default;
    /// `x`: nRows rows of w.cols floats, the input of the product with `w` (before the
    /// activations are rounded to the weight's vec_dot type). `expert` is the expert index of a
    /// `*_exps` view (of `nExpert`), -1 for an ordinary matrix.
    virtual void onProduct(const WeightView& w, int expert, int nExpert, const float* x,
                           int64_t nRows) = 0;
    /// Before the products of `expert`: row j of them belongs to token who[j] / nUsed, routing
    /// slot who[j] % nUsed (llama.cpp's MUL_MAT_ID visits rows slot by slot). Default: ignored.
    virtual void onRouting(int expert, const int64_t* who, int64_t n, int nUsed) {
        (void)expert;
        (void)who;
        (void)n;
        (void)nUsed;
    }
};

}  // namespace qs::eval
