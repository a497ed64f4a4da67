//! Reading values whole while a writer changes them: a double-buffered
//! value by its write index ([`read_buffered`]), a group of values guarded
//! by a sequence field by its sequence number ([`settle_groups`]).

use super::error::ReadError;
use super::frame::{put_counts, slot, Frame};
use super::mem;
use super::text::{frame_str, push_utf8_ignore, Span};
use crate::format::{self, Kind, ValueType};
use crate::seqlock;

/// How many times a double-buffered value is copied again when the writer
/// flipped its buffers during the copy, before giving up.
pub const MAX_BUFFER_ATTEMPTS: u32 = 1000;

/// The most times a reader tries to read a group guarded by a sequence
/// field whole, before it reports the group as unsettled (see
/// [`Snapshot::unsettled`]); fewer once the read has spent its
/// [`RETRY_BUDGET`]. A group's update takes nanoseconds, so a group that a
/// live writer updates settles within a few tries, unless the writer was
/// descheduled in the middle of an update: then the reader spins a little,
/// yields, and at last sleeps [`GROUP_PAUSE`] between tries, to let the
/// writer finish. A group whose writer died in the middle of an update (or
/// a forged one) never settles.
///
/// [`Snapshot::unsettled`]: super::Snapshot::unsettled
pub const GROUP_ATTEMPTS: u32 = 1000;

/// The pause between two late tries at a group (see [`GROUP_ATTEMPTS`]).
pub const GROUP_PAUSE: std::time::Duration = std::time::Duration::from_micros(50);

/// The most time one read of a file spends trying values again (double
/// buffers the writer flipped during a copy, groups that did not settle):
/// once it is spent, each value still to be read gets one try only, so
/// that a file of many groups left unsettled costs a read a few
/// milliseconds in all, not a wait per group.
pub const RETRY_BUDGET: std::time::Duration = std::time::Duration::from_millis(5);

/// The time one read has spent trying values again, measured from its
/// first retry (a read that needs none never looks at the clock).
pub(super) struct Retries {
    started: Option<std::time::Instant>,
    spent: bool,
}

impl Retries {
    pub(super) fn new() -> Retries {
        Retries {
            started: None,
            spent: false,
        }
    }

    /// Whether the read has used up [`RETRY_BUDGET`].
    fn spent(&mut self) -> bool {
        if !self.spent {
            let started = *self.started.get_or_insert_with(std::time::Instant::now);
            self.spent = started.elapsed() > RETRY_BUDGET;
        }
        self.spent
    }
}

/// Reads every double-buffered value of `frame` again from the live file, by
/// the double buffer's protocol (see `read_buffered`).
pub(super) fn reread_buffered<M: mem::Memory + ?Sized>(
    mem: &M,
    frame: &mut Frame,
    retries: &mut Retries,
) -> Result<(), ReadError> {
    let Frame {
        text,
        entries,
        scratch,
        counts,
        ..
    } = frame;
    for entry in entries.iter_mut().filter(|entry| entry.buffered) {
        read_buffered(
            mem,
            frame_str(text, entry.label),
            entry.start,
            entry.value_at.saturating_sub(format::WRITE_BUFFER_BYTES),
            entry.value_size,
            scratch,
            retries,
        )?;
        let old = entry.value.text;
        entry.value = slot(entry.value_type, scratch, |b| push_utf8_ignore(text, b));
        if entry.value_type == ValueType::Counts {
            entry.value.text = put_counts(counts, old, scratch);
        }
    }
    Ok(())
}

/// Reads each group guarded by a sequence field again, whole: the sequence
/// number, then the group's values, then the sequence number again, until
/// the two are the same even number (at most [`GROUP_ATTEMPTS`] tries, and
/// one once the read has spent [`RETRY_BUDGET`], yielding to the writer now
/// and then). The sequence fields whose groups never settled are listed in
/// `frame.unsettled`, with the values first read.
///
/// A group is the sequence field's label without `.seq` (the base) and the
/// fields right before it whose label is the base or starts with the base
/// and a dot. Only unbuffered values take part; a group with anything else
/// is left as first read.
pub(super) fn settle_groups<M: mem::Memory + ?Sized>(
    mem: &M,
    frame: &mut Frame,
    retries: &mut Retries,
) {
    for seq_index in 0..frame.entries.len() {
        let Some(&seq) = frame.entries.get(seq_index) else {
            continue;
        };
        if seq.kind != Kind::Sequence {
            continue;
        }
        let Some(base) = frame.str(seq.label).strip_suffix(".seq") else {
            continue;
        };
        let in_group = |label: &str| {
            label
                .strip_prefix(base)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        };
        let mut first = seq_index;
        while let Some(previous) = first.checked_sub(1) {
            match frame.entries.get(previous) {
                Some(entry) if in_group(frame.str(entry.label)) => first = previous,
                _ => break,
            }
        }
        let Some(group) = frame.entries.get(first..seq_index) else {
            continue;
        };
        if group.is_empty()
            || seq.buffered
            || seq.value_size != 8
            || group.iter().any(|g| g.buffered)
        {
            continue;
        }
        let load_seq = || {
            let mut bytes = [0u8; 8];
            mem.copy(seq.value_at, &mut bytes)
                .then(|| u64::from_ne_bytes(bytes))
        };
        // The window between the two loads of the sequence number must be
        // short, or a busy writer never leaves it alone: the group's bytes,
        // from its first value to the end of its last, are copied in one go
        // (one `pread` for a file read through copies; aligned words for a
        // mapping, so that no value that fits one is read in parts), and
        // decoded only when they settled.
        let (Some(head), Some(tail)) = (group.first(), group.last()) else {
            continue;
        };
        let span_start = head.value_at;
        let span_end = tail.value_at.saturating_add(tail.value_size);
        let mut raw = std::mem::take(&mut frame.scratch);
        raw.clear();
        raw.resize(span_end.saturating_sub(span_start), 0);
        // The group protocol's reader (`crate::seqlock`), paced by the
        // read's policy between tries.
        let settled = seqlock::read_group(
            load_seq,
            || mem.copy(span_start, &mut raw),
            |made| {
                if !mem.live() || made >= GROUP_ATTEMPTS || retries.spent() {
                    // Bytes nobody writes (reading them again changes
                    // nothing), or tried enough.
                    return false;
                }
                // Let a descheduled writer finish its update: spin at first,
                // then yield now and then, then pause between tries.
                let attempt = made.saturating_add(1);
                if attempt > 256 {
                    std::thread::sleep(GROUP_PAUSE);
                } else if attempt > 64 && attempt.is_multiple_of(8) {
                    std::thread::yield_now();
                }
                true
            },
        );
        match settled {
            Some(number) => {
                let Frame {
                    text,
                    entries,
                    counts,
                    ..
                } = &mut *frame;
                if let Some(group) = entries.get_mut(first..seq_index) {
                    for entry in group {
                        let at = entry.value_at.saturating_sub(span_start);
                        let this = raw
                            .get(at..at.saturating_add(entry.value_size))
                            .unwrap_or_default();
                        let old = entry.value.text;
                        entry.value = slot(entry.value_type, this, |b| push_utf8_ignore(text, b));
                        if entry.value_type == ValueType::Counts {
                            entry.value.text = put_counts(counts, old, this);
                        }
                    }
                }
                if let Some(seq) = entries.get_mut(seq_index) {
                    seq.value = slot(ValueType::U64, &number.to_ne_bytes(), |_| Span::default());
                }
            }
            None => frame.unsettled.push(seq_index),
        }
        frame.scratch = raw;
    }
}

/// Copies the published buffer of a double-buffered field into `out`: the
/// one the writer is not writing (`buffers[write_buffer ^ 1]`).
///
/// The writer fills `buffers[write_buffer]` and then flips `write_buffer`, so
/// the write index is loaded before and after the copy and the copy is taken
/// only if the index did not move in between; otherwise it is tried again,
/// up to [`MAX_BUFFER_ATTEMPTS`] times, fewer once the read has spent
/// [`RETRY_BUDGET`]. (A writer that flips an even number of
/// times during one copy cannot be told apart; values of 8 bytes or less that
/// the writer aligns are copied with one load and cannot tear anyway.)
#[allow(clippy::too_many_arguments)]
fn read_buffered<M: mem::Memory + ?Sized>(
    mem: &M,
    label: &str,
    start: usize,
    write_buffer_offset: usize,
    size: usize,
    out: &mut Vec<u8>,
    retries: &mut Retries,
) -> Result<(), ReadError> {
    let buffers = write_buffer_offset.saturating_add(format::WRITE_BUFFER_BYTES);
    out.clear();
    out.resize(size, 0);
    let truncated = |what, offset: usize, needed| ReadError::Truncated {
        what,
        label: Some(label.to_owned()),
        offset,
        needed,
        available: mem.len().saturating_sub(offset),
    };
    let load_index = || {
        let mut index = [0u8];
        if mem.copy(write_buffer_offset, &mut index) {
            Ok(index[0])
        } else {
            Err(truncated("write-buffer byte", write_buffer_offset, 1))
        }
    };
    // The double buffer's reader (`crate::seqlock`): the buffer the write
    // index does not name, kept if the index did not move during the copy.
    let copy = |index: u8| {
        let read = usize::from(index ^ 1);
        if read > 1 {
            if size == 0 {
                // Nothing to read, as in the reference reader.
                return Ok(());
            }
            return Err(ReadError::InvalidWriteBuffer {
                label: label.to_owned(),
                offset: write_buffer_offset,
                found: index,
            });
        }
        // Saturates only past the end, where `copy` refuses.
        let offset = buffers.saturating_add(read.saturating_mul(size));
        if mem.copy(offset, out) {
            Ok(())
        } else {
            Err(truncated("buffers", buffers, size.saturating_mul(2)))
        }
    };
    let again = |made: u32| {
        made < MAX_BUFFER_ATTEMPTS
            && !(made.saturating_add(1).is_multiple_of(16) && retries.spent())
    };
    match seqlock::read_buffered(load_index, copy, again)? {
        Ok(()) => Ok(()),
        Err(attempts) => Err(ReadError::UnstableBuffer {
            label: label.to_owned(),
            offset: start,
            attempts,
        }),
    }
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects
)]
mod tests {
    use super::super::parse::parse;
    use super::super::testing::file;
    use super::super::{read_bytes, read_path, ReadError, Value};
    use super::*;

    /// Memory whose write-buffer byte flips on every load, like a writer in a
    /// tight loop.
    struct Flipping {
        bytes: Vec<u8>,
        write_buffer_offset: usize,
        loads: std::cell::Cell<u32>,
    }

    impl mem::Memory for Flipping {
        fn len(&self) -> usize {
            self.bytes.len()
        }

        fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
            if !self.bytes.as_slice().copy(offset, out) {
                return false;
            }
            if offset == self.write_buffer_offset && out.len() == 1 {
                let n = self.loads.get();
                self.loads.set(n + 1);
                out[0] = (n % 2) as u8;
            }
            true
        }
    }

    #[test]
    fn error_unstable_buffer() {
        let bytes = file(&[(b"busy", b"Q", 0, &[0; 16])], 64);
        let flipping = Flipping {
            bytes,
            write_buffer_offset: 1 + 2 + 4 + 2 + 1,
            loads: std::cell::Cell::new(0),
        };
        match parse(&flipping, super::super::Limits::default()) {
            Err(ReadError::UnstableBuffer {
                label, attempts, ..
            }) => {
                assert_eq!((label.as_str(), attempts), ("busy", MAX_BUFFER_ATTEMPTS))
            }
            other => panic!("{other:?}"),
        }
    }

    /// A writer thread keeps publishing values into an aligned double-buffered
    /// field of a mapped file (through the writer's own slots: atomic stores)
    /// while `read_path` reads it: every value read is whole and values never
    /// go back in time.
    #[test]
    fn live_file_reads_whole_values_while_a_writer_runs() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;

        // A 7-byte label puts the buffers at offset 14; two spaces of padding
        // move them to 16.
        let label = b"counter";
        let padding = format::signature_padding(format::FIELDS_START, label.len(), 1, 8);
        assert_eq!(padding, 2);
        let mut sig = vec![b' '; padding];
        sig.push(b'Q');
        let write_buffer_offset = 1 + 2 + label.len() + 2 + sig.len();
        let buffers = write_buffer_offset + 1;
        assert_eq!(buffers % 8, 0);
        let bytes = file(&[(label, &sig, 0, &[0; 16])], 4096);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.mmstats");
        std::fs::write(&path, &bytes).unwrap();
        let rw = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        // The file is this test's own, in a private directory, and nobody
        // truncates it, as `Region::map_file` asks.
        let region = crate::map::Region::map_file(&rw, bytes.len()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // Each value repeats a counter in both halves, so a torn one shows.
        let pattern = |n: u64| (n << 32) | n;
        let writer = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                // Bounds and alignment are checked by `Region::slot`; the
                // thread owns the region, so it outlives the slots.
                let wb = region.slot::<u8>(write_buffer_offset).unwrap();
                let slots = [0, 1].map(|i| region.slot::<u64>(buffers + 8 * i).unwrap());
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n = (n + 1) & 0xFFFF_FFFF;
                    let w = wb.load();
                    slots[usize::from(w)].store(pattern(n));
                    wb.store_release(w ^ 1);
                    // A real writer does some work between updates.
                    for _ in 0..50 {
                        std::hint::spin_loop();
                    }
                }
            })
        };
        let mut last = 0;
        for _ in 0..2000 {
            let snapshot = read_path(&path).unwrap();
            let Value::Unsigned(v) = snapshot.stats[0].value else {
                panic!("{:?}", snapshot.stats[0].value)
            };
            assert_eq!(v >> 32, v & 0xFFFF_FFFF, "torn value {v:#x}");
            assert!(v >= last, "went back from {last:#x} to {v:#x}");
            last = v;
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert!(last > 0, "the writer never published");
    }

    /// A file with a summary group whose sequence number is `seq`.
    fn summary_file(seq: u64) -> Vec<u8> {
        use crate::MmStats;
        #[derive(crate::MmStats)]
        #[mmstats(crate = "crate", defaults = false)]
        struct Group {
            size: crate::Summary,
        }
        model_file(&Group::MODEL, &[seq])
    }

    /// A file of `model`, whose fields are summaries, with their sequence
    /// numbers `seqs`: the file a writer leaves after adding 4.0 and 6.0 to
    /// each, laid out by the model's own layout.
    fn model_file(model: &crate::stats::Model, seqs: &[u64]) -> Vec<u8> {
        let mut bytes = vec![0u8; model.content_size];
        let specs = model.fields;
        let layout = model.layout;
        bytes[0] = 1;
        let values: Vec<u64> = seqs
            .iter()
            .flat_map(|&seq| {
                [
                    5.0f64.to_bits(),
                    2,
                    10.0f64.to_bits(),
                    4.0f64.to_bits(),
                    6.0f64.to_bits(),
                    seq,
                ]
            })
            .collect();
        for ((spec, place), value) in specs.iter().zip(layout).zip(values) {
            let label = spec.file_label();
            let mut at = place.offset;
            bytes[at..at + 2].copy_from_slice(&(label.len() as u16).to_ne_bytes());
            at += 2;
            bytes[at..at + label.len()].copy_from_slice(label.as_bytes());
            at += label.len();
            let sig = format!(
                "{}{}",
                " ".repeat(place.padding),
                std::str::from_utf8(spec.ty.signature.as_bytes()).unwrap()
            );
            bytes[at..at + 2].copy_from_slice(&(sig.len() as u16).to_ne_bytes());
            at += 2;
            bytes[at..at + sig.len()].copy_from_slice(sig.as_bytes());
            bytes[place.write_buffer_offset] = 0xff;
            bytes[place.value_offset..place.value_offset + 8].copy_from_slice(&value.to_ne_bytes());
        }
        let end = crate::format::fields_end(layout) + 2;
        let mut meta = crate::format::META_MAGIC.to_vec();
        meta.push(crate::format::META_VERSION);
        meta.extend_from_slice(&(specs.len() as u16).to_ne_bytes());
        for spec in specs {
            meta.push(spec.ty.kind.code());
            meta.extend_from_slice(&0u16.to_ne_bytes());
            meta.extend_from_slice(&0u16.to_ne_bytes());
        }
        bytes[end..end + meta.len()].copy_from_slice(&meta);
        bytes
    }

    #[test]
    fn a_settled_group_reads_whole_and_an_odd_sequence_is_reported() {
        let whole = read_bytes(&summary_file(4)).unwrap();
        assert!(whole.unsettled.is_empty());
        assert_eq!(whole.get("size.count").unwrap().value, Value::Unsigned(2));
        assert_eq!(whole.get("size.seq").unwrap().kind, Kind::Sequence);
        // A writer that died in the middle of an update leaves an odd number:
        // the values are still returned, and the group is named.
        let torn = read_bytes(&summary_file(5)).unwrap();
        assert_eq!(torn.unsettled, ["size.seq"]);
        assert_eq!(torn.get("size").unwrap().value, Value::Float(5.0));
    }

    /// Live memory that counts the copies made from it.
    struct Counting {
        bytes: Vec<u8>,
        copies: std::cell::Cell<u64>,
    }

    impl mem::Memory for Counting {
        fn len(&self) -> usize {
            self.bytes.len()
        }

        fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
            self.copies.set(self.copies.get() + 1);
            self.bytes.as_slice().copy(offset, out)
        }
    }

    #[test]
    fn a_group_that_never_settles_costs_a_bounded_number_of_tries() {
        let live = Counting {
            bytes: summary_file(7),
            copies: std::cell::Cell::new(0),
        };
        let snapshot = parse(&live, super::super::Limits::default()).unwrap();
        assert_eq!(snapshot.unsettled, ["size.seq"]);
        assert_eq!(
            snapshot.get("size.count").unwrap().value,
            Value::Unsigned(2)
        );
        // One copy of the file, then one load of the odd sequence number per
        // try: tried again, but no more than the bound (fewer once the
        // read's retry budget is spent).
        let copies = live.copies.get();
        assert!(
            copies > 2 && copies <= 1 + u64::from(GROUP_ATTEMPTS),
            "{copies}"
        );
        // A group whose number is even settles at the first try.
        let settled = Counting {
            bytes: summary_file(8),
            copies: std::cell::Cell::new(0),
        };
        assert!(parse(&settled, super::super::Limits::default())
            .unwrap()
            .unsettled
            .is_empty());
        assert_eq!(settled.copies.get(), 1 + 1 + 1 + 1);
    }

    /// The bytes of a real writer's file of `T` (a fresh one, of zeros),
    /// with the sequence number labelled `seq` set to `value`.
    fn written_file<T: crate::MmStats>(seq: &str, value: u64) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let stats = T::builder().dir(dir.path()).create().unwrap();
        let mut bytes = std::fs::read(stats.path().unwrap()).unwrap();
        let model = T::MODEL;
        let at = model
            .fields
            .iter()
            .zip(model.layout)
            .find(|(spec, _)| format!("{}{}", spec.label, spec.suffix) == seq)
            .map(|(_, place)| place.value_offset)
            .unwrap();
        bytes[at..at + 8].copy_from_slice(&value.to_ne_bytes());
        bytes
    }

    #[test]
    fn a_group_is_only_the_fields_under_its_label() {
        #[derive(crate::MmStats)]
        #[mmstats(crate = "crate", defaults = false)]
        struct Stats {
            // Double-buffered, right before the group, not of it.
            other: crate::Gauge<i16>,
            size: crate::Summary,
        }
        // Were the gauge taken into the group, the group (with a buffered
        // member) would be left as first read, not named unsettled.
        let odd = read_bytes(&written_file::<Stats>("size.seq", 3)).unwrap();
        assert_eq!(odd.unsettled, ["size.seq"]);
        let even = read_bytes(&written_file::<Stats>("size.seq", 4)).unwrap();
        assert!(even.unsettled.is_empty());
    }

    #[test]
    fn a_group_with_a_double_buffered_member_is_left_as_first_read() {
        #[derive(crate::MmStats)]
        #[mmstats(crate = "crate", defaults = false)]
        struct Stats {
            // Labelled under the summary's label, so a member of its group.
            #[mmstats(label = "t.x")]
            x: crate::Gauge<i16>,
            t: crate::Summary,
        }
        let snapshot = read_bytes(&written_file::<Stats>("t.seq", 3)).unwrap();
        assert!(snapshot.unsettled.is_empty(), "{:?}", snapshot.unsettled);
        assert_eq!(snapshot.get("t.seq").unwrap().value, Value::Unsigned(3));
    }

    /// Memory that counts its copies and says nobody writes it.
    struct Still {
        bytes: Vec<u8>,
        copies: std::cell::Cell<u64>,
    }

    impl mem::Memory for Still {
        fn len(&self) -> usize {
            self.bytes.len()
        }

        fn live(&self) -> bool {
            false
        }

        fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
            self.copies.set(self.copies.get() + 1);
            self.bytes.as_slice().copy(offset, out)
        }
    }

    #[test]
    fn a_group_in_bytes_nobody_writes_is_tried_once() {
        let still = Still {
            bytes: summary_file(7),
            copies: std::cell::Cell::new(0),
        };
        let snapshot = parse(&still, super::super::Limits::default()).unwrap();
        assert_eq!(snapshot.unsettled, ["size.seq"]);
        // The file, then the odd number once: reading again would change
        // nothing.
        assert_eq!(still.copies.get(), 2);
    }

    /// Memory whose write-buffer byte reads 0 in the first copy of the file
    /// and `later` when loaded alone, as a file forged while it is read.
    struct TurnsInvalid {
        bytes: Vec<u8>,
        write_buffer_offset: usize,
        later: u8,
    }

    impl mem::Memory for TurnsInvalid {
        fn len(&self) -> usize {
            self.bytes.len()
        }

        fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
            if !self.bytes.as_slice().copy(offset, out) {
                return false;
            }
            if offset == self.write_buffer_offset && out.len() == 1 {
                out[0] = self.later;
            }
            true
        }
    }

    #[test]
    fn a_write_buffer_byte_forged_during_the_read_is_a_typed_error() {
        let forged = TurnsInvalid {
            bytes: file(&[(b"busy", b"Q", 0, &[0; 16])], 64),
            write_buffer_offset: 1 + 2 + 4 + 2 + 1,
            later: 2,
        };
        match parse(&forged, super::super::Limits::default()) {
            Err(ReadError::InvalidWriteBuffer { label, found, .. }) => {
                assert_eq!((label.as_str(), found), ("busy", 2))
            }
            other => panic!("{other:?}"),
        }
    }

    /// Live memory that counts the copies made at each offset.
    struct CountingAt {
        bytes: Vec<u8>,
        copies: std::cell::RefCell<std::collections::HashMap<usize, u64>>,
    }

    impl mem::Memory for CountingAt {
        fn len(&self) -> usize {
            self.bytes.len()
        }

        fn copy(&self, offset: usize, out: &mut [u8]) -> bool {
            *self.copies.borrow_mut().entry(offset).or_default() += 1;
            self.bytes.as_slice().copy(offset, out)
        }
    }

    #[test]
    fn once_a_read_has_spent_its_retry_budget_a_group_gets_one_try() {
        use crate::MmStats;
        #[derive(crate::MmStats)]
        #[mmstats(crate = "crate", defaults = false)]
        struct Two {
            a: crate::Summary,
            b: crate::Summary,
        }
        let live = CountingAt {
            bytes: model_file(&Two::MODEL, &[1, 3]),
            copies: Default::default(),
        };
        let snapshot = parse(&live, super::super::Limits::default()).unwrap();
        assert_eq!(snapshot.unsettled, ["a.seq", "b.seq"]);
        let seq_at = |index: usize| Two::MODEL.layout[index].value_offset;
        let copies = live.copies.borrow();
        // The first group took the budget (its tries stop short of the
        // most, once it is spent); the second, one try.
        assert!(copies[&seq_at(5)] < u64::from(GROUP_ATTEMPTS), "{copies:?}");
        assert_eq!(copies[&seq_at(11)], 1, "{copies:?}");
    }
}
