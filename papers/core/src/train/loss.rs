//! The losses more than one paper trains with.

use burn::tensor::{Int, Tensor, TensorData};

/// Mean cross-entropy of `logits` (N, C) against `labels` (N): shape (1). On the CPU, one fused
/// kernel computes the log-softmax, the loss and (in training) its gradient
/// ([`repro_kernels::cross_entropy`]).
pub fn cross_entropy(logits: Tensor<2>, labels: &[u32]) -> Tensor<1> {
    let device = logits.device();
    let [n, _] = logits.dims();
    let targets = Tensor::<1, Int>::from_data(
        TensorData::new(
            labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>(),
            [n],
        ),
        &device,
    );
    repro_kernels::cross_entropy(logits, targets, 0.0, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn cross_entropy_is_the_mean_negative_log_probability_of_the_label() {
        let device = Device::flex();
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 2.0, 0.0], [2, 2]),
            &device,
        );
        let loss: f64 = cross_entropy(logits, &[1, 0]).into_scalar();
        let expected = (2f64.ln() + (1.0 + (-2f64).exp()).ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }
}
