//! Unit tests of [`super`]. Expected values are sacreBLEU 2.6.0's, printed with Python `repr`
//! (so they are the exact f64s), or come from sacreBLEU's README and `test/test_bleu.py`.

use super::*;

const HYPS: [&str; 3] = [
    "The dog bit the man.",
    "It wasn't surprising.",
    "The man had just bitten him.",
];
const REF_A: [&str; 3] = [
    "The dog bit the man.",
    "It was not unexpected.",
    "The man bit him first.",
];
const REF_B: [&str; 3] = [
    "The dog had bit the man.",
    "No one was surprised.",
    "The man had bitten the dog.",
];

fn bleu(hyps: &[&str], refs: &[&[&str]], config: &BleuConfig) -> BleuScore {
    corpus_bleu(hyps, refs, config).expect("valid input")
}

fn raw(smooth_value: f64) -> BleuConfig {
    // sacrebleu.raw_corpus_bleu: tokenize none, floor smoothing, effective order.
    BleuConfig {
        tokenize: Tokenizer::None,
        smooth: Smooth::Floor(smooth_value),
        effective_order: true,
        ..BleuConfig::default()
    }
}

#[test]
fn readme_example_two_references() {
    let score = bleu(&HYPS, &[&REF_A, &REF_B], &BleuConfig::default());
    assert_eq!(score.score, 48.530827009929865);
    assert!((score.score - 48.530827).abs() < 1e-6); // test_bleu.py's constant
    assert_eq!(score.counts, [14, 7, 5, 3]);
    assert_eq!(score.totals, [17, 14, 11, 8]);
    assert_eq!(
        score.precisions,
        [82.3529411764706, 50.0, 45.45454545454545, 37.5]
    );
    assert_eq!(score.bp, 0.9428731438548749);
    assert_eq!((score.sys_len, score.ref_len), (17, 18));
    assert_eq!(
        score.to_string(),
        "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)"
    );
    let sig = signature(&BleuConfig::default(), 2);
    assert_eq!(
        sig,
        "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
    );
    assert_eq!(
        score.format(1, &sig),
        format!(
            "BLEU|{sig} = 48.5 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)"
        )
    );
}

#[test]
fn readme_example_one_reference() {
    let score = bleu(&HYPS, &[&REF_A], &BleuConfig::default());
    assert_eq!(score.score, 45.06750632106114);
    assert_eq!(score.counts, [12, 6, 4, 3]);
    assert_eq!(
        score.verbose(),
        "70.6/42.9/36.4/37.5 (BP = 1.000 ratio = 1.000 hyp_len = 17 ref_len = 17)"
    );
}

#[test]
fn test_bleu_py_corpus_cases() {
    let refs: [&[&str]; 2] = [&REF_A, &REF_B];
    let none_tok = BleuConfig {
        tokenize: Tokenizer::None,
        ..BleuConfig::default()
    };
    assert_eq!(bleu(&HYPS, &refs, &none_tok).score, 49.19195660047277);
    let no_smooth = BleuConfig {
        smooth: Smooth::None,
        ..BleuConfig::default()
    };
    assert_eq!(bleu(&HYPS, &refs, &no_smooth).score, 48.530827009929865);
    // "ensure that empty hypotheses are not removed"
    let empty = bleu(&["", "", ""], &refs, &BleuConfig::default());
    assert_eq!(
        (empty.score, empty.sys_len, empty.ref_len, empty.bp),
        (0.0, 0, 17, 0.0)
    );
}

#[test]
fn test_bleu_py_raw_and_effective_order_cases() {
    // test_bleu.py expects 0.003799178428257963 for "no match at all"; sacreBLEU 2.6.0 itself
    // returns 0 there (its "no matches" early stop, #141), and so do we.
    let no_match = bleu(
        &["this is a test", "another test"],
        &[&["ref1", "ref2"]],
        &raw(0.01),
    );
    assert_eq!(no_match.score, 0.0);
    let cases: [(&[&str], &[&str], f64); 5] = [
        (&["this is a test"], &["this is a test"], 1.0),
        (&["this is a fest"], &["this is a test"], 0.223606797749979),
        (&["test"], &["a test"], 0.3678794411714425),
        (&["a test"], &["a test"], 1.0),
        (&["a little test"], &["a test"], 0.03218297948685433),
    ];
    for (hyps, refs, expected) in cases {
        let got = bleu(hyps, &[refs], &raw(0.01)).score / 100.0;
        assert!(
            (got - expected).abs() < 1e-8,
            "{hyps:?}: {got} vs {expected}"
        );
    }
    // sacreBLEU's exact bits for a perfect match under effective order.
    assert_eq!(
        bleu(&["a test"], &[&["a test"]], &raw(0.01)).score,
        100.00000000000004
    );
}

#[test]
fn test_bleu_py_statistics_and_offset() {
    let (hyp, reference) = (
        ["am I am a character sequence"],
        ["I am a symbol string sequence a a"],
    );
    let score = bleu(&hyp, &[&reference], &raw(0.01));
    assert_eq!((score.counts, score.totals), ([4, 2, 1, 0], [6, 5, 4, 3]));
    assert_eq!(score.score, 8.748468738276346);
    assert_eq!(bleu(&hyp, &[&reference], &raw(0.0)).score, 0.0);
    let default_floor = raw(Smooth::FLOOR_DEFAULT);
    assert!((bleu(&hyp, &[&reference], &default_floor).score / 100.0 - 0.1555722182).abs() < 1e-8);
}

#[test]
fn test_bleu_py_scoring_and_degenerate_statistics() {
    let score = compute_bleu([9, 7, 5, 3], [10, 8, 6, 4], 11, 11, Smooth::None, false);
    assert_eq!(score.score, 83.75922397086269);
    let degenerate = [
        ([0, 0, 0, 0], [4, 4, 2, 1], 0, 1, 0.0),
        ([0, 0, 0, 0], [10, 11, 12, 0], 14, 10, 0.0),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0.0),
        ([6, 5, 4, 0], [6, 5, 4, 3], 6, 6, 0.0),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0, 0, 0.1),
        ([0, 0, 0, 0], [0, 0, 0, 0], 1, 5, 0.01),
    ];
    for (counts, totals, sys_len, ref_len, floor) in degenerate {
        let score = compute_bleu(
            counts,
            totals,
            sys_len,
            ref_len,
            Smooth::Floor(floor),
            false,
        );
        assert_eq!(score.score, 0.0, "{counts:?} {totals:?}");
    }
}

#[test]
fn smoothing_variants_match_sacrebleu() {
    let refs: [&[&str]; 2] = [&REF_A, &REF_B];
    let add_k = BleuConfig {
        smooth: Smooth::AddK(1.0),
        ..BleuConfig::default()
    };
    let score = bleu(&HYPS, &refs, &add_k);
    assert_eq!(score.score, 52.70109002482467);
    assert_eq!(score.precisions[1], 53.333333333333336);
    let add_k_eff = BleuConfig {
        smooth: Smooth::AddK(0.125),
        effective_order: true,
        ..BleuConfig::default()
    };
    assert_eq!(
        format!("{:.2}", bleu(&HYPS, &refs, &add_k_eff).score),
        "49.11"
    );
    assert_eq!(
        signature(&add_k_eff, 2),
        "nrefs:2|case:mixed|eff:yes|tok:13a|smooth:add-k[0.12]|version:2.6.0"
    );
    let floor = BleuConfig {
        smooth: Smooth::from_method("floor", None).unwrap(),
        ..add_k
    };
    assert_eq!(
        signature(&floor, 1),
        "nrefs:1|case:mixed|eff:no|tok:13a|smooth:floor[0.10]|version:2.6.0"
    );
    assert_eq!(Smooth::from_method("add-k", None), Ok(Smooth::AddK(1.0)));
    assert!(Smooth::from_method("bogus", None).is_err());
    // Exp smoothing on unmatched orders: "the" x7 against one reference.
    let exp = bleu(
        &["the the the the the the the"],
        &[&["the cat is on the mat"]],
        &BleuConfig::default(),
    );
    assert_eq!(
        exp.verbose(),
        "28.6/8.3/5.0/3.1 (BP = 1.000 ratio = 1.167 hyp_len = 7 ref_len = 6)"
    );
    assert_eq!(format!("{:.2}", exp.score), "7.81");
}

#[test]
fn exact_match_scores_100() {
    let score = bleu(&HYPS, &[&HYPS], &BleuConfig::default());
    assert_eq!(format!("{:.6}", score.score), "100.000000");
    assert_eq!(score.counts, score.totals);
    assert_eq!(score.bp, 1.0);
}

#[test]
fn short_hypothesis_gets_brevity_penalty() {
    let score = bleu(
        &["the cat"],
        &[&["the cat sat on the mat"]],
        &BleuConfig::default(),
    );
    // No trigram at all: 0 without effective order, whatever the smoothing.
    assert_eq!(score.score, 0.0);
    assert_eq!(score.bp, 0.1353352832366127);
    assert_eq!(score.ratio(), 2.0 / 6.0);
    assert_eq!(
        score.verbose(),
        "100.0/100.0/0.0/0.0 (BP = 0.135 ratio = 0.333 hyp_len = 2 ref_len = 6)"
    );
}

#[test]
fn empty_hypothesis_and_empty_reference_do_not_panic() {
    let config = BleuConfig::default();
    let with_empty_hyp = bleu(
        &["a b c d e f g h", ""],
        &[&["a b c d e f g h", "x y z"]],
        &config,
    );
    assert_eq!(with_empty_hyp.score, 68.72892787909726);
    let with_empty_ref = bleu(
        &["a b c d e f g h", "p q"],
        &[&["a b c d e f g h", ""]],
        &config,
    );
    assert_eq!(with_empty_ref.score, 91.46912192286942);
    let only_empty = bleu(&[""], &[&[""]], &config);
    assert_eq!(
        (only_empty.score, only_empty.bp, only_empty.ratio()),
        (0.0, 1.0, 0.0)
    );
}

#[test]
fn empty_corpus_scores_zero() {
    let empty: [&str; 0] = [];
    let score = bleu(&empty, &[&empty], &BleuConfig::default());
    assert_eq!((score.score, score.sys_len, score.ref_len), (0.0, 0, 0));
}

#[test]
fn closest_reference_length_prefers_shorter_on_tie() {
    for refs in [
        [&["a b c d"][..], &["a b c d e f"]],
        [&["a b c d e f"], &["a b c d"]],
    ] {
        let score = bleu(&["a b c d e"], &refs, &BleuConfig::default());
        assert_eq!((score.ref_len, score.score), (4, 100.00000000000004));
    }
    assert_eq!(closest_ref_len(5, &[7, 3, 6]), 6);
    assert_eq!(closest_ref_len(5, &[]), 0);
}

#[test]
fn missing_references_are_variable_nrefs() {
    let hyps = ["a b c d e", "x y"];
    let refs = [
        vec![Some("a b c d e f"), None],
        vec![Some("a b c"), Some("x y z")],
    ];
    let score = corpus_bleu(&hyps, &refs, &BleuConfig::default()).unwrap();
    assert_eq!(score.score, 75.14772930752862);
    assert_eq!((score.counts, score.ref_len), ([7, 5, 3, 2], 9));
    assert_eq!(count_references(&refs), NRefs::Variable);
    assert!(signature(&BleuConfig::default(), count_references(&refs)).starts_with("nrefs:var|"));
    assert_eq!(count_references(&[REF_A, REF_B]), NRefs::Fixed(2));
    let all_missing = [vec![Some("a"), None]];
    assert_eq!(
        corpus_bleu(&["a", "b"], &all_missing, &BleuConfig::default()),
        Err(BleuError::NoReferenceForSegment { segment: 1 })
    );
}

#[test]
fn mismatched_streams_are_errors() {
    let config = BleuConfig::default();
    let err = corpus_bleu(&HYPS, &[&REF_A[..], &REF_B[..2]], &config).unwrap_err();
    assert_eq!(
        err,
        BleuError::LengthMismatch {
            stream: 1,
            hypotheses: 3,
            references: 2
        }
    );
    assert!(err.to_string().contains("different lengths"));
    let no_streams: [&[&str]; 0] = [];
    assert_eq!(
        corpus_bleu(&HYPS, &no_streams, &config),
        Err(BleuError::NoReferenceStreams)
    );
}

#[test]
fn lowercase_applies_before_13a_escapes() {
    let hyp = ["The CAT sat &AMP; <SKIPPED>"];
    let reference: [&[&str]; 1] = [&["the cat sat &"]];
    let mixed = bleu(&hyp, &reference, &BleuConfig::default());
    assert_eq!(
        mixed.verbose(),
        "22.2/12.5/7.1/4.2 (BP = 1.000 ratio = 2.250 hyp_len = 9 ref_len = 4)"
    );
    let lc = BleuConfig {
        lowercase: true,
        ..BleuConfig::default()
    };
    assert_eq!(
        format!("{:.2}", bleu(&hyp, &reference, &lc).score),
        "100.00"
    );
    assert_eq!(
        signature(&lc, 1),
        "nrefs:1|case:lc|eff:no|tok:13a|smooth:exp|version:2.6.0"
    );
}

#[test]
fn tokenizer_13a_matches_sacrebleu() {
    let cases = [
        ("Hello, world!", "Hello , world !"),
        (
            "It costs $3.50, or 1,000.5 units.",
            "It costs $ 3.50 , or 1,000.5 units .",
        ),
        ("a-b 3-4 x.y 2.5. end.", "a-b 3 - 4 x . y 2.5 . end ."),
        (
            "He said &quot;hi&quot; &amp; left &lt;b&gt;",
            "He said \" hi \" & left < b >",
        ),
        ("<skipped> text", "text"),
        ("line-\nbreak here\nnext", "linebreak here next"),
        (".5 and 5. and ,x", ". 5 and 5 . and , x"),
        ("don't stop", "don't stop"),
        ("a..b,,c", "a . . b , , c"),
        (
            "tab\there\u{a0}nbsp\u{2028}sep\u{1c}fs",
            "tab here nbsp sep fs",
        ),
        ("", ""),
        ("   ", ""),
        ("Ünïcödé — dash… ‘quote’", "Ünïcödé — dash… ‘quote’"),
        ("x&lt;skipped&gt;y", "x < skipped > y"),
        ("A.B,C", "A . B , C"),
        ("1.2.3", "1.2.3"),
        ("e.g., i.e.", "e . g . , i . e ."),
    ];
    for (line, expected) in cases {
        assert_eq!(tokenize_13a(line), expected, "{line:?}");
    }
}

#[test]
fn names_parse_and_print() {
    assert_eq!("13a".parse::<Tokenizer>(), Ok(Tokenizer::ThirteenA));
    assert_eq!(
        "none".parse::<Tokenizer>().map(|t| t.to_string()),
        Ok("none".to_owned())
    );
    assert!("intl".parse::<Tokenizer>().is_err());
    assert_eq!(Smooth::Exp.to_string(), "exp");
    assert_eq!(Smooth::None.to_string(), "none");
}

#[test]
fn sentence_bleu_matches_a_one_segment_corpus() {
    let config = BleuConfig {
        effective_order: true,
        ..BleuConfig::default()
    };
    let sentence = sentence_bleu(HYPS[2], &[REF_A[2], REF_B[2]], &config).unwrap();
    let corpus = bleu(&HYPS[2..], &[&REF_A[2..], &REF_B[2..]], &config);
    assert_eq!(sentence, corpus);
}

#[test]
fn summed_segment_statistics_give_corpus_bleu() {
    let hyps = [
        "The dog bit the man.",
        "It wasn't surprising.",
        "The man had just bitten him.",
    ];
    let refs = [
        "The dog bit the man.",
        "It was not unexpected.",
        "The man bit him first.",
    ];
    let config = BleuConfig::default();
    let segments = segment_stats(&hyps, &refs, &config).unwrap();
    assert_eq!(segments.len(), 3);
    let corpus = corpus_bleu(&hyps, &[refs.to_vec()], &config).unwrap();
    assert_eq!(bleu_of(segments.iter(), &config), corpus);
    // A subset is the corpus BLEU of that subset.
    let first_two = corpus_bleu(&hyps[..2], &[refs[..2].to_vec()], &config).unwrap();
    assert_eq!(bleu_of(segments[..2].iter(), &config), first_two);
    assert!(segment_stats(&hyps, &refs[..2], &config).is_err());
}
