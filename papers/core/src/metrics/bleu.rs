//! BLEU exactly as sacreBLEU 2.x computes it by default.
//!
//! [`corpus_bleu`] reproduces `sacrebleu.corpus_bleu(hyps, refs)` (equivalently
//! `BLEU().corpus_score(hyps, refs)`) bit for bit: the `13a` (mteval-v13a) tokenizer, `exp`
//! smoothing, mixed case, no effective order, 4-gram precisions, the closest reference length for
//! the brevity penalty (ties go to the shorter reference) and sacreBLEU's float arithmetic, so
//! scores agree to the last bit, not just to the printed decimals. It was checked against
//! sacreBLEU [`SACREBLEU_VERSION`] on a golden corpus (`papers/core/tests/bleu_sacrebleu.rs`).
//!
//! ```
//! use repro_core::metrics::bleu::{corpus_bleu, signature, BleuConfig};
//!
//! let hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];
//! let refs = [
//!     vec!["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
//!     vec!["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
//! ];
//! let config = BleuConfig::default();
//! let bleu = corpus_bleu(&hyps, &refs, &config).unwrap();
//! assert_eq!(format!("{:.2}", bleu.score), "48.53");
//! assert_eq!(signature(&config, refs.len()), "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0");
//! ```
//!
//! Where this module knowingly differs from sacreBLEU:
//! * mismatched stream lengths are an error (sacreBLEU's API silently truncates with `zip`; its CLI
//!   exits with "System and reference streams have different lengths.");
//! * an empty corpus scores 0 (sacreBLEU raises `IndexError`), and a segment whose references are
//!   all missing is an error (sacreBLEU crashes or counts a reference length of -1);
//! * with `add-k` smoothing, [`BleuScore::counts`]/[`BleuScore::totals`] are the raw counts
//!   (sacreBLEU reports them with `k` added for n > 1); the score and precisions are the same.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// The sacreBLEU release this module was verified against; it ends every [`signature`].
pub const SACREBLEU_VERSION: &str = "2.6.0";

/// The maximum n-gram order (sacreBLEU's `MAX_NGRAM_ORDER`).
pub const MAX_NGRAM_ORDER: usize = 4;

/// Why BLEU could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BleuError {
    /// No reference stream was given.
    #[error("no reference streams were given; BLEU needs at least one")]
    NoReferenceStreams,
    /// A reference stream does not have one segment per hypothesis.
    #[error(
        "system and reference streams have different lengths: {hypotheses} hypotheses but \
         reference stream {stream} has {references} segments"
    )]
    LengthMismatch {
        /// Index (0-based) of the offending reference stream.
        stream: usize,
        /// Number of hypotheses.
        hypotheses: usize,
        /// Number of segments in that reference stream.
        references: usize,
    },
    /// Every reference of one segment is missing (`None`).
    #[error("segment {segment} has no reference: every reference stream is missing it")]
    NoReferenceForSegment {
        /// Index (0-based) of the segment.
        segment: usize,
    },
    /// A tokenizer name other than `13a` or `none`.
    #[error("unknown BLEU tokenizer {0:?} (supported: 13a, none)")]
    UnknownTokenizer(String),
    /// A smoothing method other than `exp`, `floor`, `add-k` or `none`.
    #[error("unknown BLEU smoothing method {0:?} (supported: exp, floor, add-k, none)")]
    UnknownSmoothMethod(String),
}

/// How segments are split into words before n-grams are counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Tokenizer {
    /// `13a`: the mteval-v13a tokenizer used by WMT, sacreBLEU's default ([`tokenize_13a`]).
    #[default]
    ThirteenA,
    /// `none`: split on whitespace only.
    None,
}

impl Tokenizer {
    /// The name sacreBLEU uses on its command line and in signatures (`13a`, `none`).
    pub fn name(self) -> &'static str {
        match self {
            Self::ThirteenA => "13a",
            Self::None => "none",
        }
    }

    /// Tokenizes one line; the result's tokens are separated by whitespace.
    pub fn tokenize(self, line: &str) -> String {
        match self {
            Self::ThirteenA => tokenize_13a(line),
            Self::None => line.to_owned(),
        }
    }
}

impl fmt::Display for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Tokenizer {
    type Err = BleuError;

    /// Parses `13a` or `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "13a" => Ok(Self::ThirteenA),
            "none" => Ok(Self::None),
            other => Err(BleuError::UnknownTokenizer(other.to_owned())),
        }
    }
}

/// Smoothing of zero n-gram precisions (Chen & Cherry, 2014).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Smooth {
    /// `exp`: the NIST/mteval smoothing, sacreBLEU's default. The k-th order with no match gets
    /// precision `100 / (2^k * total)`.
    #[default]
    Exp,
    /// `floor`: a zero count becomes this value (sacreBLEU's default is 0.1, [`Smooth::FLOOR_DEFAULT`]).
    Floor(f64),
    /// `add-k`: add this value to the matches and totals of orders 2 and up (default 1,
    /// [`Smooth::ADD_K_DEFAULT`]).
    AddK(f64),
    /// `none`: no smoothing; a zero precision makes the score 0.
    None,
}

impl Smooth {
    /// sacreBLEU's default value for `floor`.
    pub const FLOOR_DEFAULT: f64 = 0.1;
    /// sacreBLEU's default value for `add-k`.
    pub const ADD_K_DEFAULT: f64 = 1.0;

    /// Builds a smoothing from sacreBLEU's `--smooth-method` and optional `--smooth-value`
    /// (ignored by `exp` and `none`, like sacreBLEU).
    pub fn from_method(method: &str, value: Option<f64>) -> Result<Self, BleuError> {
        match method {
            "exp" => Ok(Self::Exp),
            "none" => Ok(Self::None),
            "floor" => Ok(Self::Floor(value.unwrap_or(Self::FLOOR_DEFAULT))),
            "add-k" => Ok(Self::AddK(value.unwrap_or(Self::ADD_K_DEFAULT))),
            other => Err(BleuError::UnknownSmoothMethod(other.to_owned())),
        }
    }

    /// The method's name: `exp`, `floor`, `add-k` or `none`.
    pub fn method(self) -> &'static str {
        match self {
            Self::Exp => "exp",
            Self::Floor(_) => "floor",
            Self::AddK(_) => "add-k",
            Self::None => "none",
        }
    }
}

impl fmt::Display for Smooth {
    /// The signature form: `exp`, `none`, `floor[0.10]`, `add-k[1.00]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Floor(v) | Self::AddK(v) => write!(f, "{}[{v:.2}]", self.method()),
            _ => f.write_str(self.method()),
        }
    }
}

/// BLEU settings. [`Default`] is sacreBLEU's default: mixed case, `13a`, `exp`, no effective order.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BleuConfig {
    /// Lowercase hypotheses and references first (sacreBLEU `-lc`; signature `case:lc`).
    pub lowercase: bool,
    /// The tokenizer (sacreBLEU `--tokenize`).
    pub tokenize: Tokenizer,
    /// The smoothing (sacreBLEU `--smooth-method`/`--smooth-value`).
    pub smooth: Smooth,
    /// Average only over the n-gram orders the hypotheses have (sacreBLEU `effective_order`, on
    /// by default only for sentence-level BLEU; signature `eff:yes`).
    pub effective_order: bool,
}

/// The number of references per segment, as the signature shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NRefs {
    /// Every segment has this many references.
    Fixed(usize),
    /// Segments have different numbers of references (some are missing): `nrefs:var`.
    Variable,
}

impl From<usize> for NRefs {
    fn from(n: usize) -> Self {
        Self::Fixed(n)
    }
}

impl fmt::Display for NRefs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(n) => write!(f, "{n}"),
            Self::Variable => f.write_str("var"),
        }
    }
}

/// sacreBLEU's reproducibility signature, e.g.
/// `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0`.
pub fn signature(config: &BleuConfig, nrefs: impl Into<NRefs>) -> String {
    format!(
        "nrefs:{}|case:{}|eff:{}|tok:{}|smooth:{}|version:{SACREBLEU_VERSION}",
        nrefs.into(),
        if config.lowercase { "lc" } else { "mixed" },
        if config.effective_order { "yes" } else { "no" },
        config.tokenize,
        config.smooth,
    )
}

/// One reference segment that may be missing: `&str`, `String`, or `Option` of either.
/// sacreBLEU allows `None` in a reference stream for segments with fewer references; an empty
/// string is *not* missing: it is a reference of length 0.
pub trait RefLine {
    /// The segment, or `None` when this stream has no reference for it.
    fn line(&self) -> Option<&str>;
}

impl RefLine for str {
    fn line(&self) -> Option<&str> {
        Some(self)
    }
}

impl RefLine for String {
    fn line(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T: RefLine + ?Sized> RefLine for &T {
    fn line(&self) -> Option<&str> {
        (**self).line()
    }
}

impl<T: AsRef<str>> RefLine for Option<T> {
    fn line(&self) -> Option<&str> {
        self.as_ref().map(AsRef::as_ref)
    }
}

/// The [`NRefs`] of a set of reference streams (`refs[k][i]`: stream k, segment i), counting only
/// references that are present, as sacreBLEU does for its signature.
pub fn count_references<RS: AsRef<[R]>, R: RefLine>(references: &[RS]) -> NRefs {
    let len = references
        .iter()
        .map(|s| s.as_ref().len())
        .min()
        .unwrap_or(0);
    let per_segment = |i: usize| {
        references
            .iter()
            .filter(|s| s.as_ref()[i].line().is_some())
            .count()
    };
    let first = if len == 0 {
        references.len()
    } else {
        per_segment(0)
    };
    if (1..len).all(|i| per_segment(i) == first) {
        NRefs::Fixed(first)
    } else {
        NRefs::Variable
    }
}

/// A BLEU score with its sufficient statistics (sacreBLEU's `BLEUScore`).
#[derive(Debug, Clone, PartialEq)]
pub struct BleuScore {
    /// BLEU on a 0–100 scale.
    pub score: f64,
    /// Clipped n-gram matches, orders 1–4.
    pub counts: [u64; MAX_NGRAM_ORDER],
    /// Hypothesis n-grams, orders 1–4.
    pub totals: [u64; MAX_NGRAM_ORDER],
    /// n-gram precisions in percent, after smoothing (0 for orders that were not reached).
    pub precisions: [f64; MAX_NGRAM_ORDER],
    /// Brevity penalty.
    pub bp: f64,
    /// Total hypothesis length in tokens.
    pub sys_len: u64,
    /// Total closest-reference length in tokens.
    pub ref_len: u64,
}

impl BleuScore {
    /// `sys_len / ref_len`, or 0 when the reference length is 0.
    pub fn ratio(&self) -> f64 {
        if self.ref_len == 0 {
            0.0
        } else {
            self.sys_len as f64 / self.ref_len as f64
        }
    }

    /// sacreBLEU's verbose part:
    /// `82.4/50.0/37.5/28.6 (BP = 1.000 ratio = 1.000 hyp_len = 17 ref_len = 17)`.
    pub fn verbose(&self) -> String {
        let precisions: Vec<String> = self.precisions.iter().map(|p| format!("{p:.1}")).collect();
        format!(
            "{} (BP = {:.3} ratio = {:.3} hyp_len = {} ref_len = {})",
            precisions.join("/"),
            self.bp,
            self.ratio(),
            self.sys_len,
            self.ref_len
        )
    }

    /// sacreBLEU's text line with `width` decimals:
    /// `BLEU|<signature> = 48.5 <verbose>`, or `BLEU = 48.5 <verbose>` when `signature` is empty.
    pub fn format(&self, width: usize, signature: &str) -> String {
        let name = if signature.is_empty() {
            "BLEU".to_owned()
        } else {
            format!("BLEU|{signature}")
        };
        format!("{name} = {:.width$} {}", self.score, self.verbose())
    }
}

impl fmt::Display for BleuScore {
    /// As sacreBLEU prints a score object: `BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = ...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format(2, ""))
    }
}

/// Whitespace as Python's `str.split()`/`str.rstrip()` see it: Unicode `White_Space` plus the
/// information separators U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `line.split()`.
fn py_split(line: &str) -> impl Iterator<Item = &str> {
    line.split(is_py_space).filter(|t| !t.is_empty())
}

/// The mteval-v13a tokenizer exactly as sacreBLEU's `Tokenizer13a` applies it to one line:
/// drop `<skipped>`, join `-\n` hyphenations, turn newlines into spaces, unescape `&quot;`,
/// `&amp;`, `&lt;` and `&gt;`, then split off punctuation (a period or comma stays attached
/// only between digits, a dash is split after a digit) and collapse whitespace.
///
/// ```
/// use repro_core::metrics::bleu::tokenize_13a;
/// assert_eq!(tokenize_13a("It costs $3.50, or 1,000 units."), "It costs $ 3.50 , or 1,000 units .");
/// ```
pub fn tokenize_13a(line: &str) -> String {
    let mut line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    post_tokenize_13a(&format!(" {line} "))
}

/// sacreBLEU's `TokenizerRegexp`: four `re.sub` passes, written out as scans with the same
/// leftmost, non-overlapping semantics, then `' '.join(line.split())`.
fn post_tokenize_13a(line: &str) -> String {
    // ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> " \1 "
    let mut chars: Vec<char> = Vec::with_capacity(line.len() * 2);
    for c in line.chars() {
        if matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/') {
            chars.extend([' ', c, ' ']);
        } else {
            chars.push(c);
        }
    }
    let digit = |c: char| c.is_ascii_digit();
    let period_comma = |c: char| c == '.' || c == ',';
    // ([^0-9])([\.,]) -> "\1 \2 "
    let chars = sub_pairs(
        &chars,
        |a, b| !digit(a) && period_comma(b),
        |a, b| [a, ' ', b, ' '],
    );
    // ([\.,])([^0-9]) -> " \1 \2"
    let chars = sub_pairs(
        &chars,
        |a, b| period_comma(a) && !digit(b),
        |a, b| [' ', a, ' ', b],
    );
    // ([0-9])(-) -> "\1 \2 "
    let chars = sub_pairs(&chars, |a, b| digit(a) && b == '-', |a, b| [a, ' ', b, ' ']);
    let line: String = chars.into_iter().collect();
    py_split(&line).collect::<Vec<_>>().join(" ")
}

/// `re.sub` for a two-character pattern: scan left to right; where `matches(a, b)` holds, emit
/// `replace(a, b)` and resume after `b`, otherwise copy `a`.
fn sub_pairs(
    chars: &[char],
    matches: impl Fn(char, char) -> bool,
    replace: impl Fn(char, char) -> [char; 4],
) -> Vec<char> {
    let mut out = Vec::with_capacity(chars.len() + chars.len() / 2);
    let mut i = 0;
    while i < chars.len() {
        if i + 1 < chars.len() && matches(chars[i], chars[i + 1]) {
            out.extend(replace(chars[i], chars[i + 1]));
            i += 2;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// sacreBLEU's `_preprocess_segment`: lowercase (Python `str.lower`), `rstrip()`, tokenize.
fn preprocess(line: &str, config: &BleuConfig) -> String {
    let lowered;
    let line = if config.lowercase {
        lowered = line.to_lowercase();
        &lowered
    } else {
        line
    };
    config.tokenize.tokenize(line.trim_end_matches(is_py_space))
}

/// Counts of every n-gram (orders 1–4) of a token sequence.
fn ngram_counts<'a>(tokens: &'a [&'a str]) -> HashMap<&'a [&'a str], u64> {
    let mut counts = HashMap::new();
    for n in 1..=MAX_NGRAM_ORDER {
        for ngram in tokens.windows(n) {
            *counts.entry(ngram).or_insert(0) += 1;
        }
    }
    counts
}

/// The reference length closest to `hyp_len`; on a tie, the shorter reference.
fn closest_ref_len(hyp_len: u64, ref_lens: &[u64]) -> u64 {
    let mut best: Option<(u64, u64)> = None; // (diff, len)
    for &len in ref_lens {
        let diff = hyp_len.abs_diff(len);
        best = match best {
            Some((d, l)) if d < diff || (d == diff && l <= len) => Some((d, l)),
            _ => Some((diff, len)),
        };
    }
    best.map_or(0, |(_, len)| len)
}

/// Sufficient statistics of BLEU: of one segment, or summed over a corpus. Corpus BLEU is a
/// function of their sum, which is what makes sentence-level resampling (the paired bootstrap)
/// cheap.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SegmentStats {
    /// Hypothesis length in tokens.
    pub sys_len: u64,
    /// Closest reference length in tokens.
    pub ref_len: u64,
    /// Clipped n-gram matches, orders 1–4.
    pub counts: [u64; MAX_NGRAM_ORDER],
    /// Hypothesis n-grams, orders 1–4.
    pub totals: [u64; MAX_NGRAM_ORDER],
}

type Stats = SegmentStats;

/// The statistics of each hypothesis against its one reference (same preprocessing as
/// [`corpus_bleu`]).
pub fn segment_stats<H: AsRef<str>, R: AsRef<str>>(
    hypotheses: &[H],
    references: &[R],
    config: &BleuConfig,
) -> Result<Vec<SegmentStats>, BleuError> {
    if hypotheses.len() != references.len() {
        return Err(BleuError::LengthMismatch {
            stream: 0,
            hypotheses: hypotheses.len(),
            references: references.len(),
        });
    }
    Ok(hypotheses
        .iter()
        .zip(references)
        .map(|(hyp, reference)| {
            let mut stats = SegmentStats::default();
            stats.add_segment(
                &preprocess(hyp.as_ref(), config),
                &[preprocess(reference.as_ref(), config)],
            );
            stats
        })
        .collect())
}

/// Corpus BLEU of the segments `stats` (summed), as [`corpus_bleu`] computes it.
pub fn bleu_of<'a>(
    stats: impl Iterator<Item = &'a SegmentStats>,
    config: &BleuConfig,
) -> BleuScore {
    let mut total = SegmentStats::default();
    for segment in stats {
        total.sys_len += segment.sys_len;
        total.ref_len += segment.ref_len;
        for n in 0..MAX_NGRAM_ORDER {
            total.counts[n] += segment.counts[n];
            total.totals[n] += segment.totals[n];
        }
    }
    compute_bleu(
        total.counts,
        total.totals,
        total.sys_len,
        total.ref_len,
        config.smooth,
        config.effective_order,
    )
}

impl SegmentStats {
    /// Adds one preprocessed hypothesis against its preprocessed references.
    fn add_segment(&mut self, hyp: &str, refs: &[String]) {
        let ref_tokens: Vec<Vec<&str>> = refs.iter().map(|r| py_split(r).collect()).collect();
        let mut ref_ngrams: HashMap<&[&str], u64> = HashMap::new();
        for tokens in &ref_tokens {
            for (ngram, count) in ngram_counts(tokens) {
                let max = ref_ngrams.entry(ngram).or_insert(0);
                *max = (*max).max(count);
            }
        }
        let ref_lens: Vec<u64> = ref_tokens.iter().map(|t| t.len() as u64).collect();
        let hyp_tokens: Vec<&str> = py_split(hyp).collect();
        let hyp_len = hyp_tokens.len() as u64;
        self.sys_len += hyp_len;
        self.ref_len += closest_ref_len(hyp_len, &ref_lens);
        for (ngram, count) in ngram_counts(&hyp_tokens) {
            let n = ngram.len() - 1;
            self.totals[n] += count;
            if let Some(&max) = ref_ngrams.get(ngram) {
                self.counts[n] += count.min(max);
            }
        }
    }
}

/// sacreBLEU's `my_log`: `ln`, with `ln 0` floored to -9999999999.
fn my_log(x: f64) -> f64 {
    if x == 0.0 { -9_999_999_999.0 } else { x.ln() }
}

/// BLEU from sufficient statistics, as sacreBLEU's `BLEU.compute_bleu` (same operation order,
/// so the same bits).
pub fn compute_bleu(
    counts: [u64; MAX_NGRAM_ORDER],
    totals: [u64; MAX_NGRAM_ORDER],
    sys_len: u64,
    ref_len: u64,
    smooth: Smooth,
    effective_order: bool,
) -> BleuScore {
    let bp = if sys_len >= ref_len {
        1.0
    } else if sys_len > 0 {
        (1.0 - ref_len as f64 / sys_len as f64).exp()
    } else {
        0.0
    };
    let mut result = BleuScore {
        score: 0.0,
        counts,
        totals,
        precisions: [0.0; MAX_NGRAM_ORDER],
        bp,
        sys_len,
        ref_len,
    };
    // Early stop if there are no matches (sacreBLEU #141).
    if counts.iter().all(|&c| c == 0) {
        return result;
    }
    let mut smooth_mteval = 1.0_f64;
    let mut eff_order = MAX_NGRAM_ORDER;
    for n in 1..=MAX_NGRAM_ORDER {
        let (mut correct, mut total) = (counts[n - 1] as f64, totals[n - 1] as f64);
        if let Smooth::AddK(k) = smooth
            && n > 1
        {
            correct += k;
            total += k;
        }
        if total == 0.0 {
            break;
        }
        if effective_order {
            eff_order = n;
        }
        result.precisions[n - 1] = if correct == 0.0 {
            match smooth {
                Smooth::Exp => {
                    smooth_mteval *= 2.0;
                    100.0 / (smooth_mteval * total)
                }
                Smooth::Floor(value) => 100.0 * value / total,
                Smooth::AddK(_) | Smooth::None => 0.0,
            }
        } else {
            100.0 * correct / total
        };
    }
    let log_sum = result.precisions[..eff_order]
        .iter()
        .fold(0.0, |acc, &p| acc + my_log(p));
    result.score = bp * (log_sum / eff_order as f64).exp();
    result
}

/// Corpus BLEU of `hypotheses` against reference streams in sacreBLEU's layout:
/// `references[k][i]` is the k-th reference of segment i, so every stream has one entry per
/// hypothesis. Entries may be `None` (see [`RefLine`]) for segments with fewer references.
///
/// Errors: no streams, a stream whose length differs from the hypotheses', or a segment with
/// every reference missing. An empty corpus (no hypotheses, empty streams) scores 0.
pub fn corpus_bleu<H, RS, R>(
    hypotheses: &[H],
    references: &[RS],
    config: &BleuConfig,
) -> Result<BleuScore, BleuError>
where
    H: AsRef<str>,
    RS: AsRef<[R]>,
    R: RefLine,
{
    if references.is_empty() {
        return Err(BleuError::NoReferenceStreams);
    }
    for (stream, refs) in references.iter().enumerate() {
        let len = refs.as_ref().len();
        if len != hypotheses.len() {
            return Err(BleuError::LengthMismatch {
                stream,
                hypotheses: hypotheses.len(),
                references: len,
            });
        }
    }
    let mut stats = Stats::default();
    for (segment, hyp) in hypotheses.iter().enumerate() {
        let refs: Vec<String> = references
            .iter()
            .filter_map(|stream| stream.as_ref()[segment].line())
            .map(|r| preprocess(r, config))
            .collect();
        if refs.is_empty() {
            return Err(BleuError::NoReferenceForSegment { segment });
        }
        stats.add_segment(&preprocess(hyp.as_ref(), config), &refs);
    }
    Ok(compute_bleu(
        stats.counts,
        stats.totals,
        stats.sys_len,
        stats.ref_len,
        config.smooth,
        config.effective_order,
    ))
}

/// BLEU of one sentence against its references (sacreBLEU's `sentence_score`). sacreBLEU's
/// `sentence_bleu` turns on `effective_order`; set it in `config` to get the same numbers.
pub fn sentence_bleu<R: RefLine>(
    hypothesis: &str,
    references: &[R],
    config: &BleuConfig,
) -> Result<BleuScore, BleuError> {
    let streams: Vec<[Option<&str>; 1]> = references.iter().map(|r| [r.line()]).collect();
    corpus_bleu(&[hypothesis], &streams, config)
}

/// Unit tests: sacreBLEU's documented values and test-suite cases, edge cases, the tokenizer.
#[cfg(test)]
mod tests;
