//! Lowercase hex for the binary fields of a proof. Decoding is strict (no uppercase, no odd
//! lengths), so that every byte of a proof has exactly one spelling.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::ObjectId;
pub use crate::hash::{from_hex, to_hex};

/// Bytes as lowercase hex; decoding accepts nothing else, so every byte has one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hex(pub Vec<u8>);

/// An object id as 64 lowercase hex digits, strictly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HexId(pub ObjectId);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.0))
    }
}

impl Serialize for HexId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_hex())
    }
}

impl schemars::JsonSchema for Hex {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Hex".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^([0-9a-f]{2})*$" })
    }
}

impl schemars::JsonSchema for HexId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ObjectId".into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <ObjectId as schemars::JsonSchema>::json_schema(g)
    }
}

/// Decodes a hex string without first copying it into a `String`.
struct HexVisitor;

impl Visitor<'_> for HexVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string of lowercase hex digits")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        from_hex(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(HexVisitor).map(Hex)
    }
}

impl<'de> Deserialize<'de> for HexId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = d.deserialize_str(HexVisitor)?;
        ObjectId::from_slice(&bytes)
            .map(HexId)
            .ok_or_else(|| de::Error::custom("an object id is 64 hex digits"))
    }
}
