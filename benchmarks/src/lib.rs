//! Criterion benchmarks of the workspace's crates against the peer crates they replace.
//!
//! Run them with `cargo bench -p benchmarks`; each bench file compares our implementation with its
//! peers in the same run, so ratios are meaningful on any machine.
