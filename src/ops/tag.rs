//! `cairn tag`: names for layers.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::ObjectId;
use crate::refs::{check_name, RefKind};
use crate::repo::{Locked, Repository};
use crate::revparse;

#[derive(Debug, Clone)]
pub enum TagAction {
    Create {
        name: String,
        layer: String,
        force: bool,
    },
    Delete {
        name: String,
    },
}

#[derive(Debug, Serialize)]
pub struct Tag {
    pub name: String,
    pub layer: ObjectId,
}

#[derive(Debug, Serialize)]
pub struct TagOutcome {
    pub created: Option<Tag>,
    pub deleted: Option<Tag>,
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
