//! `cairn line` (alias `branch`): list, create, delete and rename lines. Deleting a line
//! whose layers no other reference reaches is refused unless forced, since `gc` would then
//! remove them.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::history::is_ancestor;
use crate::refs::{check_name, Head, RefKind};
use crate::repo::{Locked, Repository};
use crate::revparse;

/// What to do to the lines.
#[derive(Debug, Clone)]
pub enum LineAction {
    /// Point a new line at a layer.
    Create {
        /// The line's name.
        name: String,
        /// The layer: an id or a unique prefix of one, `HEAD~N`, a line or a tag.
        layer: String,
        /// Move the line when it exists, instead of refusing (never the current line).
        force: bool,
    },
    /// Delete a line, which must exist and not be the current one.
    Delete {
        /// The line's name.
        name: String,
        /// Delete it even when no other line, tag or HEAD reaches its layer.
        force: bool,
    },
    /// Rename a line; HEAD follows a renamed current line.
    Rename {
        /// The line to rename; `None`: the current line.
        old: Option<String>,
        /// Its new name.
        new: String,
        /// Replace a line that already has the new name.
        force: bool,
    },
}

/// A line and the layer it points at.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Line {
    /// The line's name.
    pub name: String,
    /// The layer it points at; null for the current line before its first commit.
    pub layer: Option<ObjectId>,
    /// True for the line HEAD is on.
    pub current: bool,
}

/// What changed among the lines, or all of them (`list`).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LineOutcome {
    /// The line created or moved; null unless one was.
    pub created: Option<Line>,
    /// The line deleted, with the layer it pointed at; null unless one was.
    pub deleted: Option<Line>,
    /// The line renamed, under its new name; null unless one was.
    pub renamed: Option<Line>,
    /// The old name of the renamed line; null unless one was renamed.
    pub renamed_from: Option<String>,
    /// Every line, in name order, from `list`; empty otherwise.
    pub lines: Vec<Line>,
}

impl LineOutcome {
    fn empty() -> LineOutcome {
        LineOutcome {
            created: None,
            deleted: None,
            renamed: None,
            renamed_from: None,
            lines: Vec::new(),
        }
    }
}

/// Every line and the layer it names, the current one marked. A current line with no
/// layers yet is listed too (with a null layer), so the user sees where HEAD is.
pub fn list(repo: &Repository) -> Result<LineOutcome> {
    let refs = repo.refs();
    let current = current_line(repo)?;
    let mut lines = Vec::new();
    for name in refs.list(RefKind::Line)? {
        let layer = refs.get(RefKind::Line, &name)?;
        let current = current.as_deref() == Some(name.as_str());
        lines.push(Line {
            name,
            layer,
            current,
        });
    }
    if let Some(name) = current.filter(|c| !lines.iter().any(|l| &l.name == c)) {
        lines.push(Line {
            name,
            layer: None,
            current: true,
        });
        lines.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(LineOutcome {
        lines,
        ..LineOutcome::empty()
    })
}

/// Creates, deletes or renames a line: a change to the refs, so under the writers' lock.
pub fn line(repo: &Locked, action: &LineAction) -> Result<LineOutcome> {
    match action {
        LineAction::Create { name, layer, force } => create(repo, name, layer, *force),
        LineAction::Delete { name, force } => delete(repo, name, *force),
        LineAction::Rename { old, new, force } => rename(repo, old.as_deref(), new, *force),
    }
}

fn create(repo: &Locked, name: &str, layer: &str, force: bool) -> Result<LineOutcome> {
    let refs = repo.refs();
    refs.check_new(RefKind::Line, name)?;
    if refs.get(RefKind::Line, name)?.is_some() {
        if !force {
            return Err(exists(repo, name));
        }
        if current_line(repo)?.as_deref() == Some(name) {
            return Err(Error::BadArgument {
                what: format!("cannot move line {name} while HEAD is on it: use `cairn reset`"),
                path: refs.ref_path(RefKind::Line, name),
            });
        }
    }
    let id = revparse::resolve(repo, layer)?;
    refs.because(format!("line: created from {layer}"))
        .set(RefKind::Line, name, &id)?;
    Ok(LineOutcome {
        created: Some(Line {
            name: name.to_string(),
            layer: Some(id),
            current: false,
        }),
        ..LineOutcome::empty()
    })
}

fn delete(repo: &Locked, name: &str, force: bool) -> Result<LineOutcome> {
    let id = existing(repo, name)?;
    if current_line(repo)?.as_deref() == Some(name) {
        return Err(Error::BadArgument {
            what: format!("cannot delete line {name}: HEAD is on it; check out another line first"),
            path: repo.refs().ref_path(RefKind::Line, name),
        });
    }
    if !force && !reached_elsewhere(repo, name, &id)? {
        return Err(Error::Unmerged {
            line: name.to_string(),
            path: repo.refs().ref_path(RefKind::Line, name),
        });
    }
    repo.refs().delete(RefKind::Line, name)?;
    Ok(LineOutcome {
        deleted: Some(Line {
            name: name.to_string(),
            layer: Some(id),
            current: false,
        }),
        ..LineOutcome::empty()
    })
}

/// True when `id`, the layer of line `name`, is in the history of another line, a tag or
/// HEAD: deleting the line then loses no layer.
fn reached_elsewhere(repo: &Repository, name: &str, id: &ObjectId) -> Result<bool> {
    let refs = repo.refs();
    let mut tips = Vec::new();
    for kind in RefKind::ALL {
        for other in refs.list(kind)? {
            if kind == RefKind::Line && other == name {
                continue;
            }
            tips.extend(refs.get(kind, &other)?);
        }
    }
    if let Head::Detached(at) = refs.head()? {
        tips.push(at);
    }
    for tip in tips {
        if is_ancestor(repo, id, &tip)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Renames in an order a crash cannot lose a line in: the new name is written, HEAD moves
/// to it, and only then does the old name go. A crash between leaves both names.
fn rename(repo: &Locked, old: Option<&str>, new: &str, force: bool) -> Result<LineOutcome> {
    let current = current_line(repo)?;
    let old = match old {
        Some(o) => o.to_string(),
        None => current.clone().ok_or_else(|| Error::DetachedHead {
            what: "name the line to rename: `cairn line -m OLD NEW`",
            path: repo.dir().join("HEAD"),
        })?,
    };
    let refs = repo.refs();
    let is_current = current.as_deref() == Some(old.as_str());
    // The current line before its first commit has no file yet: only HEAD names it.
    let id = match is_current {
        true => refs.get(RefKind::Line, &valid(repo, &old)?)?,
        false => Some(existing(repo, &old)?),
    };
    refs.check_new(RefKind::Line, new)?;
    let taken = new != old && refs.get(RefKind::Line, new)?.is_some();
    // Replacing the current line would leave HEAD on layers the worktree does not hold.
    if taken && (!force || current.as_deref() == Some(new)) {
        return Err(exists(repo, new));
    }
    let refs = refs.because(format!("line: renamed from {old} to {new}"));
    match &id {
        // The usual case: the line and its reflog move together.
        Some(_) if !taken && new != old => refs.rename_line(&old, new)?,
        _ => {
            if let Some(id) = &id {
                refs.set(RefKind::Line, new, id)?;
            }
            if is_current {
                refs.set_head(&Head::Line(new.to_string()))?;
            }
            crate::failpoint::hit("line:before-delete");
            if new != old {
                refs.delete(RefKind::Line, &old)?;
            }
        }
    }
    Ok(LineOutcome {
        renamed: Some(Line {
            name: new.to_string(),
            layer: id,
            current: is_current,
        }),
        renamed_from: Some(old),
        ..LineOutcome::empty()
    })
}

/// The line HEAD is on, if any.
fn current_line(repo: &Repository) -> Result<Option<String>> {
    Ok(match repo.refs().head()? {
        Head::Line(name) => Some(name),
        Head::Detached(_) => None,
    })
}

/// The layer of the existing line `name`; an error naming the lines directory otherwise.
fn existing(repo: &Repository, name: &str) -> Result<ObjectId> {
    let name = valid(repo, name)?;
    let refs = repo.refs();
    refs.get(RefKind::Line, &name)?
        .ok_or_else(|| Error::UnknownRef {
            name: format!("line {name}"),
            path: refs.kind_dir(RefKind::Line),
        })
}

fn valid(repo: &Repository, name: &str) -> Result<String> {
    check_name(name).map_err(|why| Error::BadName {
        why,
        path: repo.refs().kind_dir(RefKind::Line),
    })?;
    Ok(name.to_string())
}

fn exists(repo: &Repository, name: &str) -> Error {
    Error::AlreadyExists {
        what: "line",
        name: name.to_string(),
        path: repo.refs().ref_path(RefKind::Line, name),
    }
}
