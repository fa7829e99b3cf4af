//! The matrix product of two 2-D tensors, written straight into a fresh buffer.
//!
//! burn-flex 0.22.1 allocates a product's output with `FlexTensor::empty`: a zeroed byte vector,
//! then copied into a 16-byte-aligned buffer (`Bytes::from_bytes_vec`), and only then overwritten
//! by gemm. The two extra passes over every output were ~9 % of the GPT's training step in
//! `perf` (the 2048 × 2000 logits: 7.4 ms against 5.1 ms for the bare gemm). Here the output is
//! an uninitialised `Vec<f32>` (already f32-aligned, so burn keeps it as it is) that gemm writes
//! once. The gemm call is the one burn-flex makes (operands' strides as they are, so a
//! transposed view is never copied; the same threading rule), so the values are the same bits.
//!
//! The fix belongs upstream: `FlexTensor::empty` could allocate through `Bytes::from_elems` of
//! a typed vector and skip the zeroing where the caller overwrites every element.

use burn::backend::TensorMetadata;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, Shape};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::FlexTensor;

use crate::flex::{tensor, uninit};
use crate::ops::FusedOps;

/// burn-flex's threshold for a multi-threaded product (`PARALLEL_THRESHOLD` in its
/// `ops/matmul.rs`): below it one thread, which keeps small products free of rayon's overhead.
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

/// (M, K) · (K, N) on flex; either operand may be a strided view (a transpose).
pub(crate) fn flex_matmul(lhs: FlexTensor, rhs: FlexTensor) -> FlexTensor {
    assert!(
        lhs.dtype() == DType::F32 && rhs.dtype() == DType::F32,
        "the fused product takes f32 tensors"
    );
    let [m, k] = lhs.shape().dims::<2>();
    let [k_rhs, n] = rhs.shape().dims::<2>();
    assert_eq!(k, k_rhs, "matmul: ({m}, {k}) · ({k_rhs}, {n})");
    let shape = Shape::new([m, n]);
    if m == 0 || n == 0 {
        return tensor(uninit(0), shape);
    }
    let mut out = uninit(m * n);
    if k == 0 {
        out.iter_mut().for_each(|x| {
            x.write(0.0);
        });
        return tensor(out, shape);
    }
    let (lhs_rs, lhs_cs) = strides(&lhs);
    let (rhs_rs, rhs_cs) = strides(&rhs);
    let lhs_ptr = lhs.storage::<f32>()[lhs.layout().start_offset()..].as_ptr();
    let rhs_ptr = rhs.storage::<f32>()[rhs.layout().start_offset()..].as_ptr();
    let parallelism = if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD {
        gemm::Parallelism::Rayon(0) // every thread of the current pool
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the operands' pointers, shapes and strides describe their own storage (a flex
    // layout never points outside it); `out` holds m·n values, row-major, and with `read_dst`
    // false gemm writes every one of them without reading any.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr().cast::<f32>(),
            1,
            n as isize,
            false,
            lhs_ptr,
            lhs_cs,
            lhs_rs,
            rhs_ptr,
            rhs_cs,
            rhs_rs,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    tensor(out, shape)
}

/// (row, column) strides of a 2-D flex tensor, in elements.
fn strides(tensor: &FlexTensor) -> (isize, isize) {
    let strides = tensor.layout().strides();
    (strides[0], strides[1])
}

/// The product under autodiff, with the backward pass burn's own matmul has (dA = dC · Bᵀ,
/// dB = Aᵀ · dC) on the fused product, the transposes as views.
pub(crate) fn autodiff_matmul<B: FusedOps, C: CheckpointStrategy>(
    lhs: FloatTensor<Autodiff<B, C>>,
    rhs: FloatTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    #[derive(Debug)]
    struct MatmulBackward;

    impl<B: FusedOps> Backward<B, 2> for MatmulBackward {
        // A, B: reference counts, no copies.
        type State = (FloatTensor<B>, FloatTensor<B>);

        fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
            let [node_lhs, node_rhs] = ops.parents;
            let grad = grads.consume::<B>(&ops.node);
            let (lhs, rhs) = ops.state;
            if let Some(node) = node_lhs {
                let dlhs = B::fused_matmul(grad.clone(), B::float_transpose(rhs));
                grads.register::<B>(node.id, dlhs);
            }
            if let Some(node) = node_rhs {
                grads.register::<B>(node.id, B::fused_matmul(B::float_transpose(lhs), grad));
            }
        }
    }

    let nodes = [lhs.node(), rhs.node()];
    let (lhs, rhs) = (lhs.into_primitive(), rhs.into_primitive());
    match MatmulBackward
        .prepare::<C>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let out = B::fused_matmul(lhs.clone(), rhs.clone());
            prep.finish((lhs, rhs), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(B::fused_matmul(lhs, rhs)),
    }
}
