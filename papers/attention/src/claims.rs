//! The paper's headline claims, each a computed predicate over the reproduced metrics, judged by
//! the suite's rules (`repro_core::claims`: a one-sided test at α = 0.05 over seeds, with the
//! sentence-level bootstrap for BLEU, TOST for equivalence, plateaued runs for claims about
//! models).
//!
//! Perplexity claims compare the dev loss in nats per token (log perplexity): differences of
//! logs are ratios of perplexities, symmetric and comparable across scales.

use repro_core::claims::{
    Claim, ClaimOutcome, Evidence, Margin, Verdict, about_equal, arm, higher,
};
use repro_core::run::Metrics;
use repro_core::stats::{self, ALPHA};

/// "Nearly identical" perplexity: within ±0.05 nats (±5 %). The smallest perplexity change the
/// paper discusses as an effect is label smoothing's (4.67 → 4.92, +5.2 %, §5.4): a gap smaller
/// than that is not one the paper would call a difference.
const SAME_PERPLEXITY: Margin = Margin {
    value: 0.05,
    why: "±5 % perplexity, the size of the smallest perplexity effect the paper discusses: label smoothing's 4.67 → 4.92",
};

/// How much faster self-attention must be before it is called faster: 10 % (timings of the
/// same code vary by a few per cent between repeats).
const FASTER_BY: f64 = 0.10;

/// All claims, in the paper's order.
pub fn claims() -> Vec<Claim> {
    vec![
        Claim {
            id: "self_attention_faster_for_short_sequences",
            statement: "Self-attention layers are faster than recurrent layers when the sequence length n is smaller than the representation dimensionality d",
            source: "§4, Table 1",
            evaluate: self_attention_faster,
        },
        Claim {
            id: "multi_head_beats_single_head",
            statement: "Single-head attention is worse than the base model's multi-head attention (0.9 BLEU in the paper)",
            source: "§6.2, Table 3 (A)",
            evaluate: |m| {
                // The base configuration's h is a metric of the run, never guessed from names.
                let heads = m.get("attention_heads.base_heads")?.mean() as usize;
                higher(
                    m,
                    arm(
                        format!("h={heads}"),
                        format!("attention_heads.h{heads}.dev_bleu"),
                    ),
                    arm("h=1", "attention_heads.h1.dev_bleu"),
                )
            },
        },
        Claim {
            id: "bigger_models_are_better",
            statement: "Bigger models are better: fewer layers give a higher dev perplexity",
            source: "§6.2, Table 3 (C)",
            evaluate: |m| {
                higher(
                    m,
                    arm("fewer layers (log ppl)", "model_size.smaller.dev_nll"),
                    arm("base (log ppl)", "model_size.base.dev_nll"),
                )
            },
        },
        Claim {
            id: "dropout_avoids_overfitting",
            statement: "Dropout is very helpful in avoiding over-fitting: without it the dev perplexity is higher",
            source: "§6.2, Table 3 (D)",
            evaluate: |m| {
                higher(
                    m,
                    arm("P_drop=0 (log ppl)", "regularization.no_dropout.dev_nll"),
                    arm("P_drop=0.1 (log ppl)", "regularization.base.dev_nll"),
                )
            },
        },
        Claim {
            id: "label_smoothing_hurts_perplexity",
            statement: "Label smoothing hurts perplexity, as the model learns to be more unsure",
            source: "§5.4, Table 3 (D)",
            evaluate: |m| {
                higher(
                    m,
                    arm("ε_ls=0.1 (log ppl)", "regularization.base.dev_nll"),
                    arm(
                        "ε_ls=0 (log ppl)",
                        "regularization.no_label_smoothing.dev_nll",
                    ),
                )
            },
        },
        Claim {
            id: "label_smoothing_improves_bleu",
            statement: "…but label smoothing improves accuracy and BLEU score",
            source: "§5.4, Table 3 (D)",
            evaluate: |m| {
                higher(
                    m,
                    arm("ε_ls=0.1", "regularization.base.dev_bleu"),
                    arm("ε_ls=0", "regularization.no_label_smoothing.dev_bleu"),
                )
            },
        },
        Claim {
            id: "learned_positions_match_sinusoids",
            statement: "Learned positional embeddings produce nearly identical results to sinusoids",
            source: "§3.5, Table 3 (E)",
            evaluate: |m| {
                about_equal(
                    m,
                    arm("learned (log ppl)", "positional_encoding.learned.dev_nll"),
                    arm(
                        "sinusoidal (log ppl)",
                        "positional_encoding.sinusoidal.dev_nll",
                    ),
                    SAME_PERPLEXITY,
                )
            },
        },
    ]
}

/// At one length: self-attention faster, slower, or within noise and the margin.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Race {
    AttentionFaster,
    RecurrenceFaster,
    Tie,
}

/// §4's claim at every timed n ≤ d/2 (near n = d the two costs meet, as §4 says, so lengths up
/// to half the width are where "faster" is predicted). At each length the repeats of both cores
/// give the interval of log(t_recurrent) − log(t_attention); self-attention is faster when the
/// interval lies above log(1 + 10 %), slower when below −log(1 + 10 %). Holds when it is faster
/// at every such length, fails when it is slower at any, inconclusive otherwise.
fn self_attention_faster(metrics: &Metrics) -> anyhow::Result<ClaimOutcome> {
    let d_model = metrics.get("self_attention_complexity.d_model")?.mean();
    // Keys are `attention_ms.n0016`: the length, zero-padded so that keys sort by it.
    let mut lengths: Vec<(usize, String)> = metrics
        .values
        .keys()
        .filter_map(|key| key.strip_prefix("self_attention_complexity.attention_ms.n"))
        .filter_map(|digits| Some((digits.parse::<usize>().ok()?, digits.to_string())))
        .filter(|&(n, _)| (n as f64) <= d_model / 2.0)
        .collect();
    lengths.sort_unstable();
    anyhow::ensure!(
        !lengths.is_empty(),
        "no sequence length n ≤ d/2 = {} was timed",
        d_model / 2.0
    );
    let margin = (1.0 + FASTER_BY).ln();
    let mut races = Vec::new();
    let mut evidence = Vec::new();
    let mut detail = Vec::new();
    for (n, digits) in lengths {
        let attention =
            metrics.get(&format!("self_attention_complexity.attention_ms.n{digits}"))?;
        let recurrent =
            metrics.get(&format!("self_attention_complexity.recurrent_ms.n{digits}"))?;
        let logs = |values: &[f64]| values.iter().map(|v| v.ln()).collect::<Vec<f64>>();
        let interval = stats::difference_interval(
            &logs(&recurrent.values),
            &logs(&attention.values),
            0.0,
            ALPHA,
        )
        .map_err(|why| anyhow::anyhow!("n = {n}: {why}"))?;
        let race = if interval.low > margin {
            Race::AttentionFaster
        } else if interval.high < -margin {
            Race::RecurrenceFaster
        } else {
            Race::Tie
        };
        detail.push(format!(
            "n={n}: recurrence/attention time ×{:.2} [{:.2}, {:.2}] ({} vs {} repeats)",
            interval.delta.exp(),
            interval.low.exp(),
            interval.high.exp(),
            recurrent.values.len(),
            attention.values.len()
        ));
        races.push(race);
        evidence.push(Evidence {
            label: format!("attention n={n}"),
            metric: attention.clone(),
        });
        evidence.push(Evidence {
            label: format!("recurrent n={n}"),
            metric: recurrent.clone(),
        });
    }
    let verdict = if races.iter().all(|&r| r == Race::AttentionFaster) {
        Verdict::Holds
    } else if races.contains(&Race::RecurrenceFaster) {
        Verdict::Fails
    } else {
        Verdict::Inconclusive
    };
    Ok(ClaimOutcome {
        verdict,
        explanation: format!(
            "at d = {d_model}: {}. Ratios of geometric-mean times with the {:.0} % interval of \
             a Welch t over the log times of the repeats (one-sided α = {ALPHA}); \"faster\" \
             needs the whole interval beyond {:.0} % → {}.",
            detail.join("; "),
            100.0 * (1.0 - 2.0 * ALPHA),
            100.0 * FASTER_BY,
            verdict.name()
        ),
        evidence,
    })
}
