//! Batches as tensors: padded id rows, the masks that hide padding and the future, and an epoch
//! order that is a pure function of (seed, step).

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

/// Rows of token ids padded with `pad_id` to the longest, shape (rows, longest) (at least 1 wide).
pub fn pad_rows(rows: &[&[u32]], pad_id: u32, device: &Device) -> Tensor<2, Int> {
    let width = rows.iter().map(|row| row.len()).max().unwrap_or(1).max(1);
    let mut ids = vec![i64::from(pad_id); rows.len() * width];
    for (r, row) in rows.iter().enumerate() {
        for (c, &id) in row.iter().enumerate() {
            ids[r * width + c] = i64::from(id);
        }
    }
    Tensor::from_data(TensorData::new(ids, [rows.len(), width]), device)
}

/// True where `tokens` (B, L) is padding, shaped (B, 1, L): a key mask every query row shares.
pub fn padding_mask(tokens: &Tensor<2, Int>, pad_id: usize) -> Tensor<3, Bool> {
    tokens
        .clone()
        .equal_elem(pad_id as i64)
        .unsqueeze_dim::<3>(1)
}

/// True above the diagonal, shape (B, T, T): position `i` may not attend to `j > i`.
pub fn causal_mask(batch: usize, length: usize, device: &Device) -> Tensor<3, Bool> {
    // burn's `tril_mask` is true outside the lower triangle (diagonal included): exactly the
    // future positions.
    Tensor::<2, Bool>::tril_mask([length, length], 0, device)
        .unsqueeze::<3>()
        .expand([batch, length, length])
}

/// The batch used at `step` (1-based): each epoch visits every batch once, in an order shuffled
/// by (seed, epoch). A pure function, so resuming needs no data-loader state.
pub fn batch_for_step<B>(batches: &[B], seed: u64, step: usize) -> &B {
    let epoch = (step - 1) / batches.len();
    let mut order: Vec<usize> = (0..batches.len()).collect();
    fastrand::Rng::with_seed(seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .shuffle(&mut order);
    &batches[order[(step - 1) % batches.len()]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_padded_and_masks_hide_padding_and_the_future() {
        let device = Device::flex();
        let ids = pad_rows(&[&[5, 6, 7], &[8]], 0, &device);
        assert_eq!(ids.dims(), [2, 3]);
        assert_eq!(
            ids.clone()
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap(),
            vec![5, 6, 7, 8, 0, 0]
        );
        let mask = padding_mask(&ids, 0)
            .into_data()
            .try_to_vec::<bool>()
            .unwrap();
        assert_eq!(mask, vec![false, false, false, false, true, true]);
        let future = causal_mask(1, 3, &device)
            .into_data()
            .try_to_vec::<bool>()
            .unwrap();
        #[rustfmt::skip]
        assert_eq!(future, vec![
            false, true,  true,
            false, false, true,
            false, false, false,
        ]);
    }

    #[test]
    fn every_epoch_is_a_permutation_and_epochs_differ() {
        let batches: Vec<usize> = (0..17).collect();
        let epoch = |e: usize| -> Vec<usize> {
            (1..=17)
                .map(|i| *batch_for_step(&batches, 9, e * 17 + i))
                .collect()
        };
        for e in 0..3 {
            let mut seen = epoch(e);
            seen.sort();
            assert_eq!(seen, batches, "epoch {e} is not a permutation");
        }
        assert_ne!(epoch(0), epoch(1));
        // Another seed, another order.
        let other: Vec<usize> = (1..=17).map(|i| *batch_for_step(&batches, 10, i)).collect();
        assert_ne!(other, epoch(0));
    }
}
