//! `repro bleu`: corpus BLEU printed exactly as the `sacrebleu` command prints it.
//!
//! `repro bleu REF... [-i HYP]` reads like `sacrebleu REF... [-i HYP]` (sacreBLEU 2.x, single
//! system): one file per reference stream, hypotheses from `-i` or standard input, each line
//! stripped of trailing whitespace. It prints sacreBLEU's JSON (default) or text line, byte for
//! byte; the score comes from [`repro_core::metrics::bleu`]. Not supported: sacreBLEU's test-set
//! download (`-t`), tab-separated multi-system input on stdin, other metrics, `.gz` files.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use repro_core::metrics::bleu::{BleuConfig, BleuScore, Smooth, Tokenizer, corpus_bleu, signature};

/// Shown after the options. It is not `long_about`: `repro`'s subcommand doc comment replaces that.
const AFTER_HELP: &str = "\
Scores like `sacrebleu REF... -i HYP` (sacreBLEU 2.x defaults: 13a tokenizer, exp smoothing, \
mixed case) and prints what it prints. Give one file per reference stream: line i of the \
hypotheses is scored against line i of every reference file. sacreBLEU's -lc, -tok and -sv are \
spelled --lc, --tok and --sv here.

Examples:
  repro bleu ref.txt -i hyps.txt                   JSON: {\"name\": \"BLEU\", \"score\": 48.5, ...}
  cat hyps.txt | repro bleu ref1.txt ref2.txt -f text
      BLEU|nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 48.5 82.4/50.0/...
  repro bleu ref.txt -i hyps.txt -w 2 --lc -b      only the lowercased score, 2 decimals";

/// Output format (`-f`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// sacreBLEU's JSON object (its default).
    Json,
    /// sacreBLEU's one-line text: `BLEU|<signature> = <score> <details>`.
    Text,
}

/// Tokenizer (`--tokenize`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizeArg {
    /// mteval-v13a, sacreBLEU's default.
    #[value(name = "13a")]
    ThirteenA,
    /// Whitespace only.
    None,
}

/// Smoothing method (`-s`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmoothArg {
    /// NIST exponential decay (sacreBLEU's default).
    Exp,
    /// Zero counts become --smooth-value (default 0.1).
    Floor,
    /// Add --smooth-value (default 1) to matches and totals of orders 2-4.
    #[value(name = "add-k")]
    AddK,
    /// No smoothing.
    None,
}

/// `repro bleu`.
#[derive(clap::Args, Debug)]
#[command(about = "Corpus BLEU exactly as sacreBLEU 2.x scores it by default", after_help = AFTER_HELP)]
pub struct BleuArgs {
    /// Reference files, one per reference stream, one segment per line.
    #[arg(value_name = "REF", required = true)]
    pub refs: Vec<PathBuf>,
    /// Read the hypotheses from FILE instead of standard input.
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Decimals of the score.
    #[arg(short, long, value_name = "N", default_value_t = 1)]
    pub width: usize,
    /// Case-insensitive BLEU (sacreBLEU's -lc).
    #[arg(long, visible_alias = "lc")]
    pub lowercase: bool,
    /// Tokenizer.
    #[arg(long, visible_alias = "tok", value_enum, default_value_t = TokenizeArg::ThirteenA)]
    pub tokenize: TokenizeArg,
    /// Smoothing method.
    #[arg(short = 's', long, value_enum, default_value_t = SmoothArg::Exp)]
    pub smooth_method: SmoothArg,
    /// Value for floor (default 0.1) and add-k (default 1) smoothing (sacreBLEU's -sv).
    #[arg(long, visible_alias = "sv", value_name = "VALUE")]
    pub smooth_value: Option<f64>,
    /// Print only the score.
    #[arg(short = 'b', long)]
    pub score_only: bool,
    /// Don't warn when 100 or more hypotheses end in a tokenized period (" .").
    #[arg(long)]
    pub force: bool,
}

impl BleuArgs {
    /// The metric settings these arguments ask for.
    pub fn config(&self) -> BleuConfig {
        let smooth = match self.smooth_method {
            SmoothArg::Exp => Smooth::Exp,
            SmoothArg::None => Smooth::None,
            SmoothArg::Floor => Smooth::Floor(self.smooth_value.unwrap_or(Smooth::FLOOR_DEFAULT)),
            SmoothArg::AddK => Smooth::AddK(self.smooth_value.unwrap_or(Smooth::ADD_K_DEFAULT)),
        };
        BleuConfig {
            lowercase: self.lowercase,
            tokenize: match self.tokenize {
                TokenizeArg::ThirteenA => Tokenizer::ThirteenA,
                TokenizeArg::None => Tokenizer::None,
            },
            smooth,
            effective_order: false,
        }
    }
}

/// Scores the hypotheses (from `--input` or `stdin`) against the reference files and writes
/// sacreBLEU's output to `stdout`.
pub fn run(args: &BleuArgs, stdin: &mut dyn BufRead, stdout: &mut dyn Write) -> anyhow::Result<()> {
    let mut refs = Vec::with_capacity(args.refs.len());
    for path in &args.refs {
        refs.push(read_file(path, "reference")?);
    }
    let (hyps, hyp_source) = match &args.input {
        Some(path) => (read_file(path, "hypothesis")?, path.display().to_string()),
        None => {
            let mut bytes = Vec::new();
            stdin
                .read_to_end(&mut bytes)
                .context("cannot read the hypotheses from standard input")?;
            let text = String::from_utf8(bytes).context("standard input is not valid UTF-8")?;
            // Python reads stdin with universal newlines: \r\n and \r end lines too.
            (
                split_lines(&text.replace("\r\n", "\n").replace('\r', "\n")),
                "standard input".to_owned(),
            )
        }
    };
    if hyps.is_empty() {
        bail!("no hypotheses: {hyp_source} is empty");
    }
    let mismatched: Vec<String> = args
        .refs
        .iter()
        .zip(&refs)
        .filter(|(_, lines)| lines.len() != hyps.len())
        .map(|(path, lines)| format!("{} has {} lines", path.display(), lines.len()))
        .collect();
    if !mismatched.is_empty() {
        bail!(
            "system and reference streams have different lengths: the hypotheses ({hyp_source}) have {} lines, but {}",
            hyps.len(),
            mismatched.join(", ")
        );
    }
    if !args.force && hyps.iter().filter(|h| h.ends_with(" .")).count() >= 100 {
        eprintln!("That's 100 lines that end in a tokenized period ('.')");
        eprintln!(
            "It looks like you forgot to detokenize your test data, which may hurt your score."
        );
        eprintln!(
            "If you insist your data is detokenized, or don't care, you can suppress this message with --force."
        );
    }
    let config = args.config();
    let score = corpus_bleu(&hyps, &refs, &config)?;
    let signature = signature(&config, refs.len());
    writeln!(stdout, "{}", format_score(&score, args, &signature))?;
    Ok(())
}

/// A file's lines as sacreBLEU's CLI reads them: UTF-8, split on `\n` only, `rstrip()`ped.
fn read_file(path: &Path, role: &str) -> anyhow::Result<Vec<String>> {
    if path.extension().is_some_and(|ext| ext == "gz") {
        bail!(
            "{role} file {}: gzip-compressed files are not supported; decompress it first",
            path.display()
        );
    }
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read {role} file {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .with_context(|| format!("{role} file {} is not valid UTF-8", path.display()))?;
    Ok(split_lines(&text))
}

/// Lines split on `\n` (a final newline ends the last line, it does not start another) with
/// trailing whitespace stripped as Python's `str.rstrip()` does.
fn split_lines(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.split('\n')
        .map(|line| line.trim_end_matches(is_py_space).to_owned())
        .collect()
}

/// Python's `str.isspace()` for one character.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// sacreBLEU's `Score.format(width, score_only, signature, is_json)`.
fn format_score(score: &BleuScore, args: &BleuArgs, signature: &str) -> String {
    let width = args.width;
    let rounded = format!("{:.width$}", score.score);
    if args.score_only {
        return rounded;
    }
    match args.format {
        Format::Text => score.format(width, signature),
        Format::Json => {
            let number: f64 = rounded.parse().unwrap_or(score.score);
            let mut fields = vec![
                ("name".to_owned(), json_string("BLEU")),
                ("score".to_owned(), py_float_repr(number)),
                ("signature".to_owned(), json_string(signature)),
                ("verbose_score".to_owned(), json_string(&score.verbose())),
            ];
            for pair in signature.split('|') {
                let (key, value) = pair.split_once(':').unwrap_or((pair, ""));
                fields.push((key.to_owned(), json_string(value)));
            }
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!(" {}: {v}", json_string(k)))
                .collect();
            format!("{{\n{}\n}}", body.join(",\n"))
        }
    }
}

/// A JSON string literal, escaped like Python's `json.dumps(..., ensure_ascii=False)`.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Python's `repr(float)`: shortest round-trip digits, fixed notation for exponents -4..16,
/// otherwise `1.5e-05` style; always with a decimal point or exponent.
fn py_float_repr(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".to_owned()
        } else if x > 0.0 {
            "Infinity".to_owned()
        } else {
            "-Infinity".to_owned()
        };
    }
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if x == 0.0 || (-4..16).contains(&exponent) {
        let fixed = format!("{x}");
        if fixed.contains('.') {
            fixed
        } else {
            format!("{fixed}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};
    use serde_json::Value;

    #[derive(Parser, Debug)]
    struct TestCli {
        #[command(flatten)]
        args: BleuArgs,
    }

    const HYPS: &str =
        "The dog bit the man.\nIt wasn't surprising.\nThe man had just bitten him.\n";
    const REF_A: &str = "The dog bit the man.\nIt was not unexpected.\nThe man bit him first.\n";
    const REF_B: &str =
        "The dog had bit the man.\nNo one was surprised.\nThe man had bitten the dog.\n";
    const SIG2: &str = "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0";
    const VERBOSE2: &str =
        "82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)";

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../papers/core/tests/fixtures/bleu")
            .join(name)
    }

    /// Writes the README example's references into a temp dir; returns it and the two paths.
    fn readme_refs() -> (tempfile::TempDir, String, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let (a, b) = (dir.path().join("ref.A"), dir.path().join("ref.B"));
        std::fs::write(&a, REF_A).expect("write");
        std::fs::write(&b, REF_B).expect("write");
        (dir, a.display().to_string(), b.display().to_string())
    }

    /// Parses `argv` (after `repro bleu`) and runs with `stdin`; returns stdout or the error.
    fn bleu(argv: &[&str], stdin: &str) -> Result<String, String> {
        let cli = TestCli::try_parse_from(std::iter::once("bleu").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        run(&cli.args, &mut stdin.as_bytes(), &mut out).map_err(|e| format!("{e:#}"))?;
        Ok(String::from_utf8(out).expect("UTF-8 output"))
    }

    #[test]
    fn json_is_the_default_and_matches_sacrebleu() {
        let (_dir, a, b) = readme_refs();
        let out = bleu(&[&a, &b], HYPS).unwrap();
        let expected = format!(
            "{{\n \"name\": \"BLEU\",\n \"score\": 48.5,\n \"signature\": \"{SIG2}\",\n \"verbose_score\": \"{VERBOSE2}\",\n \"nrefs\": \"2\",\n \"case\": \"mixed\",\n \"eff\": \"no\",\n \"tok\": \"13a\",\n \"smooth\": \"exp\",\n \"version\": \"2.6.0\"\n}}\n"
        );
        assert_eq!(out, expected);
        let json: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["score"], 48.5);
    }

    #[test]
    fn text_format_and_width() {
        let (_dir, a, b) = readme_refs();
        assert_eq!(
            bleu(&[&a, &b, "-f", "text"], HYPS).unwrap(),
            format!("BLEU|{SIG2} = 48.5 {VERBOSE2}\n")
        );
        assert_eq!(
            bleu(&[&a, &b, "-f", "text", "-w", "2"], HYPS).unwrap(),
            format!("BLEU|{SIG2} = 48.53 {VERBOSE2}\n")
        );
        let json: Value =
            serde_json::from_str(&bleu(&[&a, &b, "--width", "2"], HYPS).unwrap()).unwrap();
        assert_eq!(json["score"], 48.53);
        assert_eq!(bleu(&[&a, &b, "-b", "-w", "0"], HYPS).unwrap(), "49\n");
    }

    #[test]
    fn input_file_lowercase_and_tokenize_flags() {
        let (dir, a, _b) = readme_refs();
        let hyps = dir.path().join("hyps.txt");
        std::fs::write(&hyps, HYPS.to_uppercase()).unwrap();
        let hyps = hyps.display().to_string();
        let out = bleu(&[&a, "-i", &hyps, "--lc", "-f", "text"], "ignored").unwrap();
        assert!(
            out.starts_with("BLEU|nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:2.6.0 = 45.1 "),
            "{out}"
        );
        let out = bleu(
            &[
                &a,
                "--input",
                &hyps,
                "--lowercase",
                "--tokenize",
                "none",
                "-f",
                "text",
            ],
            "",
        )
        .unwrap();
        assert!(out.contains("|tok:none|"), "{out}");
        let out = bleu(&[&a, "-i", &hyps, "-s", "floor", "-f", "text"], "").unwrap();
        assert!(out.contains("|smooth:floor[0.10]|"), "{out}");
        let out = bleu(
            &[&a, "-i", &hyps, "-s", "add-k", "--sv", "2", "-f", "text"],
            "",
        )
        .unwrap();
        assert!(out.contains("|smooth:add-k[2.00]|"), "{out}");
    }

    #[test]
    fn mismatched_line_counts_name_the_files() {
        let (_dir, a, b) = readme_refs();
        let err = bleu(&[&a, &b], "The dog bit the man.\nIt wasn't surprising.\n").unwrap_err();
        assert!(err.contains("different lengths"), "{err}");
        assert!(
            err.contains("standard input") && err.contains("2 lines"),
            "{err}"
        );
        assert!(
            err.contains(&format!("{a} has 3 lines")) && err.contains(&format!("{b} has 3 lines")),
            "{err}"
        );
    }

    #[test]
    fn missing_files_and_empty_input_are_clear_errors() {
        let (dir, a, _b) = readme_refs();
        let missing = dir.path().join("nope.txt").display().to_string();
        let err = bleu(&[&missing], HYPS).unwrap_err();
        assert!(
            err.contains("cannot read reference file") && err.contains(&missing),
            "{err}"
        );
        let err = bleu(&[&a, "-i", &missing], "").unwrap_err();
        assert!(
            err.contains("cannot read hypothesis file") && err.contains(&missing),
            "{err}"
        );
        assert!(bleu(&[&a], "").unwrap_err().contains("no hypotheses"));
        assert!(bleu(&[], HYPS).is_err(), "a reference file is required");
        assert!(bleu(&[&a, "--tokenize", "intl"], HYPS).is_err());
    }

    #[test]
    fn stdin_lines_follow_python_universal_newlines() {
        let (_dir, a, _b) = readme_refs();
        let crlf = HYPS.replace('\n', "\r\n");
        assert_eq!(
            bleu(&[&a, "-b", "-w", "4"], &crlf).unwrap(),
            bleu(&[&a, "-b", "-w", "4"], HYPS).unwrap()
        );
        assert_eq!(split_lines("a \nb\t\u{a0}\n\nc"), ["a", "b", "", "c"]);
        assert_eq!(split_lines("\n"), [""]);
        assert!(split_lines("").is_empty());
    }

    #[test]
    fn replays_the_sacrebleu_command_lines_of_the_golden_file() {
        let text = std::fs::read_to_string(fixture("golden.json")).expect("golden.json");
        let golden: Value = serde_json::from_str(&text).expect("JSON");
        let cases = golden["cli"].as_array().expect("cli cases");
        assert!(cases.len() >= 6);
        for case in cases {
            // sacreBLEU's two-letter short options are long aliases here; file names are
            // relative to the fixture directory, where sacreBLEU ran.
            let argv: Vec<String> = case["args"]
                .as_array()
                .expect("args")
                .iter()
                .map(|a| match a.as_str().expect("arg") {
                    "-lc" => "--lc".to_owned(),
                    "-sv" => "--sv".to_owned(),
                    file if file.ends_with(".txt") => fixture(file).display().to_string(),
                    other => other.to_owned(),
                })
                .collect();
            let stdin = match case["stdin"].as_str() {
                Some(file) => std::fs::read_to_string(fixture(file)).expect("stdin file"),
                None => String::new(),
            };
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let out = bleu(&argv, &stdin).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            assert_eq!(
                out,
                case["stdout"].as_str().expect("stdout"),
                "{:?}",
                case["args"]
            );
        }
    }

    #[test]
    fn python_float_repr() {
        for (x, repr) in [
            (48.5, "48.5"),
            (100.0, "100.0"),
            (0.0, "0.0"),
            (7.0, "7.0"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1.2345678901234568e16, "1.2345678901234568e+16"),
            (63.2404, "63.2404"),
        ] {
            assert_eq!(py_float_repr(x), repr);
        }
    }

    #[test]
    fn help_teaches_with_an_example() {
        TestCli::command().debug_assert();
        let help = TestCli::command().render_long_help().to_string();
        assert!(help.contains("repro bleu ref.txt -i hyps.txt"), "{help}");
        assert!(help.contains("line i of every reference file"), "{help}");
    }
}
