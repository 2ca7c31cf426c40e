//! The `,"name":` prefix of each field, formatted once per field name and thread.
//!
//! Every field of every span and event starts with its key: escaping the name and checking it
//! against the reserved keys each time costs more than copying the value. Field names are
//! `&'static str` that never change, so a small per-thread table maps a name (by address and
//! length) to its formatted key; a line then copies a few bytes per key. The table has a fixed
//! size (two ways per set): a third name that hashes alike evicts the oldest of a set (which is
//! formatted again when it comes back), names whose key is too long for a slot are formatted every
//! time.

use std::cell::RefCell;

use super::json;

/// Slots per thread (a power of two; sets of two): 8 KiB for each thread that logs.
const SLOTS: usize = 128;
/// Bytes of one cached key (`,"` + name + `":`), so that a slot fills one 64-byte cache line.
const KEY_BYTES: usize = 46;

#[derive(Clone, Copy)]
struct Slot {
    /// Address and length of the name; `0` when empty (no `&'static str` lives at address 0).
    address: usize,
    name_length: usize,
    length: u8,
    key: [u8; KEY_BYTES],
}

const EMPTY: Slot = Slot {
    address: 0,
    name_length: 0,
    length: 0,
    key: [0; KEY_BYTES],
};

thread_local! {
    // Boxed and created on first use: threads that never log pay nothing.
    static TABLE: RefCell<Option<Box<[Slot; SLOTS]>>> = const { RefCell::new(None) };
}

/// Appends `,"name":` for a field called `name` (`,"fields.name":` for the keys the line writes
/// itself, see [`is_reserved`](super::fields::is_reserved)).
pub(crate) fn write(out: &mut Vec<u8>, name: &'static str) {
    let address = name.as_ptr() as usize;
    // Fibonacci hashing of the address: the top bits of the product pick the slot.
    let index = (address as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.ilog2());
    let index = usize::try_from(index).unwrap_or_default();
    let copied = TABLE.try_with(|table| {
        // Nothing in here can log, so the table is never borrowed twice; stay safe anyway.
        let Ok(mut table) = table.try_borrow_mut() else {
            return false;
        };
        let table = table.get_or_insert_with(|| Box::new([EMPTY; SLOTS]));
        let matches = |slot: &Slot| (slot.address, slot.name_length) == (address, name.len());
        // Two ways per set: two hot names that hash alike do not evict each other.
        let set = index & !1;
        let slot = if matches(&table[set]) {
            &table[set]
        } else if matches(&table[set + 1]) {
            &table[set + 1]
        } else {
            // The newcomer takes the first way, the previous one moves to the second.
            let mut slot = EMPTY;
            if !fill(&mut slot, name) {
                return false;
            }
            table[set + 1] = table[set];
            table[set] = slot;
            &table[set]
        };
        out.extend_from_slice(&slot.key[..usize::from(slot.length)]);
        true
    });
    if copied != Ok(true) {
        format(out, name);
    }
}

/// Formats the key of `name` into `slot`; `false` when it does not fit.
fn fill(slot: &mut Slot, name: &'static str) -> bool {
    // Names longer than a slot never fit: do not format them twice.
    if name.len() + 4 > KEY_BYTES {
        return false;
    }
    let mut key = Vec::with_capacity(KEY_BYTES);
    format(&mut key, name);
    if key.len() > KEY_BYTES {
        return false;
    }
    let Ok(length) = u8::try_from(key.len()) else {
        return false;
    };
    slot.key[..key.len()].copy_from_slice(&key);
    slot.length = length;
    slot.address = name.as_ptr() as usize;
    slot.name_length = name.len();
    true
}

/// Formats the key of `name` without the table.
pub(crate) fn format(out: &mut Vec<u8>, name: &str) {
    if super::fields::is_reserved(name) {
        // Keep the line's own attributes authoritative; the field survives under `fields.`.
        out.extend_from_slice(b",\"fields.");
    } else {
        out.extend_from_slice(b",\"");
    }
    // Field names are Rust identifiers or string literals; escape anyway.
    json::escaped(out, name);
    out.extend_from_slice(b"\":");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(name: &'static str) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, name);
        out
    }

    fn uncached(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        format(&mut out, name);
        out
    }

    #[test]
    fn cached_keys_match_formatted_ones() {
        let long: &'static str = "a.field.name.long.enough.not.to.fit.in.one.slot.of.the.table";
        for name in [
            "message",
            "http.url",
            "status",
            "logging.googleapis.com/labels",
            "quote\"d",
            "",
            long,
        ] {
            // Twice: the first call fills the slot, the second copies it.
            assert_eq!(cached(name), uncached(name), "{name}");
            assert_eq!(cached(name), uncached(name), "{name}");
        }
        assert_eq!(cached("status"), b",\"fields.status\":");
        assert_eq!(cached("quote\"d"), b",\"quote\\\"d\":");
    }

    #[test]
    fn colliding_names_replace_each_other_without_mixing_up_keys() {
        // Far more names than slots: many share a slot, and each must still get its own key.
        let names: Vec<&'static str> = (0..SLOTS * 8)
            .map(|index| &*Box::leak(format!("field.{index}").into_boxed_str()))
            .collect();
        for _ in 0..2 {
            for name in &names {
                assert_eq!(cached(name), uncached(name), "{name}");
            }
        }
        // Same text at another address: the same key.
        let copy: &'static str = Box::leak(String::from("message").into_boxed_str());
        assert_eq!(cached(copy), cached("message"));
    }
}
