//! One module per `repro` subcommand.

pub mod bleu;
pub mod compare;
pub mod list;
pub mod reproduce;
