use std::io::{Read, Write};
use std::net::TcpListener;

use repro_core::eval::Loglikelihood;
use repro_core::eval::model::DummyModel;

use super::*;

#[test]
fn a_passage_splits_at_its_last_space_as_lm_eval_does() {
    assert_eq!(
        request("He handed her the cup. She drank the tea"),
        (
            "He handed her the cup. She drank the".to_string(),
            " tea".to_string()
        )
    );
    // Trailing whitespace is not a word; punctuation stays on the word, as in the file.
    assert_eq!(request("one two\n").1, " two");
    assert_eq!(request("said \"Yes.\"").1, " \"Yes.\"");
}

#[test]
fn bad_lines_are_errors_naming_the_line() {
    let ok = "{\"text\": \"a b c\"}\n\n{\"text\": \"d e\"}\n";
    assert_eq!(parse(ok).unwrap(), ["a b c", "d e"]);
    let err = parse("{\"text\": \"a b\"}\n{\"txt\": \"a b\"}\n").unwrap_err();
    assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    let err = parse("{\"text\": \"alone\"}\n").unwrap_err();
    assert!(format!("{err:#}").contains("line 1"), "{err:#}");
    assert!(parse("\n").is_err());
}

#[test]
fn accuracy_counts_greedy_last_words_and_perplexity_averages_their_log_likelihoods() {
    let mut lm = DummyModel::new(1000);
    for (context, word, logprob, is_greedy) in [
        ("the cat sat on the", " mat", -1.0, true),
        ("she drank the", " tea", -3.0, false),
    ] {
        lm.loglikelihoods.insert(
            (context.into(), word.into()),
            Loglikelihood {
                logprob,
                is_greedy,
                tokens: 1,
            },
        );
    }
    let passages = [
        "the cat sat on the mat".to_string(),
        "she drank the tea".to_string(),
    ];
    let mut seen = Vec::new();
    let score = evaluate(&lm, &passages, 1, |done| seen.push(done)).unwrap();
    assert_eq!(score.n, 2);
    assert_eq!(score.accuracy, 50.0);
    assert!((score.perplexity - 2f64.exp()).abs() < 1e-12);
    assert_eq!(seen, [1, 2]);
}

/// Serves `body` to every request on 127.0.0.1 until the test ends.
fn serve(body: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    base
}

#[test]
fn a_download_that_is_not_the_pinned_file_is_refused_and_leaves_nothing() {
    let base = serve(b"{\"text\": \"not the real lambada\"}\n");
    let cache = tempfile::tempdir().unwrap();
    let err = fetch(cache.path(), Some(&base)).unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("checksum mismatch"), "{message}");
    assert!(message.contains(TEST_SET.sha256), "{message}");
    let left: Vec<_> = std::fs::read_dir(cache.path().join("lambada"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
