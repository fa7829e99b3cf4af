//! Pre-training (§2.3, Appendix B) on the shared loop of `repro_core::train`: next-token
//! prediction over windows of the token stream, Adam with β₁ 0.9, β₂ 0.95, ε 1e-8, gradient
//! clipping at norm 1.0, weight decay 0.1, a linear warm-up then cosine decay to 10 % of the
//! peak learning rate.
//!
//! Batches are a pure function of (seed, step), so a resumed run replays the same steps. The dev
//! loss is the next-token loss per token on held-out real documents, the same windows for every
//! model.

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::AdamWConfig;
use burn::tensor::{Device, Int, Tensor, TensorData};
use repro_core::data::batch::batch_for_step;
use repro_core::determinism::init_on_cpu;
use repro_core::progress::Progress;
use repro_core::train::loss::cross_entropy;
use repro_core::train::{self, Checkpoints, Objective, Schedule, StepLoss, Trained, Training};

use crate::model::{Gpt, GptConfig};
use crate::scale::TrainingConfig;

/// Dev windows scored at each evaluation (a fixed prefix of the held-out windows).
const DEV_WINDOWS: usize = 64;

/// Linear warm-up over `warmup` steps to `peak`, then cosine decay to 10 % of `peak` at `total`
/// (§2.3: "cosine decay for learning rate down to 10 % of its value").
pub fn warmup_cosine(step: usize, total: usize, warmup: usize, peak: f64) -> f64 {
    let step = step as f64;
    let warmup = warmup.max(1) as f64;
    let total = (total as f64).max(warmup + 1.0);
    if step <= warmup {
        return peak * step / warmup;
    }
    let progress = ((step - warmup) / (total - warmup)).min(1.0);
    let floor = 0.1 * peak;
    floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Inputs (B, T) and flattened next-token targets (B·T) of `windows` of T + 1 tokens each.
fn batch(windows: &[&[u32]], device: &Device) -> (Tensor<2, Int>, Vec<u32>) {
    let length = windows[0].len() - 1;
    let mut inputs = Vec::with_capacity(windows.len() * length);
    let mut targets = Vec::with_capacity(windows.len() * length);
    for window in windows {
        inputs.extend(window[..length].iter().map(|&t| i64::from(t)));
        targets.extend_from_slice(&window[1..]);
    }
    let ids = Tensor::from_data(TensorData::new(inputs, [windows.len(), length]), device);
    (ids, targets)
}

/// Mean next-token loss of `model` on `windows` (shape (1), on the model's device).
pub fn lm_loss(model: &Gpt, windows: &[&[u32]], device: &Device) -> Tensor<1> {
    let (ids, targets) = batch(windows, device);
    let logits = model.forward(ids);
    let [b, t, v] = logits.dims();
    cross_entropy(logits.reshape([b * t, v]), &targets)
}

/// The next-token loss per token (nats) of `model` on `windows`, in batches of `batch_size`.
pub fn evaluate(
    model: &Gpt,
    windows: &[Vec<u32>],
    batch_size: usize,
    device: &Device,
) -> anyhow::Result<f64> {
    anyhow::ensure!(!windows.is_empty(), "no held-out windows to evaluate on");
    let (mut total, mut count) = (0.0, 0usize);
    for chunk in windows.chunks(batch_size.max(1)) {
        let rows: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
        let loss: f64 = lm_loss(model, &rows, device).into_scalar();
        total += loss * chunk.len() as f64;
        count += chunk.len();
    }
    Ok(total / count as f64)
}

struct LmObjective<'a> {
    batches: Vec<Vec<usize>>,
    train: &'a [Vec<u32>],
    dev: &'a [Vec<u32>],
    config: &'a TrainingConfig,
    learning_rate: f64,
    seed: u64,
    train_device: Device,
    eval_device: Device,
}

impl Objective<Gpt> for LmObjective<'_> {
    fn step_loss(&self, model: &Gpt, step: usize) -> anyhow::Result<StepLoss> {
        let rows: Vec<&[u32]> = batch_for_step(&self.batches, self.seed, step)
            .iter()
            .map(|&i| self.train[i].as_slice())
            .collect();
        let tokens = rows.iter().map(|r| (r.len() - 1) as u64).sum();
        Ok(StepLoss {
            loss: lm_loss(model, &rows, &self.train_device),
            tokens,
        })
    }

    fn learning_rate(&self, step: usize) -> f64 {
        let warmup = (self.config.warmup_fraction * self.config.steps as f64).round() as usize;
        warmup_cosine(step, self.config.steps, warmup, self.learning_rate)
    }

    fn dev_loss(&self, model: &Gpt) -> anyhow::Result<f64> {
        let dev = &self.dev[..self.dev.len().min(DEV_WINDOWS)];
        evaluate(model, dev, self.config.batch_size, &self.eval_device)
    }
}

/// One pre-training run.
pub struct PretrainingRun<'a> {
    /// Progress-bar name (`l seed 1`).
    pub name: String,
    /// Architecture.
    pub model: &'a GptConfig,
    /// Budget and optimiser.
    pub config: &'a TrainingConfig,
    /// Peak learning rate of this size.
    pub learning_rate: f64,
    /// Seed of initialisation and batch order.
    pub seed: u64,
    /// Training windows of `n_positions + 1` tokens.
    pub train: &'a [Vec<u32>],
    /// Held-out windows.
    pub dev: &'a [Vec<u32>],
    /// Checkpointing.
    pub checkpoints: Option<Checkpoints>,
}

/// Pre-trains `run.model` from scratch.
pub fn pretrain(
    run: PretrainingRun,
    device: &Device,
    progress: &Progress,
) -> anyhow::Result<Trained<Gpt>> {
    anyhow::ensure!(!run.train.is_empty(), "no pre-training windows");
    run.model.validate()?;
    let train_device = device.clone().autodiff();
    let mut order: Vec<usize> = (0..run.train.len()).collect();
    fastrand::Rng::with_seed(run.seed).shuffle(&mut order);
    let batches: Vec<Vec<usize>> = order
        .chunks(run.config.batch_size.max(1))
        .filter(|chunk| chunk.len() == run.config.batch_size)
        .map(<[usize]>::to_vec)
        .collect();
    anyhow::ensure!(
        !batches.is_empty(),
        "fewer training windows ({}) than one batch ({})",
        run.train.len(),
        run.config.batch_size
    );
    let objective = LmObjective {
        batches,
        train: run.train,
        dev: run.dev,
        config: run.config,
        learning_rate: run.learning_rate,
        seed: run.seed,
        train_device: train_device.clone(),
        eval_device: device.clone(),
    };
    let model_config = run.model.clone();
    let training = Training {
        name: run.name,
        seed: run.seed,
        schedule: Schedule {
            steps: run.config.steps,
            eval_every: run.config.eval_every,
            checkpoint_every: run.config.checkpoint_every,
        },
        model: init_on_cpu(run.seed, &train_device, |device| model_config.init(device)),
        // Appendix B: "Adam with β1 = 0.9, β2 = 0.95, and ε = 10^−8 … clip the global norm of
        // the gradient at 1.0 … 0.1 weight decay". burn clips each parameter's gradient norm,
        // not the global one: the nearest it offers.
        optimizer: AdamWConfig::new()
            .with_beta_1(0.9)
            .with_beta_2(0.95)
            .with_epsilon(1e-8)
            .with_weight_decay(run.config.weight_decay as f32)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
            .init(),
        checkpoints: run.checkpoints,
    };
    train::train(training, &objective, progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_warms_up_then_decays_to_a_tenth() {
        assert_eq!(warmup_cosine(5, 100, 10, 1.0), 0.5);
        assert_eq!(warmup_cosine(10, 100, 10, 1.0), 1.0);
        assert!((warmup_cosine(55, 100, 10, 1.0) - 0.55).abs() < 1e-12);
        assert!((warmup_cosine(100, 100, 10, 1.0) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn a_batch_predicts_each_next_token() {
        let device = Device::flex();
        let windows: [&[u32]; 2] = [&[1, 2, 3], &[4, 5, 6]];
        let (ids, targets) = batch(&windows, &device);
        assert_eq!(ids.dims(), [2, 2]);
        assert_eq!(targets, vec![2, 3, 5, 6]);
    }
}
