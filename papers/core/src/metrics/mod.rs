//! Metrics shared by the papers.

pub mod bleu;
