//! `cairn tag`: names for layers.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::refs::{check_name, RefKind};
use crate::repo::{Locked, Repository};
use crate::revparse;

/// What to do to the tags.
#[derive(Debug, Clone)]
pub enum TagAction {
    /// Point a tag at a layer.
    Create {
        /// The tag's name.
        name: String,
        /// The layer: an id or a unique prefix of one, `HEAD~N`, a line or a tag.
        layer: String,
        /// Move the tag when it exists, instead of refusing.
        force: bool,
    },
    /// Delete a tag, which must exist.
    Delete {
        /// The tag's name.
        name: String,
    },
}

/// A tag and the layer it names.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Tag {
    /// The tag's name.
    pub name: String,
    /// The layer's id.
    pub layer: ObjectId,
}

/// What changed among the tags, or all of them (`list`).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TagOutcome {
    /// The tag created or moved; null unless one was.
    pub created: Option<Tag>,
    /// The tag deleted, with the layer it named; null unless one was.
    pub deleted: Option<Tag>,
    /// Every tag, in name order, from `list`; empty from `tag`.
    pub tags: Vec<Tag>,
}

/// Creates or deletes a tag: a change to the refs, so under the writers' lock.
pub fn tag(repo: &Locked, action: &TagAction) -> Result<TagOutcome> {
    let mut out = TagOutcome {
        created: None,
        deleted: None,
        tags: Vec::new(),
    };
    match action {
        TagAction::Create { name, layer, force } => {
            let refs = repo.refs();
            refs.check_new(RefKind::Tag, name)?;
            if !force && refs.get(RefKind::Tag, name)?.is_some() {
                return Err(Error::AlreadyExists {
                    what: "tag",
                    name: name.clone(),
                    path: refs.ref_path(RefKind::Tag, name),
                });
            }
            let id = revparse::resolve(repo, layer)?;
            refs.set(RefKind::Tag, name, &id)?;
            out.created = Some(Tag {
                name: name.clone(),
                layer: id,
            });
        }
        TagAction::Delete { name } => {
            valid(repo, name)?;
            let refs = repo.refs();
            let id = refs
                .get(RefKind::Tag, name)?
                .ok_or_else(|| Error::UnknownRef {
                    name: format!("tag {name}"),
                    path: refs.kind_dir(RefKind::Tag),
                })?;
            refs.delete(RefKind::Tag, name)?;
            out.deleted = Some(Tag {
                name: name.clone(),
                layer: id,
            });
        }
    }
    Ok(out)
}

/// Every tag and the layer it names.
pub fn list(repo: &Repository) -> Result<TagOutcome> {
    let refs = repo.refs();
    let mut tags = Vec::new();
    for name in refs.list(RefKind::Tag)? {
        if let Some(layer) = refs.get(RefKind::Tag, &name)? {
            tags.push(Tag { name, layer });
        }
    }
    Ok(TagOutcome {
        created: None,
        deleted: None,
        tags,
    })
}

fn valid(repo: &Repository, name: &str) -> Result<()> {
    check_name(name).map_err(|why| Error::BadName {
        why,
        path: repo.refs().kind_dir(RefKind::Tag),
    })
}
