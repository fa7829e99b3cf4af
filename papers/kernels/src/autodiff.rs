//! [`FusedOps`] under autodiff: each differentiable op runs its `…_stats` forward on the inner
//! backend, keeps what its backward needs (inputs by reference count, no copies), and registers
//! a hand-written backward that calls the inner `…_backward` kernel. The internal ops
//! (`…_stats`, `…_backward`) are not differentiable; called on autodiff tensors they compute
//! on the values and return untracked results.

use burn::backend::AutodiffBackend;
use burn::backend::tensor::{BoolTensor, FloatTensor, IntTensor};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};

use crate::ops::FusedOps;

mod attention;

type Inner<B> = FloatTensor<B>;

/// An untracked autodiff tensor holding `tensor`.
fn leaf<B: FusedOps, C: CheckpointStrategy>(tensor: Inner<B>) -> FloatTensor<Autodiff<B, C>> {
    <Autodiff<B, C> as AutodiffBackend>::from_inner(tensor)
}

impl<B: FusedOps, C: CheckpointStrategy> FusedOps for Autodiff<B, C> {
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct LayerNormBackward;

        impl<B: FusedOps> Backward<B, 3> for LayerNormBackward {
            // x, mean, rstd, γ
            type State = (Inner<B>, Inner<B>, Inner<B>, Inner<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, mean, rstd, gamma) = ops.state;
                let (dx, dgamma, dbeta) = B::fused_layer_norm_backward(grad, x, mean, rstd, gamma);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_gamma {
                    grads.register::<B>(node.id, dgamma);
                }
                if let Some(node) = node_beta {
                    grads.register::<B>(node.id, dbeta);
                }
            }
        }

        let nodes = [x.node(), gamma.node(), beta.node()];
        let (x, gamma, beta) = (
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        match LayerNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, mean, rstd) =
                    B::fused_layer_norm_stats(x.clone(), gamma.clone(), beta, epsilon);
                prep.finish((x, mean, rstd, gamma), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_layer_norm(x, gamma, beta, epsilon)),
        }
    }

    fn fused_layer_norm_stats(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (y, mean, rstd) = B::fused_layer_norm_stats(
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            epsilon,
        );
        (leaf::<B, C>(y), leaf::<B, C>(mean), leaf::<B, C>(rstd))
    }

    fn fused_layer_norm_backward(
        grad: FloatTensor<Self>,
        x: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (dx, dgamma, dbeta) = B::fused_layer_norm_backward(
            grad.into_primitive(),
            x.into_primitive(),
            mean.into_primitive(),
            rstd.into_primitive(),
            gamma.into_primitive(),
        );
        (leaf::<B, C>(dx), leaf::<B, C>(dgamma), leaf::<B, C>(dbeta))
    }

    fn fused_attention_softmax(
        scores: FloatTensor<Self>,
        scale: f64,
        causal: bool,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SoftmaxBackward;

        impl<B: FusedOps> Backward<B, 1> for SoftmaxBackward {
            type State = (Inner<B>, f64, bool);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (probs, scale, causal) = ops.state;
                if let Some(node) = node {
                    grads.register::<B>(
                        node.id,
                        B::fused_attention_softmax_backward(grad, probs, scale, causal),
                    );
                }
            }
        }

        let nodes = [scores.node()];
        let probs = B::fused_attention_softmax(scores.into_primitive(), scale, causal);
        match SoftmaxBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((probs.clone(), scale, causal), probs),
            OpsKind::UnTracked(prep) => prep.finish(probs),
        }
    }

    fn fused_attention_softmax_backward(
        grad: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        scale: f64,
        causal: bool,
    ) -> FloatTensor<Self> {
        leaf::<B, C>(B::fused_attention_softmax_backward(
            grad.into_primitive(),
            probs.into_primitive(),
            scale,
            causal,
        ))
    }

    fn fused_masked_attention_softmax(
        scores: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct MaskedSoftmaxBackward;

        impl<B: FusedOps> Backward<B, 1> for MaskedSoftmaxBackward {
            type State = (Inner<B>, BoolTensor<B>, f64);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (probs, hidden, scale) = ops.state;
                if let Some(node) = node {
                    grads.register::<B>(
                        node.id,
                        B::fused_masked_attention_softmax_backward(grad, probs, hidden, scale),
                    );
                }
            }
        }

        let nodes = [scores.node()];
        let probs =
            B::fused_masked_attention_softmax(scores.into_primitive(), hidden.clone(), scale);
        match MaskedSoftmaxBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((probs.clone(), hidden, scale), probs),
            OpsKind::UnTracked(prep) => prep.finish(probs),
        }
    }

    fn fused_masked_attention_softmax_backward(
        grad: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
    ) -> FloatTensor<Self> {
        leaf::<B, C>(B::fused_masked_attention_softmax_backward(
            grad.into_primitive(),
            probs.into_primitive(),
            hidden,
            scale,
        ))
    }

    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> FloatTensor<Self> {
        attention::separate::<B, C>(q, k, v, scale, causal, dropout, seed)
    }

    fn fused_attention_stats(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (out, probs) = B::fused_attention_stats(
            q.into_primitive(),
            k.into_primitive(),
            v.into_primitive(),
            scale,
            causal,
            dropout,
            seed,
        );
        (leaf::<B, C>(out), leaf::<B, C>(probs))
    }

    fn fused_attention_backward(
        grad: FloatTensor<Self>,
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (dq, dk, dv) = B::fused_attention_backward(
            grad.into_primitive(),
            q.into_primitive(),
            k.into_primitive(),
            v.into_primitive(),
            probs.into_primitive(),
            scale,
            causal,
            dropout,
            seed,
        );
        (leaf::<B, C>(dq), leaf::<B, C>(dk), leaf::<B, C>(dv))
    }

    fn fused_packed_attention(
        qkv: FloatTensor<Self>,
        heads: usize,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> FloatTensor<Self> {
        attention::packed::<B, C>(qkv, heads, scale, causal, dropout, seed)
    }

    fn fused_packed_attention_stats(
        qkv: FloatTensor<Self>,
        heads: usize,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (out, probs) = B::fused_packed_attention_stats(
            qkv.into_primitive(),
            heads,
            scale,
            causal,
            dropout,
            seed,
        );
        (leaf::<B, C>(out), leaf::<B, C>(probs))
    }

    #[allow(clippy::too_many_arguments)]
    fn fused_packed_attention_backward(
        grad: FloatTensor<Self>,
        qkv: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        heads: usize,
        scale: f64,
        causal: bool,
        dropout: f64,
        seed: u64,
    ) -> FloatTensor<Self> {
        leaf::<B, C>(B::fused_packed_attention_backward(
            grad.into_primitive(),
            qkv.into_primitive(),
            probs.into_primitive(),
            heads,
            scale,
            causal,
            dropout,
            seed,
        ))
    }

    fn fused_masked_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
        dropout: f64,
        seed: u64,
    ) -> FloatTensor<Self> {
        attention::masked::<B, C>(q, k, v, hidden, scale, dropout, seed)
    }

    fn fused_masked_attention_stats(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (out, probs) = B::fused_masked_attention_stats(
            q.into_primitive(),
            k.into_primitive(),
            v.into_primitive(),
            hidden,
            scale,
            dropout,
            seed,
        );
        (leaf::<B, C>(out), leaf::<B, C>(probs))
    }

    fn fused_masked_attention_backward(
        grad: FloatTensor<Self>,
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        probs: FloatTensor<Self>,
        hidden: BoolTensor<Self>,
        scale: f64,
        dropout: f64,
        seed: u64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (dq, dk, dv) = B::fused_masked_attention_backward(
            grad.into_primitive(),
            q.into_primitive(),
            k.into_primitive(),
            v.into_primitive(),
            probs.into_primitive(),
            hidden,
            scale,
            dropout,
            seed,
        );
        (leaf::<B, C>(dq), leaf::<B, C>(dk), leaf::<B, C>(dv))
    }

    fn fused_cross_entropy(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        smoothing: f64,
        ignore: i64,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct CrossEntropyBackward;

        impl<B: FusedOps> Backward<B, 1> for CrossEntropyBackward {
            // logits, log-sum-exps, labels, ε, ignored label
            type State = (Inner<B>, Inner<B>, IntTensor<B>, f64, i64);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (logits, lse, labels, smoothing, ignore) = ops.state;
                if let Some(node) = node {
                    grads.register::<B>(
                        node.id,
                        B::fused_cross_entropy_backward(
                            grad, logits, lse, labels, smoothing, ignore,
                        ),
                    );
                }
            }
        }

        let nodes = [logits.node()];
        let logits = logits.into_primitive();
        match CrossEntropyBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (loss, lse) =
                    B::fused_cross_entropy_stats(logits.clone(), labels.clone(), smoothing, ignore);
                prep.finish((logits, lse, labels, smoothing, ignore), loss)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::fused_cross_entropy(logits, labels, smoothing, ignore))
            }
        }
    }

    fn fused_cross_entropy_stats(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        smoothing: f64,
        ignore: i64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (loss, lse) =
            B::fused_cross_entropy_stats(logits.into_primitive(), labels, smoothing, ignore);
        (leaf::<B, C>(loss), leaf::<B, C>(lse))
    }

    fn fused_cross_entropy_backward(
        grad: FloatTensor<Self>,
        logits: FloatTensor<Self>,
        lse: FloatTensor<Self>,
        labels: IntTensor<Self>,
        smoothing: f64,
        ignore: i64,
    ) -> FloatTensor<Self> {
        leaf::<B, C>(B::fused_cross_entropy_backward(
            grad.into_primitive(),
            logits.into_primitive(),
            lse.into_primitive(),
            labels,
            smoothing,
            ignore,
        ))
    }

    fn fused_dropout(x: FloatTensor<Self>, prob: f64, seed: u64) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct DropoutBackward;

        impl<B: FusedOps> Backward<B, 1> for DropoutBackward {
            type State = (f64, u64);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (prob, seed) = ops.state;
                if let Some(node) = node {
                    // The same mask, regenerated from the seed: dx = dy · m / (1 − p).
                    grads.register::<B>(node.id, B::fused_dropout(grad, prob, seed));
                }
            }
        }

        let nodes = [x.node()];
        let y = B::fused_dropout(x.into_primitive(), prob, seed);
        match DropoutBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((prob, seed), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fused_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        crate::matmul::autodiff_matmul::<B, C>(lhs, rhs)
    }

    fn fused_gelu(x: FloatTensor<Self>, tanh: bool) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct GeluBackward;

        impl<B: FusedOps> Backward<B, 1> for GeluBackward {
            type State = (Inner<B>, bool);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let [node] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x, tanh) = ops.state;
                if let Some(node) = node {
                    grads.register::<B>(node.id, B::fused_gelu_backward(grad, x, tanh));
                }
            }
        }

        let nodes = [x.node()];
        let x = x.into_primitive();
        match GeluBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = B::fused_gelu(x.clone(), tanh);
                prep.finish((x, tanh), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_gelu(x, tanh)),
        }
    }

    fn fused_gelu_backward(
        grad: FloatTensor<Self>,
        x: FloatTensor<Self>,
        tanh: bool,
    ) -> FloatTensor<Self> {
        leaf::<B, C>(B::fused_gelu_backward(
            grad.into_primitive(),
            x.into_primitive(),
            tanh,
        ))
    }
}
