//! The attention cores under autodiff: q, k and v as three parents (causal or masked), or one
//! packed QKV projection whose gradient the inner backward writes packed.

use burn::backend::tensor::{BoolTensor, FloatTensor};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};

use super::Inner;
use crate::ops::FusedOps;

/// [`FusedOps::fused_packed_attention`] on autodiff tensors.
pub(super) fn packed<B: FusedOps, C: CheckpointStrategy>(
    qkv: FloatTensor<Autodiff<B, C>>,
    heads: usize,
    scale: f64,
    causal: bool,
    dropout: f64,
    seed: u64,
) -> FloatTensor<Autodiff<B, C>> {
    #[derive(Debug)]
    struct PackedAttentionBackward;

    impl<B: FusedOps> Backward<B, 1> for PackedAttentionBackward {
        // qkv, weights, heads, scale, causal, dropout, seed
        type State = (Inner<B>, Inner<B>, usize, f64, bool, f64, u64);

        fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node] = ops.parents;
            let grad = grads.consume::<B>(&ops.node);
            let (qkv, probs, heads, scale, causal, dropout, seed) = ops.state;
            if let Some(node) = node {
                let dqkv = B::fused_packed_attention_backward(
                    grad, qkv, probs, heads, scale, causal, dropout, seed,
                );
                grads.register::<B>(node.id, dqkv);
            }
        }
    }

    let nodes = [qkv.node()];
    let qkv = qkv.into_primitive();
    match PackedAttentionBackward
        .prepare::<C>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (out, probs) =
                B::fused_packed_attention_stats(qkv.clone(), heads, scale, causal, dropout, seed);
            prep.finish((qkv, probs, heads, scale, causal, dropout, seed), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(B::fused_packed_attention(
            qkv, heads, scale, causal, dropout, seed,
        )),
    }
}

/// [`FusedOps::fused_attention`] on autodiff tensors.
pub(super) fn separate<B: FusedOps, C: CheckpointStrategy>(
    q: FloatTensor<Autodiff<B, C>>,
    k: FloatTensor<Autodiff<B, C>>,
    v: FloatTensor<Autodiff<B, C>>,
    scale: f64,
    causal: bool,
    dropout: f64,
    seed: u64,
) -> FloatTensor<Autodiff<B, C>> {
    #[derive(Debug)]
    struct AttentionBackward;

    impl<B: FusedOps> Backward<B, 3> for AttentionBackward {
        // q, k, v, weights, scale, causal, dropout, seed
        type State = (Inner<B>, Inner<B>, Inner<B>, Inner<B>, f64, bool, f64, u64);

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let grad = grads.consume::<B>(&ops.node);
            let (q, k, v, probs, scale, causal, dropout, seed) = ops.state;
            let (dq, dk, dv) =
                B::fused_attention_backward(grad, q, k, v, probs, scale, causal, dropout, seed);
            for (parent, grad) in ops.parents.into_iter().zip([dq, dk, dv]) {
                if let Some(node) = parent {
                    grads.register::<B>(node.id, grad);
                }
            }
        }
    }

    let nodes = [q.node(), k.node(), v.node()];
    let (q, k, v) = (q.into_primitive(), k.into_primitive(), v.into_primitive());
    match AttentionBackward
        .prepare::<C>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (out, probs) = B::fused_attention_stats(
                q.clone(),
                k.clone(),
                v.clone(),
                scale,
                causal,
                dropout,
                seed,
            );
            prep.finish((q, k, v, probs, scale, causal, dropout, seed), out)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(B::fused_attention(q, k, v, scale, causal, dropout, seed))
        }
    }
}

/// [`FusedOps::fused_masked_attention`] on autodiff tensors.
pub(super) fn masked<B: FusedOps, C: CheckpointStrategy>(
    q: FloatTensor<Autodiff<B, C>>,
    k: FloatTensor<Autodiff<B, C>>,
    v: FloatTensor<Autodiff<B, C>>,
    hidden: BoolTensor<Autodiff<B, C>>,
    scale: f64,
    dropout: f64,
    seed: u64,
) -> FloatTensor<Autodiff<B, C>> {
    #[derive(Debug)]
    struct MaskedAttentionBackward;

    impl<B: FusedOps> Backward<B, 3> for MaskedAttentionBackward {
        // q, k, v, weights, mask, scale, dropout, seed
        type State = (
            Inner<B>,
            Inner<B>,
            Inner<B>,
            Inner<B>,
            BoolTensor<B>,
            f64,
            f64,
            u64,
        );

        fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
            let grad = grads.consume::<B>(&ops.node);
            let (q, k, v, probs, hidden, scale, dropout, seed) = ops.state;
            let (dq, dk, dv) = B::fused_masked_attention_backward(
                grad, q, k, v, probs, hidden, scale, dropout, seed,
            );
            for (parent, grad) in ops.parents.into_iter().zip([dq, dk, dv]) {
                if let Some(node) = parent {
                    grads.register::<B>(node.id, grad);
                }
            }
        }
    }

    let nodes = [q.node(), k.node(), v.node()];
    let (q, k, v) = (q.into_primitive(), k.into_primitive(), v.into_primitive());
    match MaskedAttentionBackward
        .prepare::<C>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (out, probs) = B::fused_masked_attention_stats(
                q.clone(),
                k.clone(),
                v.clone(),
                hidden.clone(),
                scale,
                dropout,
                seed,
            );
            prep.finish((q, k, v, probs, hidden, scale, dropout, seed), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(B::fused_masked_attention(
            q, k, v, hidden, scale, dropout, seed,
        )),
    }
}
