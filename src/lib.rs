//! conclab: a command-line lab for concurrency experiments.

pub mod app;
pub mod chart;
pub mod child;
pub mod cli;
pub mod commands;
pub mod console;
pub mod duration;
pub mod engine;
pub mod error;
pub mod experiment;
pub mod ideal;
pub mod machine;
pub mod measure;
pub mod model;
pub mod progress;
pub mod report;
pub mod results;
pub mod selection;
pub mod server;
pub mod signals;
pub mod workload;
