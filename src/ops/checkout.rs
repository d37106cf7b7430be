//! `cairn checkout`: move the worktree and the index to a layer (or bring some paths back
//! from it), refusing before touching anything when that would lose staged or unstaged
//! changes or overwrite untracked files. The work is the `checkout` module's.

use crate::error::Result;
use crate::progress::Progress;
use crate::repo::Locked;
use crate::session::Common;

pub use crate::checkout::{CheckoutOptions, CheckoutOutcome};

/// Moves HEAD, the index and the worktree to a layer, or brings back only the paths given,
/// after checking that nothing unsaved would be lost.
pub fn checkout(
    repo: &Locked,
    common: &Common,
    opts: &CheckoutOptions,
    progress: &dyn Progress,
) -> Result<CheckoutOutcome> {
    crate::checkout::checkout(repo, common, opts, progress)
}
