//! The JSON Schema of every `--json` document, generated from the types that print them.
//!
//! `docs/schema/<command>.json` holds one file per command and `error.json` the error
//! document; a test fails when the files differ from what the types say, so a change of a
//! document is always deliberate. To regenerate them after changing an outcome:
//! `CAIRN_BLESS_SCHEMAS=1 cargo test --bin cairn schemas_are_committed`.

use cairn::ops;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::Value;

use super::printer::{ErrorDocument, Versioned};
use super::render::{CatJson, StatusView};

/// The schema of `T` printed as a `--json` document, with `schema_version`.
fn doc<T: JsonSchema + 'static>() -> Value {
    generate::<Versioned<'static, T>>()
}

/// The schema of what `T` serialises to (draft 2020-12), with objects closed: a field the
/// schema does not name fails validation, so no field goes undocumented.
fn generate<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    let mut schema = generator.into_root_schema_for::<T>().to_value();
    close_objects(&mut schema);
    schema
}

/// Sets `additionalProperties: false` on every object schema that lists its properties
/// and is not combined with another schema (a flattened optional part is).
fn close_objects(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let combined = ["allOf", "anyOf", "oneOf"]
                .iter()
                .any(|k| map.contains_key(*k));
            if map.contains_key("properties")
                && !combined
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(close_objects);
        }
        Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// Every document: the name of its file in docs/schema/ (the command's name) and its
/// schema. A new command or outcome adds one line here.
pub(crate) fn documents() -> Vec<(&'static str, Value)> {
    let mut docs = vec![
        ("error", generate::<ErrorDocument>()),
        ("init", doc::<ops::init::InitOutcome>()),
        ("add", doc::<ops::add::AddOutcome>()),
        ("add-stdin", doc::<ops::add_stdin::AddStdinOutcome>()),
        ("rm", doc::<ops::rm::RmOutcome>()),
        ("mv", doc::<ops::mv::MvOutcome>()),
        ("status", doc::<StatusView<'static>>()),
        ("commit", doc::<ops::commit::CommitOutcome>()),
        ("log", doc::<ops::log::LogOutcome>()),
        ("show", doc::<ops::show::ShowOutcome>()),
        ("ls", doc::<ops::ls::LsOutcome>()),
        ("cat", doc::<CatJson<'static>>()),
        ("diff", doc::<ops::diff::DiffOutcome>()),
        ("checkout", doc::<ops::checkout::CheckoutOutcome>()),
        ("restore", doc::<ops::restore::RestoreOutcome>()),
        ("tag", doc::<ops::tag::TagOutcome>()),
        ("line", doc::<ops::line::LineOutcome>()),
        ("config", doc::<ops::config::ConfigOutcome>()),
        ("verify", doc::<cairn::integrity::VerifyOutcome>()),
        ("reset", doc::<ops::reset::ResetOutcome>()),
        ("reflog", doc::<ops::reflog::ReflogOutcome>()),
        ("gc", doc::<ops::gc::GcOutcome>()),
        ("stats", doc::<ops::stats::StatsOutcome>()),
        ("mount", doc::<ops::mount::MountOutcome>()),
        ("umount", doc::<ops::mount::UmountOutcome>()),
        ("prove", generate::<cairn::proof::Proof>()),
        (
            "verify-proof",
            doc::<ops::verify_proof::VerifyProofOutcome>(),
        ),
        ("remote", doc::<ops::remote::RemoteOutcome>()),
        ("push", doc::<ops::push::PushOutcome>()),
        ("push-many", doc::<ops::push::PushManyOutcome>()),
        ("pull", doc::<ops::pull::PullOutcome>()),
        ("clone", doc::<ops::clone::CloneOutcome>()),
        ("export", doc::<ops::export::ExportOutcome>()),
        ("import", doc::<ops::import::ImportOutcome>()),
        ("forget", doc::<ops::forget::ForgetOutcome>()),
        ("watch", doc::<ops::watch::WatchOutcome>()),
        (
            "progress-event",
            generate::<super::bar::ProgressEvent<'static>>(),
        ),
    ];
    for (name, schema) in &mut docs {
        schema["title"] = format!("cairn {name} --json").into();
    }
    docs
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The committed schemas are what the types say; with CAIRN_BLESS_SCHEMAS=1 they are
    /// written instead.
    #[test]
    fn schemas_are_committed() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema");
        let bless = std::env::var_os("CAIRN_BLESS_SCHEMAS").is_some();
        let mut stale = Vec::new();
        for (name, schema) in super::documents() {
            let path = dir.join(format!("{name}.json"));
            let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            if bless {
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name);
            }
        }
        assert!(
            stale.is_empty(),
            "docs/schema/ is out of date for {stale:?}: if the change is meant, run \
             CAIRN_BLESS_SCHEMAS=1 cargo test --bin cairn schemas_are_committed, and bump \
             SCHEMA_VERSION (src/cli/printer.rs) when a field was removed or changed"
        );
    }

    /// No file in docs/schema/ is left over from a document that is gone.
    #[test]
    fn no_stray_schema_files() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema");
        let names: Vec<String> = super::documents()
            .into_iter()
            .map(|(n, _)| format!("{n}.json"))
            .collect();
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(names.contains(&name), "docs/schema/{name} has no document");
        }
    }
}
