//! One module per `repro` subcommand, each with its arguments.

pub mod bench;
pub mod bleu;
pub mod checkpoints;
pub mod classify;
pub mod compare;
pub mod embed;
pub mod finetune;
pub mod generate;
pub mod lambada;
pub mod list;
pub mod reproduce;
pub mod tasks;
pub mod translate;
