//! Object encodings: one module per format, each with its decoder beside its encoder.

pub mod file;
pub mod layer;
pub mod tree;

pub use file::{ChunkRef, FileObject};
pub use layer::{Layer, LayerCounts};
pub use tree::{EntryKind, Tree, TreeEntry};

/// A bounds-checked cursor for decoders: a short or malformed input is an error, never a
/// panic, and no allocation is sized by a length the input has not shown it can back.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err(format!(
                "truncated: wanted {n} more bytes, {} left",
                self.b.len()
            ));
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(
            self.bytes(2)?.try_into().expect("2 bytes"),
        ))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.bytes(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.bytes(8)?.try_into().expect("8 bytes"),
        ))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, String> {
        Ok(self.u64()? as i64)
    }

    pub(crate) fn id(&mut self) -> Result<crate::ObjectId, String> {
        Ok(crate::ObjectId::from_slice(self.bytes(32)?).expect("32 bytes"))
    }

    pub(crate) fn remaining(&self) -> usize {
        self.b.len()
    }

    pub(crate) fn finish(self) -> Result<(), String> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(format!("{} trailing bytes", self.b.len()))
        }
    }

    /// A count of records of at least `min_len` bytes each, checked against what is left.
    pub(crate) fn count(&mut self, min_len: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_len) > self.remaining() {
            return Err(format!("count {n} exceeds the data"));
        }
        Ok(n)
    }
}
