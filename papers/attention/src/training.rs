//! Training (§5): token-bucketed batches, Adam with the warm-up schedule of Eq. 3, label
//! smoothing (§5.4), dev perplexity, and checkpoints that make an interrupted run resumable to the
//! same final numbers.
//!
//! Determinism: weights are drawn on the CPU from the seed, batches are a pure function of
//! (seed, step), and dropout masks come from a generator re-seeded from (seed, step) before every
//! step ([`crate::dropout`]), so a run resumed from a checkpoint at step k replays steps k+1…
//! exactly as an uninterrupted run would, and trainings may run concurrently on other threads.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use repro_core::progress::Progress;
use serde::{Deserialize, Serialize};

use crate::data::{BOS, EncodedPair, PAD};
use crate::model::{Transformer, TransformerConfig};

/// Optimiser and schedule settings (§5.3, §5.4), plus the budget of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainingConfig {
    /// Optimisation steps.
    pub steps: usize,
    /// Tokens (source + target, padding included) per batch; the paper used ~25k + 25k.
    pub batch_tokens: usize,
    /// `warmup_steps` of Eq. 3 (paper: 4000).
    pub warmup_steps: usize,
    /// Multiplier on Eq. 3 (paper: 1). Small models with short runs tolerate a larger rate.
    pub lr_factor: f64,
    /// `ε_ls` (§5.4; paper: 0.1).
    pub label_smoothing: f64,
    /// Steps between dev-loss evaluations (learning curves).
    pub eval_every: usize,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
}

/// Eq. 3: `lrate = d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5)`, times `factor`.
/// Rises linearly for `warmup_steps`, then decays as the inverse square root of the step.
pub fn learning_rate(step: usize, d_model: usize, warmup_steps: usize, factor: f64) -> f64 {
    let step = step.max(1) as f64;
    let warmup = warmup_steps.max(1) as f64;
    factor * (d_model as f64).powf(-0.5) * step.powf(-0.5).min(step * warmup.powf(-1.5))
}

/// Cross-entropy against the label-smoothed target distribution of §5.4 (Szegedy et al. 2016):
/// `q = (1 - ε)·onehot(y) + ε/V`, so the loss per token is `(1 - ε)·(-log p_y) + ε·mean_v(-log p_v)`.
/// Padding targets are excluded. Returns the mean over real tokens, shape (1).
pub fn label_smoothed_cross_entropy(
    logits: Tensor<3>,
    targets: Tensor<2, Int>,
    epsilon: f64,
) -> Tensor<1> {
    let log_probs = log_softmax(logits, 2); // (B, T, V)
    let nll = -log_probs
        .clone()
        .gather(2, targets.clone().unsqueeze_dim::<3>(2))
        .squeeze_dim::<2>(2); // (B, T)
    let uniform = -log_probs.mean_dim(2).squeeze_dim::<2>(2); // (B, T)
    let per_token = nll * (1.0 - epsilon) + uniform * epsilon;
    let real = targets.not_equal_elem(PAD as i64).float(); // (B, T)
    let count = real.clone().sum();
    (per_token * real).sum() / count
}

/// Summed negative log-likelihood (no smoothing) and token count: what perplexity is made of.
pub fn negative_log_likelihood(logits: Tensor<3>, targets: Tensor<2, Int>) -> (f64, usize) {
    let log_probs = log_softmax(logits, 2);
    let nll = -log_probs
        .gather(2, targets.clone().unsqueeze_dim::<3>(2))
        .squeeze_dim::<2>(2);
    let real = targets.not_equal_elem(PAD as i64).float();
    let tokens: f64 = real.clone().sum().into_scalar();
    let total: f64 = (nll * real).sum().into_scalar();
    (total, tokens as usize)
}

/// A batch as tensors: padded source (B, S), decoder input (B, T) and output (B, T).
pub struct Batch {
    /// Source ids followed by EOS, padded.
    pub source: Tensor<2, Int>,
    /// BOS followed by the target without its last token, padded.
    pub target_input: Tensor<2, Int>,
    /// The target ids followed by EOS, padded.
    pub target_output: Tensor<2, Int>,
}

fn pad_rows(rows: &[&[u32]], device: &Device) -> Tensor<2, Int> {
    let width = rows.iter().map(|row| row.len()).max().unwrap_or(1).max(1);
    let mut ids = vec![PAD as i64; rows.len() * width];
    for (r, row) in rows.iter().enumerate() {
        for (c, &id) in row.iter().enumerate() {
            ids[r * width + c] = i64::from(id);
        }
    }
    Tensor::from_data(TensorData::new(ids, [rows.len(), width]), device)
}

/// Builds the tensors of a batch of pairs on `device`.
pub fn make_batch(pairs: &[&EncodedPair], device: &Device) -> Batch {
    let sources: Vec<&[u32]> = pairs.iter().map(|pair| pair.source.as_slice()).collect();
    let inputs: Vec<Vec<u32>> = pairs
        .iter()
        .map(|pair| {
            std::iter::once(BOS)
                .chain(pair.target[..pair.target.len() - 1].iter().copied())
                .collect()
        })
        .collect();
    let inputs: Vec<&[u32]> = inputs.iter().map(Vec::as_slice).collect();
    let outputs: Vec<&[u32]> = pairs.iter().map(|pair| pair.target.as_slice()).collect();
    Batch {
        source: pad_rows(&sources, device),
        target_input: pad_rows(&inputs, device),
        target_output: pad_rows(&outputs, device),
    }
}

/// Groups pair indices into batches of similar length holding at most `batch_tokens` tokens
/// (§5.1: "sentence pairs were batched together by approximate sequence length").
pub fn bucket_batches(pairs: &[EncodedPair], batch_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by_key(|&i| {
        (
            pairs[i].source.len().max(pairs[i].target.len()),
            pairs[i].source.len(),
            i,
        )
    });
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut longest = 0;
    for i in order {
        let length = pairs[i].source.len() + pairs[i].target.len();
        let longest_if_added = longest.max(length);
        if !current.is_empty() && longest_if_added * (current.len() + 1) > batch_tokens {
            batches.push(std::mem::take(&mut current));
            longest = 0;
        }
        longest = longest.max(length);
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// The batch used at `step` (1-based): each epoch visits every batch once, in an order shuffled
/// by (seed, epoch). A pure function, so resuming needs no RNG state.
pub fn batch_for_step(batches: &[Vec<usize>], seed: u64, step: usize) -> &[usize] {
    let epoch = (step - 1) / batches.len();
    let mut order: Vec<usize> = (0..batches.len()).collect();
    fastrand::Rng::with_seed(seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .shuffle(&mut order);
    &batches[order[(step - 1) % batches.len()]]
}

/// Dev-set loss per token (unsmoothed) of a model in evaluation mode.
pub fn dev_loss(
    model: &Transformer,
    dev: &[EncodedPair],
    batch_tokens: usize,
    device: &Device,
) -> f64 {
    let mut total = 0.0;
    let mut tokens = 0;
    for indices in bucket_batches(dev, batch_tokens) {
        let pairs: Vec<&EncodedPair> = indices.iter().map(|&i| &dev[i]).collect();
        let batch = make_batch(&pairs, device);
        let logits = model.forward(batch.source, batch.target_input);
        let (nll, count) = negative_log_likelihood(logits, batch.target_output);
        total += nll;
        tokens += count;
    }
    total / tokens.max(1) as f64
}

/// Serialises model initialisation, which draws from the backend's global generator.
static INIT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Where a training run keeps its checkpoint.
fn checkpoint_paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        dir.join("model.bpk"),
        dir.join("optimizer.bpk"),
        dir.join("state.json"),
    )
}

/// What a checkpoint records besides the weights.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TrainingState {
    step: usize,
    finished: bool,
    train_loss: Vec<(f64, f64)>,
    dev_loss: Vec<(f64, f64)>,
    tokens: u64,
    seconds: f64,
    /// Training loss summed since the last evaluation, and over how many steps: kept in the
    /// checkpoint so that a resumed run averages its curve exactly like an uninterrupted one.
    interval_loss: f64,
    interval_steps: usize,
}

/// A trained model with its curves.
pub struct Trained {
    /// The model in evaluation mode (no autodiff, dropout off), on the plain device.
    pub model: Transformer,
    /// (step, training loss with label smoothing), averaged over each evaluation interval.
    pub train_loss: Vec<(f64, f64)>,
    /// (step, dev loss per token without smoothing).
    pub dev_loss: Vec<(f64, f64)>,
    /// Final dev perplexity, `exp(dev loss)`.
    pub dev_perplexity: f64,
    /// Training throughput, tokens (source + target, padding excluded) per second.
    pub tokens_per_second: f64,
    /// Parameters.
    pub parameters: usize,
    /// Training wall time, seconds (summed over resumed sessions).
    pub seconds: f64,
}

/// What a training run needs.
pub struct TrainingRun<'a> {
    /// A name for the progress bar (`base`, `h=1`).
    pub name: String,
    /// Architecture.
    pub model: &'a TransformerConfig,
    /// Optimisation.
    pub training: &'a TrainingConfig,
    /// Seed of initialisation, batch order and dropout.
    pub seed: u64,
    /// Training and dev data.
    pub train: &'a [EncodedPair],
    /// Dev data for the curves and perplexity.
    pub dev: &'a [EncodedPair],
    /// Checkpoint directory of this run.
    pub checkpoint_dir: PathBuf,
    /// Continue from the checkpoint if there is one.
    pub resume: bool,
}

fn write_state(path: &Path, state: &TrainingState) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(state)?;
    repro_core::atomic::write_atomic(path, &json)
        .with_context(|| format!("writing {}", path.display()))
}

/// Saves model, optimiser and state; each file lands atomically and the state last, so a
/// checkpoint is complete whenever its state file says so.
fn save_checkpoint(
    dir: &Path,
    model: &Transformer,
    optimizer: &ModuleOptimizer,
    state: &TrainingState,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (model_path, optimizer_path, state_path) = checkpoint_paths(dir);
    let model_tmp = dir.join("model.bpk.tmp");
    let optimizer_tmp = dir.join("optimizer.bpk.tmp");
    model
        .clone()
        .save_file(&model_tmp)
        .map_err(|error| anyhow::anyhow!("saving model: {error:?}"))?;
    optimizer
        .save(&optimizer_tmp)
        .map_err(|error| anyhow::anyhow!("saving optimizer: {error:?}"))?;
    std::fs::rename(&model_tmp, &model_path)?;
    std::fs::rename(&optimizer_tmp, &optimizer_path)?;
    write_state(&state_path, state)
}

/// Trains a Transformer, resuming from `run.checkpoint_dir` when asked and possible.
pub fn train(run: &TrainingRun, device: &Device, progress: &Progress) -> anyhow::Result<Trained> {
    let train_device = device.clone().autodiff();
    // Weights are drawn on the CPU and then moved, so every backend starts from the same
    // parameters for a given seed (backends' random generators differ).
    let mut model = {
        // The backend generator is global: hold the lock so that concurrent trainings on other
        // threads cannot interleave their draws with this initialisation.
        let _guard = INIT_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // burn initialises parameters lazily, on first use: taking the record draws them all
        // here, on the CPU, under the lock.
        let init_device = Device::flex();
        init_device.seed(run.seed);
        let initial = run.model.init(&init_device).into_record();
        run.model.init(&train_device).load_record(initial)
    };
    let mut optimizer = AdamConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.98) // §5.3
        .with_epsilon(1e-9)
        .init();
    let parameters = model.num_params();
    let (model_path, optimizer_path, state_path) = checkpoint_paths(&run.checkpoint_dir);

    let mut state = TrainingState::default();
    if run.resume && state_path.exists() {
        let text = std::fs::read_to_string(&state_path)?;
        state = serde_json::from_str(&text)
            .with_context(|| format!("corrupt checkpoint state {}", state_path.display()))?;
        model = model.try_load_file(&model_path).map_err(|error| {
            anyhow::anyhow!("loading checkpoint {}: {error:?}", model_path.display())
        })?;
        optimizer = optimizer.load(&optimizer_path).map_err(|error| {
            anyhow::anyhow!("loading checkpoint {}: {error:?}", optimizer_path.display())
        })?;
        progress.println(&format!(
            "{}: resumed at step {}/{}",
            run.name, state.step, run.training.steps
        ));
    }

    let batches = bucket_batches(run.train, run.training.batch_tokens);
    anyhow::ensure!(!batches.is_empty(), "no training data");
    let phase = progress.phase(
        &format!("train {}", run.name),
        run.training.steps as u64,
        "steps",
    );
    phase.set_position(state.step as u64);
    let started = Instant::now();
    let seconds_before = state.seconds;

    while state.step < run.training.steps && !state.finished {
        let step = state.step + 1;
        // Dropout masks depend on (seed, step) only: a resumed run replays them exactly.
        crate::dropout::seed_masks(Some(
            run.seed.wrapping_mul(1_000_003).wrapping_add(step as u64),
        ));
        let indices = batch_for_step(&batches, run.seed, step);
        let pairs: Vec<&EncodedPair> = indices.iter().map(|&i| &run.train[i]).collect();
        state.tokens += pairs
            .iter()
            .map(|pair| (pair.source.len() + pair.target.len()) as u64)
            .sum::<u64>();
        let batch = make_batch(&pairs, &train_device);
        let logits = model.forward(batch.source, batch.target_input);
        let loss =
            label_smoothed_cross_entropy(logits, batch.target_output, run.training.label_smoothing);
        let loss_value: f64 = loss.clone().into_scalar();
        anyhow::ensure!(
            loss_value.is_finite(),
            "{}: training diverged at step {step} (loss {loss_value})",
            run.name
        );
        let gradients = GradientsParams::from_grads(loss.backward(), &model);
        let rate = learning_rate(
            step,
            run.model.d_model,
            run.training.warmup_steps,
            run.training.lr_factor,
        );
        model = optimizer.step(rate, model, gradients);
        state.step = step;
        state.interval_loss += loss_value;
        state.interval_steps += 1;

        let elapsed = seconds_before + started.elapsed().as_secs_f64();
        phase.inc(1);
        phase.message(format!(
            "loss {loss_value:.3}, {:.0} tok/s",
            state.tokens as f64 / elapsed.max(1e-9)
        ));
        if step % run.training.eval_every == 0 || step == run.training.steps {
            state.train_loss.push((
                step as f64,
                state.interval_loss / state.interval_steps as f64,
            ));
            state.interval_loss = 0.0;
            state.interval_steps = 0;
            let loss = dev_loss(&model.valid(), run.dev, run.training.batch_tokens, device);
            state.dev_loss.push((step as f64, loss));
        }
        if step % run.training.checkpoint_every == 0 || step == run.training.steps {
            state.seconds = elapsed;
            state.finished = step == run.training.steps;
            save_checkpoint(&run.checkpoint_dir, &model, &optimizer, &state)?;
        }
    }
    crate::dropout::seed_masks(None);
    let seconds = state.seconds.max(1e-9);
    let dev_loss = state
        .dev_loss
        .last()
        .map(|&(_, loss)| loss)
        .unwrap_or(f64::NAN);
    phase.finish(&format!(
        "dev ppl {:.2}, {:.0} tok/s",
        dev_loss.exp(),
        state.tokens as f64 / seconds
    ));
    Ok(Trained {
        model: model.valid(),
        train_loss: state.train_loss,
        dev_loss: state.dev_loss,
        dev_perplexity: dev_loss.exp(),
        tokens_per_second: state.tokens as f64 / seconds,
        parameters,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_follows_equation_3() {
        // Base model: d_model 512, warmup 4000. Peak at the end of warm-up.
        let peak = learning_rate(4000, 512, 4000, 1.0);
        assert!((peak - 512f64.powf(-0.5) * 4000f64.powf(-0.5)).abs() < 1e-12);
        // Linear increase during warm-up…
        assert!((learning_rate(2000, 512, 4000, 1.0) - peak / 2.0).abs() < 1e-12);
        // …then inverse square root decay.
        assert!((learning_rate(16000, 512, 4000, 1.0) - peak / 2.0).abs() < 1e-12);
        assert_eq!(
            learning_rate(100, 512, 4000, 2.0),
            2.0 * learning_rate(100, 512, 4000, 1.0)
        );
    }

    #[test]
    fn label_smoothing_matches_the_formula_and_ignores_padding() {
        let device = Device::flex();
        // One sequence, two real tokens and one pad; vocabulary of 3.
        let logits = Tensor::<3>::from_data(
            TensorData::new(
                vec![2.0f32, 0.0, 0.0, 0.0, 1.0, 0.0, 5.0, 5.0, 5.0],
                [1, 3, 3],
            ),
            &device,
        );
        // Id 0 is padding, so the real targets use ids 1 and 2.
        let targets = Tensor::<2, Int>::from_data(
            TensorData::new(vec![2i64, 1, PAD as i64], [1, 3]),
            &device,
        );
        let log_p =
            |row: [f64; 3], k: usize| row[k] - row.iter().map(|x| x.exp()).sum::<f64>().ln();
        let rows = [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let epsilon = 0.1;
        let expected: f64 = [(rows[0], 2), (rows[1], 1)]
            .iter()
            .map(|&(row, y)| {
                let uniform = (0..3).map(|k| -log_p(row, k)).sum::<f64>() / 3.0;
                (1.0 - epsilon) * -log_p(row, y) + epsilon * uniform
            })
            .sum::<f64>()
            / 2.0;
        let loss: f64 =
            label_smoothed_cross_entropy(logits.clone(), targets.clone(), epsilon).into_scalar();
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
        // ε = 0 is plain cross-entropy.
        let plain: f64 =
            label_smoothed_cross_entropy(logits.clone(), targets.clone(), 0.0).into_scalar();
        let (nll, tokens) = negative_log_likelihood(logits, targets);
        assert_eq!(tokens, 2);
        assert!((plain - nll / 2.0).abs() < 1e-5);
    }

    #[test]
    fn batches_cover_every_pair_once_within_the_token_budget() {
        let pairs: Vec<EncodedPair> = (0..50)
            .map(|i| EncodedPair {
                source: vec![5; 1 + i % 7],
                target: vec![6; 1 + i % 5],
            })
            .collect();
        let batches = bucket_batches(&pairs, 40);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        for batch in &batches {
            let longest = batch
                .iter()
                .map(|&i| pairs[i].source.len() + pairs[i].target.len())
                .max()
                .unwrap();
            assert!(batch.len() == 1 || longest * batch.len() <= 40);
        }
        // The schedule is a pure function of (seed, step) and visits every batch each epoch.
        let epoch: Vec<&[usize]> = (1..=batches.len())
            .map(|step| batch_for_step(&batches, 7, step))
            .collect();
        assert_eq!(epoch.len(), batches.len());
        assert_eq!(
            batch_for_step(&batches, 7, 3),
            batch_for_step(&batches, 7, 3)
        );
    }
}
