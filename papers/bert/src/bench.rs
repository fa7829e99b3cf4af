//! `repro bench`: the `small` scale's BERT (L=2, H=64, A=2) pre-trained with MLM + NSP on real
//! instances of the `small` corpus, and scoring held-out ones, as [`crate::pretraining`] does.

use burn::module::Module;
use burn::optim::AdamWConfig;
use burn::tensor::Device;
use repro_core::Scale;
use repro_core::bench::{
    self, Measurement, OptimizerSpec, Phase, Workload, WorkloadBatch, WorkloadSize,
};
use repro_core::data::batch::batch_for_step;
use repro_core::determinism::{init_on_cpu, seed_dropout_masks, step_seed};

use crate::corpus::{self, Instance, PAD};
use crate::model::{BertConfig, BertForPreTraining};
use crate::pretraining::{LmRows, PretrainingObjective, lm_rows, losses};
use crate::scale::scale_config;

/// What the twin reads for a masked position that is not predicted.
const NOT_PREDICTED: i64 = -100;

/// Forward FLOPs of a padded (rows, width) batch with `predicted` masked-LM positions: the
/// encoder's projections and attention products, the MLM head on the predicted rows, the pooler
/// and the NSP layer.
fn forward_flops(config: &BertConfig, rows: usize, width: usize, predicted: usize) -> f64 {
    let (h, i) = (config.hidden_size as f64, config.intermediate_size as f64);
    let (layers, vocab) = (config.num_hidden_layers as f64, config.vocab_size as f64);
    let tokens = (rows * width) as f64;
    let encoder = tokens * layers * 2.0 * (4.0 * h * h + 2.0 * h * i)
        + rows as f64 * layers * 2.0 * 2.0 * (width * width) as f64 * h;
    let heads =
        predicted as f64 * 2.0 * (h * h + h * vocab) + rows as f64 * 2.0 * (h * h + 2.0 * h);
    encoder + heads
}

/// The rows as the twin reads them: padded ids, segments, attention mask, per-position MLM
/// labels (−100 where not predicted) and NSP labels.
fn workload_batch(config: &BertConfig, rows: &LmRows) -> WorkloadBatch {
    let width = rows.inputs.iter().map(Vec::len).max().unwrap_or(1);
    let pad = |values: &[u32], fill: u32| -> Vec<u32> {
        let mut padded = values.to_vec();
        padded.resize(width, fill);
        padded
    };
    let mut mlm_labels = vec![vec![NOT_PREDICTED; width]; rows.inputs.len()];
    for (&row, &label) in rows.rows.iter().zip(&rows.labels) {
        let row = row as usize;
        mlm_labels[row / width][row % width] = i64::from(label);
    }
    let mut data = serde_json::Map::new();
    data.insert(
        "input_ids".into(),
        serde_json::json!(rows.inputs.iter().map(|r| pad(r, PAD)).collect::<Vec<_>>()),
    );
    data.insert(
        "token_type_ids".into(),
        serde_json::json!(rows.segments.iter().map(|r| pad(r, 0)).collect::<Vec<_>>()),
    );
    data.insert(
        "attention_mask".into(),
        serde_json::json!(
            rows.inputs
                .iter()
                .map(|r| (0..width)
                    .map(|t| u8::from(t < r.len()))
                    .collect::<Vec<_>>())
                .collect::<Vec<_>>()
        ),
    );
    data.insert("mlm_labels".into(), serde_json::json!(mlm_labels));
    data.insert("nsp_labels".into(), serde_json::json!(rows.nsp_labels));
    WorkloadBatch {
        tokens: rows.inputs.iter().map(|r| r.len() as u64).sum(),
        forward_flops: forward_flops(config, rows.inputs.len(), width, rows.labels.len()),
        data,
    }
}

/// The rows of a workload batch again.
fn rows_of(batch: &WorkloadBatch) -> anyhow::Result<LmRows> {
    let ids: Vec<Vec<u32>> = batch.field("input_ids")?;
    let segments: Vec<Vec<u32>> = batch.field("token_type_ids")?;
    let mask: Vec<Vec<u8>> = batch.field("attention_mask")?;
    let mlm: Vec<Vec<i64>> = batch.field("mlm_labels")?;
    let width = ids.first().map_or(0, Vec::len);
    let lengths: Vec<usize> = mask
        .iter()
        .map(|m| m.iter().filter(|&&v| v != 0).count())
        .collect();
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (b, row) in mlm.iter().enumerate() {
        for (t, &label) in row.iter().enumerate() {
            if label != NOT_PREDICTED {
                rows.push((b * width + t) as i64);
                labels.push(u32::try_from(label)?);
            }
        }
    }
    Ok(LmRows {
        inputs: ids
            .iter()
            .zip(&lengths)
            .map(|(r, &n)| r[..n].to_vec())
            .collect(),
        segments: segments
            .iter()
            .zip(&lengths)
            .map(|(r, &n)| r[..n].to_vec())
            .collect(),
        rows,
        labels,
        nsp_labels: batch.field("nsp_labels")?,
    })
}

/// Training steps as [`crate::pretraining::pretrain`] draws them (seed 1, masks from (seed,
/// step)), and held-out instances with the evaluation's fixed masks.
pub fn workload(size: &WorkloadSize) -> anyhow::Result<Workload> {
    let scale = scale_config(Scale::Small)?;
    let documents = corpus::split_documents(
        corpus::documents()?,
        scale.corpus.dev_percent,
        scale.corpus.max_documents,
    );
    let tokenizer = corpus::train_tokenizer(&documents.train, scale.corpus.vocab_size)?;
    let tokenize = |docs: &[corpus::Document]| -> anyhow::Result<Vec<Vec<Vec<u32>>>> {
        docs.iter()
            .map(|d| corpus::tokenize(&tokenizer, d))
            .collect()
    };
    let max_len = scale.corpus.max_seq_len;
    let train = corpus::make_instances(&tokenize(&documents.train)?, max_len, true, 1);
    let dev = corpus::make_instances(&tokenize(&documents.dev)?, max_len, true, 2);
    let config = BertConfig::sized(
        tokenizer.vocab_size(),
        scale.model.layers,
        scale.model.hidden,
        scale.model.heads,
        scale.max_positions(),
    );
    let objective = PretrainingObjective::MlmNsp;
    let batch_size = scale.pretraining.batch_size;
    let count = size.warmup + size.steps;
    let mut order: Vec<usize> = (0..train.len()).collect();
    fastrand::Rng::with_seed(1).shuffle(&mut order);
    let batches: Vec<Vec<usize>> = order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    let train_batches = (1..=count)
        .map(|step| {
            let instances: Vec<&Instance> = batch_for_step(&batches, 1, step)
                .iter()
                .map(|&i| &train[i])
                .collect();
            let mut rng = fastrand::Rng::with_seed(step_seed(1, step) ^ 0x6d61_736b);
            workload_batch(
                &config,
                &lm_rows(&instances, objective, config.vocab_size, &mut rng),
            )
        })
        .collect();
    let mut rng = fastrand::Rng::with_seed(0);
    let score_batches = dev
        .chunks_exact(batch_size)
        .cycle()
        .take(count)
        .map(|chunk| {
            let instances: Vec<&Instance> = chunk.iter().collect();
            workload_batch(
                &config,
                &lm_rows(&instances, objective, config.vocab_size, &mut rng),
            )
        })
        .collect();
    let parameters =
        init_on_cpu(0, &Device::flex(), |device| config.init_pretraining(device)).num_params();
    Ok(Workload {
        model: "bert".into(),
        description: format!(
            "BERT L={} H={} A={} (vocabulary {}), MLM + NSP: {batch_size} instances of ≤ {max_len} tokens per batch",
            config.num_hidden_layers,
            config.hidden_size,
            config.num_attention_heads,
            config.vocab_size
        ),
        threads: size.threads,
        parameters,
        warmup: size.warmup,
        min_seconds: size.min_seconds,
        config: serde_json::to_value(&config)?,
        optimizer: OptimizerSpec {
            name: "adamw".into(),
            lr: scale.pretraining.learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-6,
            weight_decay: scale.pretraining.weight_decay,
            clip_norm: None,
            clip_mode: None,
        },
        train: train_batches,
        score: score_batches,
    })
}

/// Our side of `workload`: [`crate::model`], the losses of [`losses`], AdamW, the shared
/// loop's backward and step.
pub fn measure(workload: &Workload, phase: Phase, device: &Device) -> anyhow::Result<Measurement> {
    let config: BertConfig = workload.config()?;
    config.validate()?;
    let objective = PretrainingObjective::MlmNsp;
    let loss_of = |model: &BertForPreTraining, rows: LmRows, device: &Device| {
        let (lm, nsp) = losses(model, rows.into_batch(device), objective);
        match nsp {
            Some(nsp) => lm + nsp,
            None => lm,
        }
    };
    match phase {
        Phase::Train => {
            let device = device.clone().autodiff();
            let mut model = init_on_cpu(0, &device, |device| config.init_pretraining(device));
            let parameters = model.num_params();
            let spec = &workload.optimizer;
            let mut optimizer = AdamWConfig::new()
                .with_beta_1(spec.beta1 as f32)
                .with_beta_2(spec.beta2 as f32)
                .with_epsilon(spec.eps as f32)
                .with_weight_decay(spec.weight_decay as f32)
                .init();
            let mut step = 0;
            bench::time_steps(workload, phase, parameters, |batch| {
                step += 1;
                let rows = rows_of(batch)?;
                seed_dropout_masks(Some(step_seed(1, step)));
                let loss = loss_of(&model, rows, &device);
                let value: f64 = loss.clone().into_scalar();
                repro_core::train::backward_and_step(&mut model, &mut optimizer, loss, spec.lr);
                seed_dropout_masks(None);
                Ok(value)
            })
        }
        Phase::Score => {
            let model = init_on_cpu(0, device, |device| config.init_pretraining(device));
            let parameters = model.num_params();
            bench::time_steps(workload, phase, parameters, |batch| {
                Ok(loss_of(&model, rows_of(batch)?, device).into_scalar())
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_survive_the_round_trip_through_the_workload_file() {
        let config = BertConfig::sized(30, 1, 8, 2, 16);
        let rows = LmRows {
            inputs: vec![vec![2, 5, 4, 3], vec![2, 6, 3]],
            segments: vec![vec![0, 0, 1, 1], vec![0, 0, 0]],
            rows: vec![1, 6],
            labels: vec![7, 8],
            nsp_labels: vec![0, 1],
        };
        let batch = workload_batch(&config, &rows);
        assert_eq!(batch.tokens, 7);
        let labels: Vec<Vec<i64>> = batch.field("mlm_labels").unwrap();
        assert_eq!(
            labels,
            vec![vec![-100, 7, -100, -100], vec![-100, -100, 8, -100]]
        );
        assert_eq!(rows_of(&batch).unwrap(), rows);
    }
}
