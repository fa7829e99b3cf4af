//! Dropout (§5.4, "Residual Dropout") with masks drawn from a per-thread generator that the
//! training loop seeds for every step.
//!
//! burn's own dropout draws from the backend's generator, which is global and differs between
//! backends. Drawing masks here instead makes a step's masks a function of (seed, step) alone:
//! a resumed run replays them exactly, concurrent trainings on other threads do not disturb each
//! other, and the CPU and GPU backends apply identical masks.

use std::cell::RefCell;

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};

thread_local! {
    static MASKS: RefCell<Option<fastrand::Rng>> = const { RefCell::new(None) };
}

/// Seeds this thread's mask generator (training, once per step), or switches dropout off (`None`).
pub fn seed_masks(seed: Option<u64>) {
    MASKS.with(|masks| *masks.borrow_mut() = seed.map(fastrand::Rng::with_seed));
}

/// Zeroes each element with probability `prob` and scales the rest by `1 / (1 - prob)`; the
/// identity outside training (no autodiff, or no seeded generator on this thread).
#[derive(Module, Debug)]
pub struct Dropout {
    prob: f64,
}

impl Dropout {
    /// Dropout with rate `prob` (`P_drop`).
    pub fn new(prob: f64) -> Self {
        assert!(
            (0.0..1.0).contains(&prob),
            "dropout rate {prob} outside [0, 1)"
        );
        Self { prob }
    }

    /// Applies dropout when training.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        if self.prob == 0.0 || !x.device().is_autodiff() {
            return x;
        }
        let shape = x.shape();
        let count = shape.num_elements();
        let keep = 1.0 - self.prob;
        let scale = (1.0 / keep) as f32;
        let mask = MASKS.with(|masks| {
            masks.borrow_mut().as_mut().map(|rng| {
                (0..count)
                    .map(|_| {
                        if f64::from(rng.f32()) < keep {
                            scale
                        } else {
                            0.0
                        }
                    })
                    .collect::<Vec<f32>>()
            })
        });
        match mask {
            Some(mask) => {
                let device = x.device();
                x * Tensor::<D>::from_data(TensorData::new(mask, shape), &device)
            }
            None => x,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn ones(device: &Device) -> Tensor<2> {
        Tensor::<2>::ones([64, 64], device)
    }

    #[test]
    fn masks_are_a_function_of_the_seed_and_keep_the_expectation() {
        let device = Device::flex().autodiff();
        let dropout = Dropout::new(0.25);
        seed_masks(Some(42));
        let first = dropout
            .forward(ones(&device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        seed_masks(Some(42));
        let again = dropout
            .forward(ones(&device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        seed_masks(None);
        assert_eq!(first, again);
        // Survivors are scaled by 1 / (1 - p) = 4/3; about a quarter are dropped.
        assert!(
            first
                .iter()
                .all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6)
        );
        let dropped = first.iter().filter(|&&v| v == 0.0).count() as f64 / first.len() as f64;
        assert!((dropped - 0.25).abs() < 0.03, "{dropped}");
        let mean = first.iter().map(|&v| f64::from(v)).sum::<f64>() / first.len() as f64;
        assert!((mean - 1.0).abs() < 0.05, "{mean}");
    }

    #[test]
    fn identity_in_evaluation_or_without_a_seed() {
        let dropout = Dropout::new(0.5);
        seed_masks(Some(1));
        let plain = dropout
            .forward(ones(&Device::flex()))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(
            plain.iter().all(|&v| v == 1.0),
            "no dropout without autodiff"
        );
        seed_masks(None);
        let unseeded = dropout
            .forward(ones(&Device::flex().autodiff()))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(
            unseeded.iter().all(|&v| v == 1.0),
            "no dropout without a seeded generator"
        );
    }
}
