//! Pack records read through the store, as every read of a repository does, and checked
//! as `verify --data` does: never a panic, never an allocation beyond what a record can
//! claim. The input is a pack file; its index is made from the record headers the input
//! holds (as a writer would have written it, lengths and all, so the fuzzer controls what
//! the index claims too).
#![no_main]

mod scratch;

use cairn::hash::{Domain, ObjectId};
use cairn::pack::{self, Codec, IdxEntry, ObjectKind, Store, RECORD_HEADER_LEN};
use cairn::HashAlgo;
use libfuzzer_sys::fuzz_target;
use scratch::scratch;

const PACK_HEADER_LEN: usize = 16;

/// The records the bytes hold, walking headers from the pack header on.
fn records(data: &[u8]) -> Vec<IdxEntry> {
    let mut out: Vec<IdxEntry> = Vec::new();
    let mut at = PACK_HEADER_LEN;
    while at + RECORD_HEADER_LEN <= data.len() && out.len() < 64 {
        let h = &data[at..at + RECORD_HEADER_LEN];
        let id = ObjectId::from_slice(&h[..32]).expect("32 bytes");
        let (Some(kind), Some(codec)) = (ObjectKind::from_u8(h[32]), Codec::from_u8(h[33])) else {
            break;
        };
        let raw_len = u32::from_le_bytes(h[34..38].try_into().unwrap());
        let stored_len = u32::from_le_bytes(h[38..42].try_into().unwrap());
        if !out.iter().any(|e| e.id == id) {
            out.push(IdxEntry {
                id,
                offset: at as u64,
                raw_len,
                stored_len,
                kind,
                codec,
            });
        }
        at += RECORD_HEADER_LEN + (stored_len as usize).min(data.len());
    }
    out
}

/// A pack index as FORMAT.md section 13 describes it.
fn encode_index(entries: &mut [IdxEntry]) -> Vec<u8> {
    entries.sort_unstable_by_key(|e| e.id);
    let mut out = b"CAIRNIDX".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for b in 0..=255u8 {
        let n = entries.iter().filter(|e| e.id.0[0] <= b).count() as u32;
        out.extend_from_slice(&n.to_le_bytes());
    }
    for e in entries.iter() {
        out.extend_from_slice(&e.id.0);
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.raw_len.to_le_bytes());
        out.extend_from_slice(&e.stored_len.to_le_bytes());
        out.push(e.kind as u8);
        out.push(e.codec as u8);
    }
    let sum = HashAlgo::Blake3.hash(Domain::Checksum, &out);
    out.extend_from_slice(sum.as_bytes());
    out
}

fuzz_target!(|data: &[u8]| {
    let packs = scratch("pack");
    let mut entries = records(data);
    let name = ObjectId([7; 32]);
    std::fs::write(packs.join(format!("{name}.pack")), data).expect("write pack");
    let idx = encode_index(&mut entries);
    std::fs::write(packs.join(format!("{name}.idx")), idx).expect("write idx");
    let store = Store::open(&packs, HashAlgo::Blake3).expect("open store");
    for e in &entries {
        if let Ok(raw) = store.read(&e.id, e.kind, &packs) {
            assert_eq!(raw.len(), e.raw_len as usize);
            let _ = pack::check_content(HashAlgo::Blake3, e.kind, &e.id, &raw);
        }
    }
    for p in store.packs() {
        let _ = pack::check(&p, HashAlgo::Blake3, true);
    }
});
