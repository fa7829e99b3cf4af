//! Data: downloads into a SHA-256-verified cache, leak-free splits, batches and masks, and
//! tokenizers.
//!
//! Paper crates describe their canonical datasets as lists of pinned [`RemoteFile`]s and obtain
//! local paths with [`fetch`]; the offline corpora several papers read are embedded once, in [`corpora`].

pub mod batch;
pub mod corpora;
pub mod download;
pub mod split;
pub mod tokenizer;

pub use download::{RemoteFile, cache_dir, fetch, fetch_from};
pub use split::{
    Sample, SplitSize, Splits, normalise, remove_near_duplicates, sample, split_by_id,
};
pub use tokenizer::Tokenizer;
