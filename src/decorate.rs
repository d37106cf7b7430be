//! Which references point at which layer: the decorations `log` (and later `show`) print
//! beside a layer id, `(HEAD -> main, tag: v2, other)`.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::Result;
use crate::hash::ObjectId;
use crate::refs::{Head, RefKind, Refs};

/// The references naming one layer. Serialised as it is: `{"head": true, "lines": [...],
/// "tags": [...]}`, the lists sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LayerRefs {
    /// HEAD points at this layer (on a line or detached).
    pub head: bool,
    /// The line HEAD is on, when HEAD is on a line and that line points here: git's
    /// `HEAD -> main`. Also listed in `lines`.
    #[serde(skip)]
    pub head_line: Option<String>,
    /// Lines pointing at this layer, by name.
    pub lines: Vec<String>,
    /// Tags pointing at this layer, by name.
    pub tags: Vec<String>,
}

impl LayerRefs {
    /// True when no reference names the layer.
    pub fn is_empty(&self) -> bool {
        !self.head && self.lines.is_empty() && self.tags.is_empty()
    }

    /// The decoration as git prints it, without the parentheses: `HEAD -> main, tag: v2,
    /// other` (HEAD and its line first, then tags, then the other lines); empty when no
    /// reference names the layer.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (&self.head_line, self.head) {
            (Some(line), true) => parts.push(format!("HEAD -> {line}")),
            (None, true) => parts.push("HEAD".to_string()),
            _ => {}
        }
        parts.extend(self.tags.iter().map(|t| format!("tag: {t}")));
        let head_line = self.head_line.as_deref().filter(|_| self.head);
        parts.extend(
            self.lines
                .iter()
                .filter(|l| Some(l.as_str()) != head_line)
                .cloned(),
        );
        parts.join(", ")
    }
}

/// Every reference of a repository, by the layer it names.
#[derive(Debug, Default)]
pub struct Decorations {
    by_layer: HashMap<ObjectId, LayerRefs>,
}

impl Decorations {
    /// Reads HEAD, every line and every tag once. A reference that cannot be read fails
    /// the whole: a decoration silently missing would mislead more than an error.
    pub fn load(refs: &Refs) -> Result<Decorations> {
        let mut d = Decorations::default();
        for kind in RefKind::ALL {
            for name in refs.list(kind)? {
                if let Some(id) = refs.get(kind, &name)? {
                    let entry = d.by_layer.entry(id).or_default();
                    match kind {
                        RefKind::Line => entry.lines.push(name),
                        RefKind::Tag => entry.tags.push(name),
                    }
                }
            }
        }
        let (line, head) = match refs.head()? {
            Head::Line(name) => (Some(name.clone()), refs.get(RefKind::Line, &name)?),
            Head::Detached(id) => (None, Some(id)),
        };
        if let Some(id) = head {
            let entry = d.by_layer.entry(id).or_default();
            entry.head = true;
            entry.head_line = line;
        }
        Ok(d)
    }

    /// The references naming `id`; empty when none does.
    pub fn of(&self, id: &ObjectId) -> LayerRefs {
        self.by_layer.get(id).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(head: bool, head_line: Option<&str>, lines: &[&str], tags: &[&str]) -> LayerRefs {
        LayerRefs {
            head,
            head_line: head_line.map(str::to_string),
            lines: lines.iter().map(ToString::to_string).collect(),
            tags: tags.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn head_and_its_line_come_first_then_tags_then_other_lines() {
        let r = refs(true, Some("main"), &["dev", "main", "zed"], &["v1", "v2"]);
        assert_eq!(r.describe(), "HEAD -> main, tag: v1, tag: v2, dev, zed");
    }

    #[test]
    fn a_detached_head_stands_alone() {
        assert_eq!(refs(true, None, &[], &["v2"]).describe(), "HEAD, tag: v2");
        assert_eq!(refs(true, None, &["main"], &[]).describe(), "HEAD, main");
    }

    #[test]
    fn no_reference_no_decoration() {
        let r = LayerRefs::default();
        assert!(r.is_empty());
        assert_eq!(r.describe(), "");
        assert_eq!(refs(false, None, &["a"], &[]).describe(), "a");
    }

    #[test]
    fn json_has_head_lines_and_tags_only() {
        let r = refs(true, Some("main"), &["main"], &["v1"]);
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"head":true,"lines":["main"],"tags":["v1"]}"#
        );
    }
}
