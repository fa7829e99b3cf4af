//! Determinism for any model: weights drawn on the CPU from the seed, and dropout masks drawn
//! from a per-thread generator seeded by (seed, step).
//!
//! burn initialises parameters and draws dropout masks from the backend's generator, which is
//! global (concurrent trainings on other threads would interleave their draws) and differs between
//! backends. Drawing both here instead makes a training a function of its seed alone: a run
//! resumed from a checkpoint at step k replays steps k+1… exactly, concurrent trainings do not
//! disturb each other, and the CPU and GPU backends start from identical weights and apply
//! identical masks.
//!
//! A model uses [`Dropout`] (not `burn::nn::Dropout`) and is built with [`init_on_cpu`]; the
//! training loop ([`crate::train`]) calls [`seed_dropout_masks`] before every step.

use std::cell::RefCell;
use std::sync::Mutex;

use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// Serialises initialisation, which draws from the CPU backend's global generator.
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// Builds a model with `build` on `device`, its parameters drawn on the CPU from `seed`.
///
/// Every backend thus starts from the same weights for a given seed, and concurrent trainings on
/// other threads cannot interleave their draws with this one (the generator is global; the draw
/// holds a lock). burn initialises parameters lazily, on first use: taking the record draws them
/// all here, under the lock.
pub fn init_on_cpu<M: Module>(seed: u64, device: &Device, build: impl Fn(&Device) -> M) -> M {
    let initial = {
        let _guard = INIT_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let cpu = Device::flex();
        cpu.seed(seed);
        build(&cpu).into_record()
    };
    build(device).load_record(initial)
}

/// The mask seed of training step `step` (1-based) of a run seeded with `seed`.
pub fn step_seed(seed: u64, step: usize) -> u64 {
    seed.wrapping_mul(1_000_003).wrapping_add(step as u64)
}

thread_local! {
    static MASKS: RefCell<Option<fastrand::Rng>> = const { RefCell::new(None) };
}

/// Seeds this thread's mask generator (training, once per step), or switches dropout off (`None`).
pub fn seed_dropout_masks(seed: Option<u64>) {
    MASKS.with(|masks| *masks.borrow_mut() = seed.map(fastrand::Rng::with_seed));
}

/// Zeroes each element with probability `prob` and scales the rest by `1 / (1 - prob)`; the
/// identity outside training (no autodiff, or no seeded generator on this thread).
#[derive(Module, Debug)]
pub struct Dropout {
    prob: f64,
}

impl Dropout {
    /// Dropout with rate `prob` (`P_drop`), clamped to `[0, 1)`; scales validate the rate on
    /// load, so a value outside never reaches here from a configuration file.
    pub fn new(prob: f64) -> Self {
        Self {
            prob: prob.clamp(0.0, 0.999),
        }
    }

    /// The rate.
    pub fn prob(&self) -> f64 {
        self.prob
    }

    /// Applies dropout when training.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self.draw(&x.device()) {
            Some((prob, seed)) => repro_kernels::dropout(x, prob, seed),
            None => x,
        }
    }

    /// The probability and mask seed of this dropout's next application on `device`, or `None`
    /// where it is the identity (evaluation, probability 0, no seeded generator): for ops that
    /// apply dropout inside a fused kernel ([`repro_kernels::attention`]). One draw per call, as
    /// [`Dropout::forward`]: the mask is a hash of (that seed, element), fused on the CPU,
    /// regenerated in the backward pass, the same on every backend.
    pub fn draw(&self, device: &Device) -> Option<(f64, u64)> {
        if self.prob == 0.0 || !device.is_autodiff() {
            return None;
        }
        MASKS
            .with(|masks| masks.borrow_mut().as_mut().map(|rng| rng.u64(..)))
            .map(|seed| (self.prob, seed))
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
        seed_dropout_masks(Some(42));
        let first = dropout
            .forward(ones(&device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        seed_dropout_masks(Some(42));
        let again = dropout
            .forward(ones(&device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        seed_dropout_masks(None);
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
        seed_dropout_masks(Some(1));
        let plain = dropout
            .forward(ones(&Device::flex()))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(
            plain.iter().all(|&v| v == 1.0),
            "no dropout without autodiff"
        );
        seed_dropout_masks(None);
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
