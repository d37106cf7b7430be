//! `cairn checkout`: move the worktree and the index to a layer (or bring some paths back
//! from it), refusing before touching anything when that would lose staged or unstaged
//! changes or overwrite untracked files. The work is the `checkout` module's.

use crate::error::Result;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::session::Common;

pub use crate::checkout::{CheckoutOptions, CheckoutOutcome};

pub fn checkout(
    repo: &Repository,
    common: &Common,
    opts: &CheckoutOptions,
    progress: &dyn Progress,
) -> Result<CheckoutOutcome> {
    let lock = repo.lock(common.lock_timeout)?;
    crate::checkout::checkout_locked(repo, &lock, common, opts, progress)
}
