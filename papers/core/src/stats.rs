//! The statistics behind a verdict, stated once: the level of every test, the confidence
//! interval of a difference over seeds (Welch's t), the sentence-level uncertainty of BLEU
//! (paired bootstrap), and the rule that calls a training converged.
//!
//! Every verdict comes from an interval of Δ = mean(a) − mean(b) at confidence 1 − 2α: `higher`
//! holds when it lies above 0 (a one-sided test at level α), `about_equal` when it lies inside
//! ±margin (two one-sided tests, TOST, each at level α).

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::metrics::bleu::{BleuConfig, SegmentStats, bleu_of};

/// One-sided level of every test: a verdict is wrong by chance at most 5 % of the time.
pub const ALPHA: f64 = 0.05;

/// Resamples of the paired bootstrap over test sentences (sacreBLEU's `--paired-bs` default).
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

/// The fixed seed of the bootstrap (sacreBLEU's is 12345), so a verdict is a function of the
/// stored outputs alone.
pub const BOOTSTRAP_SEED: u64 = 12345;

/// A training has plateaued when its dev loss improved by less than this fraction over the last
/// fifth of its steps (a rising dev loss, over-fitting, counts as plateaued).
pub const PLATEAU_THRESHOLD: f64 = 0.01;

/// Mean (NaN when empty).
pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample variance (0 with fewer than two values).
pub fn variance(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let m = mean(values);
    values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64
}

/// Relative improvement of a dev-loss curve over its last fifth: `(L(0.8 T) − L(T)) / L(0.8 T)`,
/// with `L(0.8 T)` the last point at or before 80 % of the final step. NaN with fewer than two
/// points.
pub fn last_fifth_improvement(curve: &[(f64, f64)]) -> f64 {
    let Some(&(last_step, last)) = curve.last() else {
        return f64::NAN;
    };
    let Some(&(_, before)) = curve
        .iter()
        .rev()
        .find(|(step, _)| *step <= 0.8 * last_step)
    else {
        return f64::NAN;
    };
    if curve.len() < 2 {
        return f64::NAN;
    }
    (before - last) / before
}

/// The interval of a difference and how it was computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// Δ = mean(a) − mean(b).
    pub delta: f64,
    /// Lower end of the (1 − 2α) interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Standard error of Δ.
    pub se: f64,
    /// Degrees of freedom of the t quantile.
    pub df: f64,
    /// How the seed part was estimated (`Welch t`, or the replicated arm's spread).
    pub method: String,
}

/// Welch's t statistic, its degrees of freedom, and the one-sided p-value of "mean(a) > mean(b)"
/// (both arms need two values or more).
pub fn welch(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (va, vb) = (variance(a) / a.len() as f64, variance(b) / b.len() as f64);
    let se = (va + vb).sqrt();
    if se == 0.0 {
        return None;
    }
    let t = (mean(a) - mean(b)) / se;
    let df =
        (va + vb).powi(2) / (va.powi(2) / (a.len() - 1) as f64 + vb.powi(2) / (b.len() - 1) as f64);
    let p = 1.0 - student_t(df)?.cdf(t);
    Some((t, df, p))
}

fn student_t(df: f64) -> Option<StudentsT> {
    StudentsT::new(0.0, 1.0, df).ok()
}

/// The (1 − 2α) interval of mean(a) − mean(b) over seeds, widened by `extra_variance` (the
/// sentence-level variance of Δ, for BLEU).
///
/// Both arms replicated: Welch's t (Welch–Satterthwaite degrees of freedom). One arm a single
/// seed: the replicated arm's sample variance stands in for both (df = n − 1 of that arm). Both
/// single seeds: no seed spread is known, and the result is an error saying so.
pub fn difference_interval(
    a: &[f64],
    b: &[f64],
    extra_variance: f64,
    alpha: f64,
) -> Result<Interval, String> {
    let (na, nb) = (a.len(), b.len());
    if na == 0 || nb == 0 {
        return Err("an arm has no values".to_string());
    }
    let delta = mean(a) - mean(b);
    if !delta.is_finite() {
        return Err("a value is not finite (a diverged run?)".to_string());
    }
    let (seed_variance, df, method) = match (na >= 2, nb >= 2) {
        (true, true) => {
            let (va, vb) = (variance(a) / na as f64, variance(b) / nb as f64);
            let df = if va + vb > 0.0 {
                (va + vb).powi(2) / (va.powi(2) / (na - 1) as f64 + vb.powi(2) / (nb - 1) as f64)
            } else {
                (na + nb - 2) as f64
            };
            (va + vb, df, format!("Welch t over seeds, df {df:.1}"))
        }
        (true, false) | (false, true) => {
            let (replicated, n) = if na >= 2 { (a, na) } else { (b, nb) };
            let s2 = variance(replicated);
            let df = (n - 1) as f64;
            (
                s2 * (1.0 / na as f64 + 1.0 / nb as f64),
                df,
                format!(
                    "t with the {n}-seed arm's spread for both arms (the other has one seed), df {df:.0}"
                ),
            )
        }
        (false, false) => {
            return Err("one seed per arm: no seed spread to test against".to_string());
        }
    };
    let se = (seed_variance + extra_variance).sqrt();
    let quantile = student_t(df.max(1.0))
        .map(|t| t.inverse_cdf(1.0 - alpha))
        .ok_or_else(|| format!("no t distribution with df {df}"))?;
    Ok(Interval {
        delta,
        low: delta - quantile * se,
        high: delta + quantile * se,
        se,
        df,
        method,
    })
}

/// The (1 − 2α) interval of mean(a − b) when `a[i]` and `b[i]` come from the same run (seed
/// `i`'s one pre-trained encoder read two ways): a paired t over the per-seed differences, df
/// n − 1. What the pair shares (the encoder's luck) cancels, so the interval is the width of
/// the differences' spread, not of both arms' spreads added. `extra_variance` (the instance
/// sampling variance, [`instance_variance`]) is added to the seeds' before the interval is cut.
pub fn paired_difference_interval(
    a: &[f64],
    b: &[f64],
    extra_variance: f64,
    alpha: f64,
) -> Result<Interval, String> {
    if a.len() != b.len() {
        return Err(format!("paired arms of {} and {} values", a.len(), b.len()));
    }
    if a.len() < 2 {
        return Err("one seed per arm: no seed spread to test against".to_string());
    }
    let differences: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let delta = mean(&differences);
    if !delta.is_finite() {
        return Err("a value is not finite (a diverged run?)".to_string());
    }
    let n = differences.len();
    let se = (variance(&differences) / n as f64 + extra_variance).sqrt();
    let df = (n - 1) as f64;
    let quantile = student_t(df)
        .map(|t| t.inverse_cdf(1.0 - alpha))
        .ok_or_else(|| format!("no t distribution with df {df}"))?;
    Ok(Interval {
        delta,
        low: delta - quantile * se,
        high: delta + quantile * se,
        se,
        df,
        method: format!("paired t over the {n} seeds' differences (same runs), df {df:.0}"),
    })
}

/// The instance-sampling variance of Δ = mean(a) − mean(b) when both arms score the same
/// instances: `a[r][i]` is run `r`'s score on instance `i` (its value is the mean over `i`).
/// Seeds vary the models but not the questions, so the seeds' spread says nothing about how Δ
/// would move on another draw of the questions; this is that part: the variance over instances
/// of the per-instance difference of the runs' means, over the number of instances (paired by
/// instance, so what the arms share about an instance cancels). `None` when either arm has no
/// per-instance scores or the arms' instance counts differ.
pub fn instance_variance(a: &[Vec<f64>], b: &[Vec<f64>]) -> Option<(f64, usize)> {
    let n = a.first()?.len();
    if n < 2 || b.is_empty() || a.iter().chain(b).any(|run| run.len() != n) {
        return None;
    }
    let run_mean =
        |runs: &[Vec<f64>], i: usize| runs.iter().map(|r| r[i]).sum::<f64>() / runs.len() as f64;
    let differences: Vec<f64> = (0..n).map(|i| run_mean(a, i) - run_mean(b, i)).collect();
    Some((variance(&differences) / n as f64, n))
}

/// The sentence-level sampling variance of Δ = (mean over a's seeds of corpus BLEU) − (the same
/// for b): the variance over `resamples` paired bootstrap resamples of the sentences (the same
/// resample for every system, as sacreBLEU's `--paired-bs`). `a[s][i]` are the statistics of
/// sentence `i` decoded by seed `s` of arm a.
pub fn paired_bootstrap_variance(
    a: &[Vec<SegmentStats>],
    b: &[Vec<SegmentStats>],
    config: &BleuConfig,
    resamples: usize,
    seed: u64,
) -> f64 {
    let sentences = a.first().map_or(0, Vec::len);
    if sentences == 0 || resamples < 2 {
        return 0.0;
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let arm = |systems: &[Vec<SegmentStats>], indices: &[usize]| {
        let scores: Vec<f64> = systems
            .iter()
            .map(|segments| bleu_of(indices.iter().map(|&i| &segments[i]), config).score)
            .collect();
        mean(&scores)
    };
    let deltas: Vec<f64> = (0..resamples)
        .map(|_| {
            let indices: Vec<usize> = (0..sentences).map(|_| rng.usize(..sentences)).collect();
            arm(a, &indices) - arm(b, &indices)
        })
        .collect();
    variance(&deltas)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scipy 1.16, `scipy.stats.ttest_ind(a, b, equal_var=False, alternative="greater")` with
    /// a = [10.1, 11.3, 9.8], b = [8.2, 9.0, 8.7]: statistic 3.435479734826472, df
    /// 2.971722365038562, p-value 0.020988639712467682.
    #[test]
    fn welch_matches_scipy() {
        let (t, df, p) = welch(&[10.1, 11.3, 9.8], &[8.2, 9.0, 8.7]).unwrap();
        assert!((t - 3.435_479_734_826_472).abs() < 1e-9, "{t}");
        assert!((df - 2.971_722_365_038_562).abs() < 1e-9, "{df}");
        assert!((p - 0.020_988_639_712_467_682).abs() < 1e-6, "{p}");
    }

    /// The 90 % interval of the same data: Δ ± t(0.95, df) · se, with scipy's
    /// `scipy.stats.t.ppf(0.95, 2.971722365038562)` = 2.362520951706442, Δ = 1.7666666666666675
    /// and se = 0.5142416206847172 (numpy, ddof = 1).
    #[test]
    fn welch_interval_is_delta_plus_minus_the_t_quantile() {
        let interval =
            difference_interval(&[10.1, 11.3, 9.8], &[8.2, 9.0, 8.7], 0.0, ALPHA).unwrap();
        assert!((interval.delta - 1.766_666_666_666_667_5).abs() < 1e-9);
        assert!(
            (interval.se - 0.514_241_620_684_717_2).abs() < 1e-9,
            "{}",
            interval.se
        );
        let half = 2.362_520_951_706_442 * 0.514_241_620_684_717_2;
        assert!(
            (interval.low - (1.766_666_666_666_667_5 - half)).abs() < 1e-6,
            "{interval:?}"
        );
        assert!((interval.high - (1.766_666_666_666_667_5 + half)).abs() < 1e-6);
    }

    #[test]
    fn a_single_seed_arm_borrows_the_replicated_arm_s_spread() {
        // Three seeds spread by ±1 around 10; one seed at 9.5. With the 3-seed spread for both,
        // se = 1 · sqrt(1/3 + 1) = 1.1547 and df = 2 (t(0.95, 2) = 2.91999, scipy): Δ = 0.5 is
        // nowhere near significant.
        let interval = difference_interval(&[9.0, 10.0, 11.0], &[9.5], 0.0, ALPHA).unwrap();
        assert!((interval.se - 1.154_700_5).abs() < 1e-6, "{interval:?}");
        assert_eq!(interval.df, 2.0);
        assert!(
            (interval.high - (0.5 + 2.919_985_580_353_724 * 1.154_700_538_379_251_5)).abs() < 1e-6
        );
        assert!(interval.low < 0.0);
        // The old rule (min of the two seed counts = 1, so a stated tolerance) threw this
        // spread away.
        let error = difference_interval(&[9.0], &[9.5], 0.0, ALPHA).unwrap_err();
        assert!(error.contains("one seed per arm"));
    }

    #[test]
    fn extra_variance_widens_the_interval() {
        let seeds = difference_interval(&[10.0, 10.2, 10.1], &[9.0, 9.1, 9.2], 0.0, ALPHA).unwrap();
        let both = difference_interval(&[10.0, 10.2, 10.1], &[9.0, 9.1, 9.2], 0.25, ALPHA).unwrap();
        assert_eq!(seeds.delta, both.delta);
        assert!(both.se > seeds.se && both.low < seeds.low);
    }

    #[test]
    fn instance_variance_is_the_spread_of_per_instance_differences_over_n() {
        // Differences of the run means per instance: [1, 0, 0, 0] (mean 0.25, sample variance
        // (0.75² + 3 · 0.25²) / 3 = 0.25), over 4 instances: 0.0625.
        let a = [vec![1.0, 0.0, 1.0, 0.0], vec![1.0, 0.0, 1.0, 0.0]];
        let b = [vec![0.0, 0.0, 1.0, 0.0]];
        let (variance, n) = instance_variance(&a, &b).unwrap();
        assert_eq!(n, 4);
        assert!((variance - 0.0625).abs() < 1e-12, "{variance}");
        // What both arms share about an instance cancels: the same scores give 0.
        assert_eq!(instance_variance(&a, &a), Some((0.0, 4)));
        // Different instance counts, or none stored: nothing to add.
        assert_eq!(instance_variance(&a, &[vec![1.0, 0.0]]), None);
        assert_eq!(instance_variance(&[], &b), None);
    }

    #[test]
    fn the_plateau_rule_reads_the_last_fifth() {
        let falling: Vec<(f64, f64)> = (1..=10)
            .map(|i| (i as f64 * 100.0, 5.0 - 0.1 * i as f64))
            .collect();
        // 4.2 at step 800 → 4.0 at step 1000: 4.8 % better.
        assert!((last_fifth_improvement(&falling) - 0.2 / 4.2).abs() < 1e-12);
        let rising = [(500.0, 3.0), (1000.0, 3.3)];
        assert!(last_fifth_improvement(&rising) < 0.0);
        assert!(last_fifth_improvement(&[(10.0, 1.0)]).is_nan());
    }
}
