//! cairn's integration tests, in one binary: each former test file is a module here, so the
//! crate and its object-store and tokio stack are linked once rather than once per file.
//! Shared helpers live in `support/`.

#![allow(missing_docs, reason = "a test or bench binary has no public surface")]
#![allow(
    unsafe_code,
    reason = "the tests make fifos and devices, map files and race processes with raw calls"
)]

mod support;

mod add_cache;
mod add_scale;
mod add_stdin;
mod changes;
mod chunk_lists;
mod cli_foundation;
mod cli_proofs;
mod cli_read;
mod concurrency;
mod consolidate;
mod crash;
mod data_in;
mod deep_history;
mod deep_trees;
mod export;
mod faults;
mod forget;
mod format_vectors;
mod history;
mod hostile;
mod house;
mod import;
mod integrity;
mod json_contract;
mod layer_graph;
mod lines;
mod midx;
mod model;
mod mount;
mod mv;
mod nightly;
mod progress;
mod push_refs;
mod remote_attack;
mod remote_s3;
mod restore_lib;
mod resume;
mod separate;
mod tree_cache;
mod undo;
mod unstable_input;
mod verify_chunks;
mod walk_cache;
mod watch;
mod worktree_safety;
mod write_once;
