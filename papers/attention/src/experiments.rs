//! The experiments: one function per table row group being reproduced.
//!
//! | function                      | reproduces                                                   |
//! |-------------------------------|--------------------------------------------------------------|
//! | [`base_model`]                | Table 2 / Table 3 "base": test BLEU, dev perplexity and BLEU |
//! | [`attention_heads`]           | Table 3 (A): h at fixed d_model (d_k = d_model / h)          |
//! | [`model_size`]                | Table 3 (C): fewer layers N                                  |
//! | [`regularization`]            | Table 3 (D): P_drop = 0 and ε_ls = 0                         |
//! | [`positional_encoding`]       | Table 3 (E): learned positions instead of sinusoids          |
//! | [`self_attention_complexity`] | Table 1 / §4: self-attention vs recurrent layer time over n  |
//!
//! Variants are trained once per seed and shared: the base model is row (A) h=8, (D)
//! P_drop=0.1 / ε_ls=0.1 and (E) sinusoidal.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use repro_core::Scale;
use repro_core::metrics::bleu::{BleuConfig, corpus_bleu};
use repro_core::run::{Curve, ExperimentResult, Metric, RunContext, Series};
use serde::Deserialize;

/// Names under which the base configuration appears in the experiments.
const BASE_ALIASES: [&str; 2] = ["base", "sinusoidal"];

use crate::data::{self, Bpe, EncodedPair, Pair};
use crate::decoding::{self, Decoding};
use crate::model::{PositionalEncoding, TransformerConfig};
use crate::training::{self, TrainingConfig, TrainingRun};

/// Model hyperparameters of a scale (the base variant's).
#[derive(Debug, Clone, Deserialize)]
pub struct ModelScale {
    /// `d_model`.
    pub d_model: usize,
    /// `h`.
    pub n_heads: usize,
    /// `d_ff`.
    pub d_ff: usize,
    /// `N`.
    pub n_layers: usize,
    /// `P_drop`.
    pub dropout: f64,
    /// Positional table length.
    pub max_len: usize,
}

/// One scale of `scales.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScaleConfig {
    /// How many seeds the variants in `seeded_variants` are trained with: the run's seed,
    /// seed + 1, … Other variants use the run's seed only.
    pub seeds: usize,
    /// Variants whose claims hinge on small differences and so get every seed (`base` covers
    /// its aliases `h<base heads>` and `sinusoidal`).
    #[serde(default)]
    pub seeded_variants: Vec<String>,
    /// Keep pairs with at most this many words per side.
    pub max_words: usize,
    /// Training pairs used (after filtering).
    pub train_pairs: usize,
    /// Dev pairs used.
    pub dev_pairs: usize,
    /// Test pairs used.
    pub test_pairs: usize,
    /// Joint BPE vocabulary size.
    pub vocab_size: usize,
    /// Tokens per side, EOS included.
    pub max_tokens: usize,
    /// Sentences decoded together.
    pub decode_batch: usize,
    /// Beam size (the paper's is 4).
    pub beam_size: usize,
    /// Table 3 (A) head counts besides the base's.
    pub heads: Vec<usize>,
    /// Table 3 (C) smaller N.
    pub smaller_layers: usize,
    /// Sequence lengths of the Table 1 timing.
    pub complexity_lengths: Vec<usize>,
    /// Timing repeats (the median is kept).
    pub complexity_repeats: usize,
    /// The base model.
    pub model: ModelScale,
    /// Optimisation.
    pub training: TrainingConfig,
}

/// Reads a scale from the crate's `scales.toml`.
pub fn scale_config(scale: Scale) -> anyhow::Result<ScaleConfig> {
    let mut all: BTreeMap<String, ScaleConfig> = toml::from_str(include_str!("../scales.toml"))?;
    all.remove(scale.name())
        .ok_or_else(|| anyhow::anyhow!("scales.toml has no [{scale}] section"))
}

/// A model variant: a change to the base configuration.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Short name (`base`, `h1`, `no_dropout`).
    pub name: String,
    /// Architecture.
    pub model: TransformerConfig,
    /// Optimisation.
    pub training: TrainingConfig,
}

/// What is measured of a trained variant.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Dev perplexity per BPE token (no smoothing).
    pub dev_ppl: f64,
    /// Dev BLEU with the scale's beam search.
    pub dev_bleu: f64,
    /// Test BLEU (base variant only).
    pub test_bleu: Option<f64>,
    /// Training loss curve.
    pub train_loss: Vec<(f64, f64)>,
    /// Dev loss curve.
    pub dev_loss: Vec<(f64, f64)>,
    /// Throughput.
    pub tokens_per_second: f64,
    /// Parameter count.
    pub parameters: usize,
    /// Wall time of training and decoding, seconds.
    pub seconds: f64,
}

/// Data, tokenizer and trained variants shared by the experiments of a run.
pub struct Lab<'a> {
    /// The run.
    pub ctx: &'a RunContext,
    /// The scale's settings.
    pub config: ScaleConfig,
    /// The seeds of this run: `ctx.seed`, `ctx.seed + 1`, … (`config.seeds` of them).
    pub seeds: Vec<u64>,
    tokenizer: Bpe,
    train: Vec<EncodedPair>,
    dev: Vec<EncodedPair>,
    test: Vec<EncodedPair>,
    dev_references: Vec<String>,
    test_references: Vec<String>,
    evaluated: Mutex<BTreeMap<(String, u64), Evaluation>>,
}

/// Deterministic subsample: a fixed shuffle (seed 0, independent of the run's seed, so that
/// seeds vary only initialisation, batch order and dropout), then the first `count`.
fn sample(mut pairs: Vec<Pair>, count: usize) -> Vec<Pair> {
    fastrand::Rng::with_seed(0).shuffle(&mut pairs);
    pairs.truncate(count);
    pairs
}

/// Share of the Bible's verses (by reference hash) in the dev split: enough short verses for a
/// BLEU that is not all noise after length filtering.
const BIBLE_DEV_PERCENT: u64 = 4;
/// Share of the verses in the test split.
const BIBLE_TEST_PERCENT: u64 = 4;

/// The corpus named by `ctx.dataset`, split into train/dev/test.
fn load_splits(ctx: &RunContext) -> anyhow::Result<data::Splits> {
    match ctx.dataset.as_str() {
        "bible-en-es" => Ok(data::split_by_id(
            data::bible_en_es()?,
            BIBLE_DEV_PERCENT,
            BIBLE_TEST_PERCENT,
        )),
        name => {
            let corpus = crate::canonical::load(name, &ctx.cache_dir)?;
            let to_pairs = |split: Vec<(String, String)>, prefix: &str| -> Vec<Pair> {
                split
                    .into_iter()
                    .enumerate()
                    .map(|(i, (source, target))| Pair {
                        id: format!("{prefix}.{i}"),
                        source,
                        target,
                    })
                    .collect()
            };
            Ok(data::Splits {
                train: to_pairs(corpus.train, "train"),
                dev: to_pairs(corpus.dev, "dev"),
                test: to_pairs(corpus.test, "test"),
            })
        }
    }
}

impl<'a> Lab<'a> {
    /// Loads and splits the data and trains the joint BPE vocabulary (phase "tokenizer").
    pub fn prepare(ctx: &'a RunContext) -> anyhow::Result<Self> {
        let config = scale_config(ctx.scale)?;
        let splits = load_splits(ctx)?;
        let train = sample(
            data::filter_by_words(splits.train, config.max_words),
            config.train_pairs,
        );
        let dev = sample(
            data::filter_by_words(splits.dev, config.max_words),
            config.dev_pairs,
        );
        let test = sample(
            data::filter_by_words(splits.test, config.max_words),
            config.test_pairs,
        );
        anyhow::ensure!(
            !train.is_empty() && !dev.is_empty() && !test.is_empty(),
            "dataset `{}` left an empty split",
            ctx.dataset
        );

        let phase = ctx.progress.phase("tokenizer", 1, "vocabularies");
        let tokenizer = data::train_bpe(&train, config.vocab_size)?;
        let encoded_train = data::encode_pairs(&tokenizer, &train, config.max_tokens)?;
        phase.inc(1);
        phase.finish(&format!(
            "joint BPE of {} pieces on {} training pairs",
            tokenizer.get_vocab_size(true),
            train.len()
        ));
        Ok(Self {
            ctx,
            dev: data::encode_pairs(&tokenizer, &dev, config.max_tokens)?,
            test: data::encode_pairs(&tokenizer, &test, config.max_tokens)?,
            dev_references: dev.into_iter().map(|pair| pair.target).collect(),
            test_references: test.into_iter().map(|pair| pair.target).collect(),
            train: encoded_train,
            tokenizer,
            seeds: (0..config.seeds.max(1) as u64)
                .map(|i| ctx.seed + i)
                .collect(),
            config,
            evaluated: Mutex::new(BTreeMap::new()),
        })
    }

    /// The base variant of this scale.
    pub fn base(&self) -> Variant {
        let model = &self.config.model;
        Variant {
            name: "base".to_string(),
            model: TransformerConfig::new(self.tokenizer.get_vocab_size(true))
                .with_d_model(model.d_model)
                .with_n_heads(model.n_heads)
                .with_d_ff(model.d_ff)
                .with_n_layers(model.n_layers)
                .with_dropout(model.dropout)
                .with_max_len(model.max_len)
                .with_pad_id(data::PAD as usize),
            training: self.config.training.clone(),
        }
    }

    /// The decoding protocol of this scale.
    pub fn decoding(&self) -> Decoding {
        Decoding::Beam {
            size: self.config.beam_size,
            alpha: 0.6,
        }
    }

    /// Corpus BLEU of `model` on `pairs` against `references` (phases "decode" and "score").
    fn bleu(
        &self,
        name: &str,
        model: &crate::model::Transformer,
        pairs: &[EncodedPair],
        references: &[String],
    ) -> anyhow::Result<f64> {
        let phase =
            self.ctx
                .progress
                .phase(&format!("decode {name}"), pairs.len() as u64, "sentences");
        let mut hypotheses = Vec::with_capacity(pairs.len());
        for chunk in pairs.chunks(self.config.decode_batch.max(1)) {
            let sources: Vec<Vec<u32>> = chunk.iter().map(|pair| pair.source.clone()).collect();
            for ids in decoding::translate(
                model,
                &sources,
                self.decoding(),
                chunk.len(),
                self.config.model.max_len,
                &self.ctx.device,
            ) {
                hypotheses.push(data::decode(&self.tokenizer, &ids)?);
            }
            phase.inc(chunk.len() as u64);
        }
        phase.finish(&format!(
            "{} sentences, {}",
            pairs.len(),
            self.decoding().describe()
        ));
        let phase = self
            .ctx
            .progress
            .phase(&format!("score {name}"), 1, "corpora");
        let score = corpus_bleu(&hypotheses, &[references.to_vec()], &BleuConfig::default())?;
        phase.inc(1);
        phase.finish(&format!("BLEU {:.2} ({})", score.score, score.verbose()));
        Ok(score.score)
    }

    /// Trains (or reuses) `variant` for `seed` and evaluates it.
    pub fn evaluate(
        &self,
        variant: &Variant,
        seed: u64,
        with_test: bool,
    ) -> anyhow::Result<Evaluation> {
        let key = (variant.name.clone(), seed);
        if let Some(done) = self.lock().get(&key)
            && (done.test_bleu.is_some() || !with_test)
        {
            return Ok(done.clone());
        }
        let name = format!("{} seed {seed}", variant.name);
        let trained = training::train(
            &TrainingRun {
                name: name.clone(),
                model: &variant.model,
                training: &variant.training,
                seed,
                train: &self.train,
                dev: &self.dev,
                checkpoint_dir: self
                    .ctx
                    .checkpoint_dir
                    .join(format!("{}-seed{seed}", variant.name)),
                resume: self.ctx.resume,
            },
            &self.ctx.device,
            &self.ctx.progress,
        )?;
        let decoding_started = Instant::now();
        let dev_bleu = self.bleu(
            &format!("{name} dev"),
            &trained.model,
            &self.dev,
            &self.dev_references,
        )?;
        let test_bleu = if with_test {
            Some(self.bleu(
                &format!("{name} test"),
                &trained.model,
                &self.test,
                &self.test_references,
            )?)
        } else {
            None
        };
        let evaluation = Evaluation {
            dev_ppl: trained.dev_perplexity,
            dev_bleu,
            test_bleu,
            train_loss: trained.train_loss,
            dev_loss: trained.dev_loss,
            tokens_per_second: trained.tokens_per_second,
            parameters: trained.parameters,
            // Training time as recorded (it survives resuming), plus decoding.
            seconds: trained.seconds + decoding_started.elapsed().as_secs_f64(),
        };
        self.lock().insert(key, evaluation.clone());
        Ok(evaluation)
    }

    /// Evaluates each variant for every seed and collects `<variant>.dev_ppl`, `.dev_bleu`, the
    /// learning curves, and notes; `prefix_metrics = false` drops the variant prefix (one variant).
    fn compare(
        &self,
        name: &str,
        reproduces: &str,
        variants: &[Variant],
        prefix_metrics: bool,
    ) -> anyhow::Result<ExperimentResult> {
        let mut wall_time_s = 0.0;
        let seeds = self.seeds.clone();
        let mut metrics = BTreeMap::new();
        let mut train_curve = Vec::new();
        let mut dev_curve = Vec::new();
        let mut notes = Vec::new();
        for variant in variants {
            let variant_seeds = self.seeds_for(&variant.name);
            let evaluations: Vec<Evaluation> = variant_seeds
                .iter()
                .map(|&seed| self.evaluate(variant, seed, false))
                .collect::<anyhow::Result<_>>()?;
            wall_time_s += evaluations.iter().map(|e| e.seconds).sum::<f64>();
            let key = |metric: &str| {
                if prefix_metrics {
                    format!("{}.{metric}", variant.name)
                } else {
                    metric.to_string()
                }
            };
            metrics.insert(
                key("dev_ppl"),
                Metric::new(evaluations.iter().map(|e| e.dev_ppl).collect(), "ppl"),
            );
            metrics.insert(
                key("dev_bleu"),
                Metric::new(evaluations.iter().map(|e| e.dev_bleu).collect(), "BLEU"),
            );
            train_curve.push(Series {
                label: variant.name.clone(),
                points: evaluations[0].train_loss.clone(),
            });
            dev_curve.push(Series {
                label: variant.name.clone(),
                points: evaluations[0].dev_loss.clone(),
            });
            let seed_list: Vec<String> = variant_seeds.iter().map(u64::to_string).collect();
            notes.push(format!(
                "{}: {} parameters, {:.0} tokens/s training, seed{} {}",
                variant.name,
                evaluations[0].parameters,
                evaluations[0].tokens_per_second,
                if variant_seeds.len() > 1 { "s" } else { "" },
                seed_list.join(", ")
            ));
        }
        let first_seed = seeds[0];
        let curve = |id: &str, title: &str, series: Vec<Series>| Curve {
            id: format!("{name}-{id}"),
            title: format!("{reproduces}: {title} (seed {first_seed})"),
            x_label: "training step".to_string(),
            y_label: "loss per token (nats)".to_string(),
            log_x: false,
            series,
        };
        Ok(ExperimentResult {
            name: name.to_string(),
            reproduces: reproduces.to_string(),
            seeds,
            metrics,
            curves: vec![
                curve("dev_loss", "dev loss", dev_curve),
                curve("train_loss", "training loss (label-smoothed)", train_curve),
            ],
            notes,
            // Compute time of the runs this experiment reads (shared runs count in each).
            wall_time_s,
        })
    }

    fn variant(&self, name: &str, change: impl FnOnce(&mut Variant)) -> Variant {
        let mut variant = self.base();
        variant.name = name.to_string();
        change(&mut variant);
        variant
    }
}

/// Table 2 and Table 3 "base": test BLEU with the paper's beam search, dev perplexity and BLEU.
pub fn base_model(lab: &Lab) -> anyhow::Result<ExperimentResult> {
    let base = lab.base();
    let evaluations: Vec<Evaluation> = lab
        .seeds
        .iter()
        .map(|&seed| lab.evaluate(&base, seed, true))
        .collect::<anyhow::Result<_>>()?;
    let mut result = lab.compare("base_model", "Table 2 / Table 3 base model", &[base], false)?;
    result.metrics.insert(
        "test_bleu".to_string(),
        Metric::new(
            evaluations
                .iter()
                .map(|e| e.test_bleu.unwrap_or(f64::NAN))
                .collect(),
            "BLEU",
        ),
    );
    Ok(result)
}

/// Table 3 (A): the number of heads at fixed `d_model`, `d_k = d_v = d_model / h`.
pub fn attention_heads(lab: &Lab) -> anyhow::Result<ExperimentResult> {
    let mut variants = vec![lab.variant(&format!("h{}", lab.config.model.n_heads), |_| {})];
    for &heads in &lab.config.heads {
        variants.push(lab.variant(&format!("h{heads}"), |v| v.model.n_heads = heads));
    }
    // The base run is shared: reuse its evaluation under the name `h<base>`.
    lab.alias("base", &variants[0].name);
    lab.compare(
        "attention_heads",
        "Table 3 (A): attention heads at fixed d_model",
        &variants,
        true,
    )
}

/// Table 3 (C): a smaller model (fewer layers) against the base.
pub fn model_size(lab: &Lab) -> anyhow::Result<ExperimentResult> {
    let smaller = lab.config.smaller_layers;
    let variants = [
        lab.base(),
        lab.variant("smaller", |v| v.model.n_layers = smaller),
    ];
    lab.compare(
        "model_size",
        "Table 3 (C): model size (layers N)",
        &variants,
        true,
    )
}

/// Table 3 (D): no dropout, and no label smoothing, against the base.
pub fn regularization(lab: &Lab) -> anyhow::Result<ExperimentResult> {
    let variants = [
        lab.base(),
        lab.variant("no_dropout", |v| v.model.dropout = 0.0),
        lab.variant("no_label_smoothing", |v| v.training.label_smoothing = 0.0),
    ];
    lab.compare(
        "regularization",
        "Table 3 (D): dropout and label smoothing",
        &variants,
        true,
    )
}

/// Table 3 (E): learned positional embeddings instead of sinusoids.
pub fn positional_encoding(lab: &Lab) -> anyhow::Result<ExperimentResult> {
    let variants = [
        lab.variant("sinusoidal", |_| {}),
        lab.variant("learned", |v| {
            v.model.positional = PositionalEncoding::Learned
        }),
    ];
    lab.alias("base", "sinusoidal");
    lab.compare(
        "positional_encoding",
        "Table 3 (E): learned vs sinusoidal positions",
        &variants,
        true,
    )
}

impl Lab<'_> {
    /// Makes `alias` share the trained runs of `variant` (same configuration, other name).
    fn alias(&self, variant: &str, alias: &str) {
        if variant == alias {
            return;
        }
        let mut evaluated = self.lock();
        for &seed in &self.seeds {
            if let Some(evaluation) = evaluated.get(&(variant.to_string(), seed)).cloned() {
                evaluated.insert((alias.to_string(), seed), evaluation);
            }
        }
    }

    /// The seeds `variant` is trained with: all of them for the base configuration and the
    /// variants named in `seeded_variants`, the run's seed alone for the others.
    pub fn seeds_for(&self, variant: &str) -> &[u64] {
        let base_heads = format!("h{}", self.config.model.n_heads);
        let is_base = BASE_ALIASES.contains(&variant) || variant == base_heads;
        let seeded = is_base
            || self
                .config
                .seeded_variants
                .iter()
                .any(|name| name == variant);
        if seeded {
            &self.seeds
        } else {
            &self.seeds[..1]
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, u64), Evaluation>> {
        self.evaluated
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every variant the experiments need, with whether it is scored on the test split.
    pub fn plan(&self) -> Vec<(Variant, bool)> {
        let base = self.base();
        let mut plan = vec![(base, true)];
        for &heads in &self.config.heads {
            plan.push((
                self.variant(&format!("h{heads}"), |v| v.model.n_heads = heads),
                false,
            ));
        }
        let smaller = self.config.smaller_layers;
        plan.push((
            self.variant("smaller", |v| v.model.n_layers = smaller),
            false,
        ));
        plan.push((self.variant("no_dropout", |v| v.model.dropout = 0.0), false));
        plan.push((
            self.variant("no_label_smoothing", |v| v.training.label_smoothing = 0.0),
            false,
        ));
        plan.push((
            self.variant("learned", |v| {
                v.model.positional = PositionalEncoding::Learned
            }),
            false,
        ));
        plan
    }

    /// Every (variant, scored on test, seed) to train: [`Lab::plan`] × [`Lab::seeds_for`].
    pub fn planned_runs(&self) -> Vec<(Variant, bool, u64)> {
        self.plan()
            .into_iter()
            .flat_map(|(variant, test)| {
                self.seeds_for(&variant.name)
                    .iter()
                    .map(move |&seed| (variant.clone(), test, seed))
            })
            .collect()
    }

    /// Trains and evaluates every planned (variant, seed) on `jobs` threads. Each training is
    /// deterministic on its own, so the results do not depend on `jobs` or on scheduling.
    pub fn train_all(&self, jobs: usize) -> anyhow::Result<()> {
        let queue: Mutex<VecDeque<(Variant, bool, u64)>> =
            Mutex::new(self.planned_runs().into_iter().collect());
        let next = || {
            queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .pop_front()
        };
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..jobs.max(1))
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<()> {
                        while let Some((variant, test, seed)) = next() {
                            self.evaluate(&variant, seed, test)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a training thread panicked")))
            })
        })
    }
}

/// Concurrent trainings: `REPRO_JOBS`, else the number of cores (each training mostly uses one).
pub fn jobs() -> usize {
    std::env::var("REPRO_JOBS")
        .ok()
        .and_then(|jobs| jobs.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

pub use crate::complexity::self_attention_complexity;

#[cfg(test)]
mod tests {
    use super::*;
    use repro_core::Backend;
    use repro_core::progress::Progress;

    #[test]
    fn small_scale_spends_extra_seeds_only_where_claims_need_them() {
        let ctx = RunContext {
            scale: Scale::Small,
            backend: Backend::Cpu,
            device: burn::tensor::Device::flex(),
            seed: 5,
            dataset: "bible-en-es".to_string(),
            cache_dir: std::env::temp_dir(),
            checkpoint_dir: std::env::temp_dir(),
            resume: false,
            progress: Progress::hidden(),
        };
        let lab = Lab::prepare(&ctx).unwrap();
        let runs: Vec<(String, u64)> = lab
            .planned_runs()
            .into_iter()
            .map(|(v, _, seed)| (v.name, seed))
            .collect();
        let seeds_of = |name: &str| {
            runs.iter()
                .filter(|(n, _)| n == name)
                .map(|(_, s)| *s)
                .collect::<Vec<_>>()
        };
        for name in ["base", "h1", "learned"] {
            assert_eq!(seeds_of(name), vec![5, 6], "{name}");
        }
        for name in ["h4", "smaller", "no_dropout", "no_label_smoothing"] {
            assert_eq!(seeds_of(name), vec![5], "{name}");
        }
        assert_eq!(runs.len(), 10);
        // The base configuration's aliases read the base runs, with every seed.
        assert_eq!(lab.seeds_for("h8"), &[5, 6]);
        assert_eq!(lab.seeds_for("sinusoidal"), &[5, 6]);
    }
}
