//! conclab: a command-line lab for concurrency experiments.

pub mod measure;
pub mod model;
pub mod spec;
pub mod workload;
