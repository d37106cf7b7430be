//! Writes a deep history for `scripts/scale_history.sh`:
//! `deep_history DIR LAYERS DIRS FILES [per-layer]` initialises a repository in DIR and
//! stacks LAYERS layers over DIRS directories of FILES small files (see `build.rs`), in one
//! data and one metadata pack, or with `per-layer` in packs of their own per layer, merged
//! as commit merges them, and then the layer graph over them all; `cairn reset --hard` then
//! writes the worktree.

#![allow(missing_docs, reason = "an example binary has no public surface")]

#[allow(dead_code, reason = "the tests use more of it")]
mod build;

use std::path::PathBuf;

use cairn::chunk::ChunkParams;
use cairn::{HashAlgo, Repository};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (per_layer, args) = match args.split_last() {
        Some((last, rest)) if last == "per-layer" => (true, rest),
        _ => (false, &args[..]),
    };
    let [dir, layers, dirs, files] = args else {
        anyhow::bail!("usage: deep_history DIR LAYERS DIRS FILES [per-layer]");
    };
    let root = PathBuf::from(dir);
    std::fs::create_dir_all(&root)?;
    let repo = Repository::init(&root, HashAlgo::Blake3, ChunkParams::default())?;
    let shape = build::Shape {
        layers: layers.parse()?,
        dirs: dirs.parse()?,
        files: files.parse()?,
    };
    anyhow::ensure!(
        shape.layers > 0 && shape.dirs * shape.files > 1,
        "too small"
    );
    let ids = build::build_in_packs(&repo, shape, per_layer)?;
    // The layer graph, as the commits would have left it (they write it every 16 layers).
    let locked = repo.lock(std::time::Duration::from_secs(5))?;
    cairn::layer_graph::update(&locked)?;
    println!("{} layers, tip {}", ids.len(), ids[ids.len() - 1]);
    Ok(())
}
