//! conclab: a command-line lab for concurrency experiments.
