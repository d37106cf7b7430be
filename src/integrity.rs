//! What `verify` and `verify --remote` find: damage, each with the layers and paths it
//! affects, and the counts of what was checked. A domain module, so that both verifies and
//! the CLI share it without depending on each other.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::hash::ObjectId;
use crate::repo_path::RepoPathBuf;

/// One damaged object, pack or ref, with what it affects.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Damage {
    /// What is damaged: `chunk <id>`, `tree <id>`, `pack <name>`, `HEAD`, ...
    pub object: String,
    /// What is wrong with it (the first problem found).
    pub problem: String,
    /// The layers that reach it, so the user knows which commits are affected.
    pub layers: Vec<ObjectId>,
    /// Up to 20 affected paths.
    pub paths: Vec<RepoPathBuf>,
}

/// What `verify` or `verify --remote` checked, and the damage it found.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct VerifyOutcome {
    /// Packs checked.
    pub packs: u64,
    /// Objects listed in the packs' indexes.
    pub objects: u64,
    /// Bytes of pack data read and checked against their ids.
    pub bytes_checked: u64,
    /// Layers walked.
    pub layers: u64,
    /// Distinct trees walked.
    pub trees: u64,
    /// Distinct file objects walked.
    pub files: u64,
    /// Chunk references walked, each checked to be present.
    pub chunks: u64,
    /// Everything found damaged, sorted by object; empty when the repository is sound.
    pub damage: Vec<Damage>,
    /// Packs whose damaged index `--repair` rebuilt before checking.
    pub repaired: Vec<ObjectId>,
}

impl VerifyOutcome {
    /// True when nothing is damaged.
    pub fn is_clean(&self) -> bool {
        self.damage.is_empty()
    }
}

/// Paths listed per damaged object: enough to act on, bounded for a huge repository.
const MAX_PATHS: usize = 20;

/// Damage as a walk finds it, by object: the first problem said about each, and every layer
/// and (up to 20) path it was met at.
#[derive(Default)]
pub struct DamageLog {
    found: BTreeMap<String, Found>,
}

#[derive(Default)]
struct Found {
    problem: String,
    layers: Vec<ObjectId>,
    paths: Vec<Vec<u8>>,
}

impl DamageLog {
    /// Records `problem` about `key` (kept if it is the first non-empty one), met in the
    /// layer and at the path `at`, when known. The path is copied only when it is listed.
    pub fn record(&mut self, key: String, problem: String, at: Option<(ObjectId, &[u8])>) {
        let f = self.found.entry(key).or_default();
        if f.problem.is_empty() {
            f.problem = problem;
        }
        if let Some((layer, path)) = at {
            if !f.layers.contains(&layer) {
                f.layers.push(layer);
            }
            if f.paths.len() < MAX_PATHS && !f.paths.iter().any(|p| p == path) {
                f.paths.push(path.to_vec());
            }
        }
    }

    /// The damage recorded, sorted by object.
    pub fn into_damage(self) -> Vec<Damage> {
        self.found
            .into_iter()
            .map(|(object, f)| Damage {
                object,
                problem: f.problem,
                layers: f.layers,
                paths: f.paths.into_iter().map(RepoPathBuf::from).collect(),
            })
            .collect()
    }
}
