//! The two protocols by which a writer publishes values that readers must
//! read whole, written once: the writer's fields ([`Summary`], [`Text`],
//! the double-buffered 16-bit [`Gauge`]) and the reader
//! (`crate::reader`) call these functions, and the model checker `loom`
//! checks the same functions against every interleaving of a writer and a
//! reader (the tests at the end, run with `--cfg loom`; see the book's
//! Guarantees chapter).
//!
//! - **A group guarded by a sequence number** (the format's "groups read
//!   together"): the writer makes the number odd ([`begin`]), stores the
//!   members, and makes it even again ([`end`]); a reader loads the number,
//!   copies the members, loads the number again, and keeps the copy only
//!   if both loads gave the same even number ([`read_group`]).
//! - **A double buffer** (the original's 2-byte values): the writer stores
//!   the new value into the buffer its write index names and then flips the
//!   index ([`flip`]); a reader copies the other buffer and keeps the copy
//!   only if the index did not move meanwhile ([`read_buffered`]).
//!
//! The writer reaches the memory through [`Cell`] (one word that is stored
//! atomically): a [`Slot`] of a stats file, or a `loom` atomic in the
//! tests. The reader's side takes closures that copy out of a
//! file (`crate::reader`'s memory: atomic loads of a mapping, or `pread`)
//! or out of `loom` atomics. The fences are `std`'s, or `loom`'s under
//! `cfg(loom)`, where only the `loom` tests may run (the rest of the crate
//! would call `loom` outside a model).
//!
//! Orderings (the argument, which the `loom` tests check): the writer's odd
//! store is relaxed and followed by a release fence, so a reader whose copy
//! saw any member stored after it also sees the odd number (or a later one)
//! in its second load, through its acquire fence after the copy; the even
//! store is a release store, so a reader whose first load saw it (made an
//! acquire load by the fence after it) copies the members stored before it.
//! The double buffer's flip is a release store, read the same way.
//!
//! [`Summary`]: crate::Summary
//! [`Text`]: crate::Text
//! [`Gauge`]: crate::Gauge

#[cfg(loom)]
use ::loom::sync::atomic::{fence, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{fence, Ordering};

use crate::map::{Slot, Word};

/// One word of shared memory that the writer stores atomically.
pub(crate) trait Cell<W> {
    /// One relaxed store.
    fn store(&self, value: W);
    /// One store with release ordering: the stores before it are visible to
    /// whoever sees this one with acquire ordering.
    fn store_release(&self, value: W);
}

/// The writer's memory: a slot of a stats file (or of heap memory).
impl<W: Word> Cell<W> for Slot<W> {
    #[inline(always)]
    fn store(&self, value: W) {
        Slot::store(self, value);
    }

    #[inline(always)]
    fn store_release(&self, value: W) {
        Slot::store_release(self, value);
    }
}

/// The writer starts an update of the group that `seq` guards, whose
/// number is now `current`: the number becomes odd (`current | 1`, so that a
/// number left odd by a writer that died mid-update still works), and no
/// store after this call becomes visible before it. Returns the even number
/// to pass to [`end`].
#[inline(always)]
pub(crate) fn begin(seq: &impl Cell<u64>, current: u64) -> u64 {
    let odd = current | 1;
    seq.store(odd);
    fence(Ordering::Release);
    odd.wrapping_add(1)
}

/// The writer ends the update that [`begin`] started: the number becomes
/// `next` (even), after every store of the update.
#[inline(always)]
pub(crate) fn end(seq: &impl Cell<u64>, next: u64) {
    seq.store_release(next);
}

/// What one try at reading a group gave (see [`try_group`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Try {
    /// The copy is whole: the number was this even value before and after.
    Settled(u64),
    /// The writer was updating the group, or the copy failed: try again.
    Busy,
    /// The sequence number could not be read.
    Unreadable,
}

/// One try at reading a group: loads the number (`load_seq`, a relaxed
/// load, made acquire by a fence), copies the members (`copy`, relaxed
/// loads; false when they could not be copied) unless the number is odd,
/// then loads the number again after an acquire fence.
#[inline]
pub(crate) fn try_group(
    mut load_seq: impl FnMut() -> Option<u64>,
    copy: impl FnOnce() -> bool,
) -> Try {
    let Some(before) = load_seq() else {
        return Try::Unreadable;
    };
    // The copy's loads happen after this load.
    fence(Ordering::Acquire);
    if !before.is_multiple_of(2) {
        return Try::Busy;
    }
    let copied = copy();
    // The copy's loads happen before the second load of the number.
    fence(Ordering::Acquire);
    let Some(after) = load_seq() else {
        return Try::Unreadable;
    };
    if copied && after == before {
        Try::Settled(before)
    } else {
        Try::Busy
    }
}

/// Reads a group whole: [`try_group`] until a try settles (its number is
/// returned: the copy `copy` made last is whole), the number cannot be
/// read, or `again` (given the number of tries made) says to stop.
#[inline]
pub(crate) fn read_group(
    mut load_seq: impl FnMut() -> Option<u64>,
    mut copy: impl FnMut() -> bool,
    mut again: impl FnMut(u32) -> bool,
) -> Option<u64> {
    let mut made: u32 = 0;
    loop {
        match try_group(&mut load_seq, &mut copy) {
            Try::Settled(number) => return Some(number),
            Try::Unreadable => return None,
            Try::Busy => {}
        }
        made = made.saturating_add(1);
        if !again(made) {
            return None;
        }
        std::hint::spin_loop();
    }
}

/// The writer publishes a double-buffered value whose write index is now
/// `current`: `write` stores it into the buffer that the index names (0 or
/// 1, given to it), then the index flips with a release store, so that a
/// reader that sees the new index sees the value.
#[inline(always)]
pub(crate) fn flip(index: &impl Cell<u8>, current: u8, write: impl FnOnce(u8)) {
    write(current);
    index.store_release(current ^ 1);
}

/// One try at reading a double-buffered value: loads the write index
/// (`load_index`, relaxed, made acquire by a fence), copies the buffer it
/// does not name (`copy`, given the index; the caller checks that it is 0 or
/// 1), then loads the index again after an acquire fence: true when it had
/// not moved, so the copy is of a buffer the writer was not writing.
#[inline]
pub(crate) fn try_buffered<E>(
    mut load_index: impl FnMut() -> Result<u8, E>,
    copy: impl FnOnce(u8) -> Result<(), E>,
) -> Result<bool, E> {
    let before = load_index()?;
    fence(Ordering::Acquire);
    copy(before)?;
    fence(Ordering::Acquire);
    Ok(load_index()? == before)
}

/// Reads a double-buffered value whole: [`try_buffered`] until a try keeps
/// its copy (`Ok(Ok(()))`), one fails (its error), or `again` (given the
/// number of tries made) says to stop (`Ok(Err(tries))`).
#[inline]
pub(crate) fn read_buffered<E>(
    mut load_index: impl FnMut() -> Result<u8, E>,
    mut copy: impl FnMut(u8) -> Result<(), E>,
    mut again: impl FnMut(u32) -> bool,
) -> Result<Result<(), u32>, E> {
    let mut made: u32 = 0;
    loop {
        if try_buffered(&mut load_index, &mut copy)? {
            return Ok(Ok(()));
        }
        made = made.saturating_add(1);
        if !again(made) {
            return Ok(Err(made));
        }
        std::hint::spin_loop();
    }
}

/// The protocols' steps one at a time, on a writer's slots and on
/// scripted loads (the interleavings themselves are `model_checked`'s).
#[cfg(all(test, not(loom)))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::map::Region;

    #[test]
    fn begin_makes_the_number_odd_and_end_makes_it_the_next_even_one() {
        let region = Region::memory(8);
        let seq = region.slot::<u64>(0).expect("in bounds");
        let next = begin(&seq, 0);
        assert_eq!((seq.load(), next), (1, 2));
        end(&seq, next);
        assert_eq!(seq.load(), 2);
        // A number left odd by a writer that died mid-update is rounded up.
        let next = begin(&seq, 5);
        assert_eq!((seq.load(), next), (5, 6));
        end(&seq, next);
        assert_eq!(seq.load(), 6);
    }

    #[test]
    fn flip_writes_the_buffer_the_index_names_then_flips_it() {
        let region = Region::memory(8);
        let index = region.slot::<u8>(0).expect("in bounds");
        let mut written = Vec::new();
        flip(&index, 0, |i| written.push(i));
        assert_eq!(index.load(), 1);
        flip(&index, 1, |i| written.push(i));
        assert_eq!(index.load(), 0);
        assert_eq!(written, [0, 1]);
    }

    /// `load_seq` that returns the given numbers in turn.
    fn numbers(seqs: &[Option<u64>]) -> impl FnMut() -> Option<u64> + '_ {
        let mut next = seqs.iter();
        move || next.next().copied().flatten()
    }

    #[test]
    fn a_try_keeps_its_copy_only_between_two_equal_even_numbers() {
        let copies = std::cell::Cell::new(0);
        let copy = |ok: bool| {
            copies.set(copies.get() + 1);
            ok
        };
        assert_eq!(
            try_group(numbers(&[Some(4), Some(4)]), || copy(true)),
            Try::Settled(4)
        );
        assert_eq!(
            try_group(numbers(&[Some(4), Some(6)]), || copy(true)),
            Try::Busy
        );
        // A copy that failed is not kept, though the number did not move.
        assert_eq!(
            try_group(numbers(&[Some(4), Some(4)]), || copy(false)),
            Try::Busy
        );
        // An odd number: the writer is at work, nothing is copied.
        assert_eq!(
            try_group(numbers(&[Some(5), Some(5)]), || copy(true)),
            Try::Busy
        );
        assert_eq!(copies.get(), 3);
        assert_eq!(try_group(numbers(&[None]), || copy(true)), Try::Unreadable);
        assert_eq!(
            try_group(numbers(&[Some(2), None]), || copy(true)),
            Try::Unreadable
        );
    }

    #[test]
    fn a_group_is_read_again_until_it_settles_or_the_reader_gives_up() {
        let mut asked = Vec::new();
        let seqs = [Some(1), Some(2), Some(4), Some(6), Some(6)];
        let settled = read_group(
            numbers(&seqs),
            || true,
            |made| {
                asked.push(made);
                true
            },
        );
        assert_eq!(settled, Some(6));
        assert_eq!(asked, [1, 2]);
        let mut asked = Vec::new();
        let given_up = read_group(
            numbers(&seqs),
            || true,
            |made| {
                asked.push(made);
                made < 2
            },
        );
        assert_eq!(given_up, None);
        assert_eq!(asked, [1, 2]);
        assert_eq!(read_group(numbers(&[None]), || true, |_| true), None);
    }

    /// `load_index` that returns the given indexes in turn.
    fn indexes(values: &[u8]) -> impl FnMut() -> Result<u8, &'static str> + '_ {
        let mut next = values.iter();
        move || next.next().copied().ok_or("no more loads")
    }

    #[test]
    fn a_double_buffer_is_kept_only_if_the_index_did_not_move() {
        let mut copied = Vec::new();
        let mut copy = |index: u8| {
            copied.push(index);
            Ok(())
        };
        assert_eq!(try_buffered(indexes(&[1, 1]), &mut copy), Ok(true));
        assert_eq!(try_buffered(indexes(&[0, 1]), &mut copy), Ok(false));
        assert_eq!(copied, [1, 0]);
        assert_eq!(
            try_buffered(indexes(&[0, 0]), |_| Err("refused")),
            Err("refused")
        );
        assert_eq!(
            try_buffered(indexes(&[0]), |_| Ok(())),
            Err("no more loads")
        );
        let mut asked = Vec::new();
        let read = read_buffered(
            indexes(&[0, 1, 1, 0, 0, 0]),
            |_| Ok(()),
            |made| {
                asked.push(made);
                true
            },
        );
        assert_eq!((read, asked.as_slice()), (Ok(Ok(())), &[1, 2][..]));
        let given_up = read_buffered(indexes(&[0, 1, 1, 0]), |_| Ok(()), |made| made < 2);
        assert_eq!(given_up, Ok(Err(2)));
    }
}

/// The protocols against every interleaving of one writer and one reader
/// (`loom`): `RUSTFLAGS="--cfg loom" cargo test -p mmstats --lib loom
/// --release`, in a target directory of its own (see `.ci/run`).
///
/// Each test starts from a group that a writer left after `0` updates,
/// runs `UPDATES` updates in a writer thread while the reader copies the
/// group once (or tries a few times), and asserts that a copy the reader
/// keeps is exactly the group after the number of updates its sequence
/// number (or write index) says: never a member of one update beside a
/// member of another, never members older than the number.
#[cfg(all(test, loom))]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]
mod model_checked {
    use super::{begin, end, flip, read_buffered, read_group, Cell};
    use ::loom::sync::atomic::{AtomicU16, AtomicU64, AtomicU8, Ordering::Relaxed};
    use ::loom::sync::Arc;

    macro_rules! loom_cell {
        ($w:ty, $atomic:ty) => {
            impl Cell<$w> for $atomic {
                fn store(&self, value: $w) {
                    <$atomic>::store(self, value, Relaxed)
                }
                fn store_release(&self, value: $w) {
                    <$atomic>::store(self, value, ::loom::sync::atomic::Ordering::Release)
                }
            }
        };
    }
    loom_cell!(u64, AtomicU64);
    loom_cell!(u16, AtomicU16);
    loom_cell!(u8, AtomicU8);

    /// The model: a bound on preemptions keeps the runs short (a handful
    /// of seconds each in release mode); `LOOM_MAX_PREEMPTIONS` overrides.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = ::loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(3);
        }
        builder.check(f);
    }

    // --- a group like a Summary: five members and a sequence number ------

    const MEMBERS: usize = 5;

    struct Summary {
        members: [AtomicU64; MEMBERS],
        seq: AtomicU64,
    }

    /// The members after `updates` updates: different in every member and
    /// every update, zero before the first (a fresh file).
    fn summary_after(updates: u64) -> [u64; MEMBERS] {
        std::array::from_fn(|i| {
            if updates == 0 {
                0
            } else {
                updates * 10 + i as u64
            }
        })
    }

    fn summary_group(updates: u64, tries: u32) {
        model(move || {
            let group = Arc::new(Summary {
                members: std::array::from_fn(|_| AtomicU64::new(0)),
                seq: AtomicU64::new(0),
            });
            let writer = {
                let group = Arc::clone(&group);
                ::loom::thread::spawn(move || {
                    // As `Summary::add`: the number kept by the writer.
                    let mut seq = 0;
                    for update in 1..=updates {
                        let next = begin(&group.seq, seq);
                        for (member, value) in group.members.iter().zip(summary_after(update)) {
                            Cell::store(member, value);
                        }
                        end(&group.seq, next);
                        seq = next;
                    }
                })
            };
            let mut copy = [0u64; MEMBERS];
            let settled = read_group(
                || Some(group.seq.load(Relaxed)),
                || {
                    for (out, member) in copy.iter_mut().zip(&group.members) {
                        *out = member.load(Relaxed);
                    }
                    true
                },
                |made| made < tries,
            );
            if let Some(seq) = settled {
                assert_eq!(seq % 2, 0);
                assert_eq!(copy, summary_after(seq / 2), "kept at {seq}");
            }
            writer.join().unwrap();
        });
    }

    #[test]
    fn loom_summary_group_one_update() {
        summary_group(1, 1);
    }

    #[test]
    fn loom_summary_group_two_updates() {
        summary_group(2, 1);
    }

    #[test]
    fn loom_summary_group_one_update_two_tries() {
        summary_group(1, 2);
    }

    // --- a text: bytes written C-style and a sequence number -------------

    const TEXT: usize = 4;
    const TEXTS: [&[u8]; 2] = [b"abc", b"wxyz"];

    struct Text {
        bytes: [AtomicU8; TEXT],
        seq: AtomicU64,
    }

    /// The bytes after `updates` texts were set, as `Bytes::write_c_string`
    /// leaves them: the text, a NUL if there is room, older bytes after it.
    fn text_after(updates: u64) -> [u8; TEXT] {
        let mut bytes = [0u8; TEXT];
        for text in TEXTS.iter().take(updates as usize) {
            bytes[..text.len()].copy_from_slice(text);
            if text.len() < TEXT {
                bytes[text.len()] = 0;
            }
        }
        bytes
    }

    fn text_group(updates: u64) {
        model(move || {
            let text = Arc::new(Text {
                bytes: std::array::from_fn(|_| AtomicU8::new(0)),
                seq: AtomicU64::new(0),
            });
            let writer = {
                let text = Arc::clone(&text);
                ::loom::thread::spawn(move || {
                    // As `Text::set`, which reads the number back from the
                    // file: the same number, its own last store (it is the
                    // only writer). It is kept here instead because `loom`
                    // 0.7 explores fewer executions when the writer loads
                    // the word it then stores: with that load, a weakened
                    // even store was not caught.
                    let mut seq = 0;
                    for value in TEXTS.iter().take(updates as usize) {
                        let next = begin(&text.seq, seq);
                        for (byte, &b) in text.bytes.iter().zip(value.iter()) {
                            Cell::store(byte, b);
                        }
                        if let Some(byte) = text.bytes.get(value.len()) {
                            Cell::store(byte, 0);
                        }
                        end(&text.seq, next);
                        seq = next;
                    }
                })
            };
            let mut copy = [0u8; TEXT];
            let settled = read_group(
                || Some(text.seq.load(Relaxed)),
                || {
                    for (out, byte) in copy.iter_mut().zip(&text.bytes) {
                        *out = byte.load(Relaxed);
                    }
                    true
                },
                |made| made < 1,
            );
            if let Some(seq) = settled {
                assert_eq!(copy, text_after(seq / 2), "kept at {seq}");
            }
            writer.join().unwrap();
        });
    }

    #[test]
    fn loom_text_one_update() {
        text_group(1);
    }

    #[test]
    fn loom_text_two_updates() {
        text_group(2);
    }

    // --- the double buffer of a 16-bit gauge ------------------------------

    struct Buffered {
        index: AtomicU8,
        buffers: [AtomicU16; 2],
    }

    /// The value of the `n`th update (the file starts at 0).
    fn value(n: u16) -> u16 {
        0x1100 * n + n
    }

    fn double_buffer(updates: u16) {
        model(move || {
            let gauge = Arc::new(Buffered {
                index: AtomicU8::new(0),
                buffers: [AtomicU16::new(0), AtomicU16::new(0)],
            });
            let writer = {
                let gauge = Arc::clone(&gauge);
                ::loom::thread::spawn(move || {
                    // As `Gauge::set`, which reads the index back from the
                    // file (see `text_group` on why it is kept here).
                    let mut index = 0;
                    for n in 1..=updates {
                        flip(&gauge.index, index, |i| {
                            Cell::store(&gauge.buffers[usize::from(i)], value(n))
                        });
                        index ^= 1;
                    }
                })
            };
            let mut copy = None;
            let kept = read_buffered(
                || Ok::<u8, ()>(gauge.index.load(Relaxed)),
                |index| {
                    copy = Some((index, gauge.buffers[usize::from(index ^ 1)].load(Relaxed)));
                    Ok(())
                },
                |made| made < 1,
            );
            if kept == Ok(Ok(())) {
                let (index, copy) = copy.unwrap();
                // The values published while the index was as the reader
                // saw it (it did not move during the copy): after an even
                // number of flips it is 0, after an odd number 1. A writer
                // that flips twice during one copy cannot be told apart
                // from none (the protocol's documented limit), so after
                // two updates index 0 stands for the first value or the
                // third.
                let published: Vec<u16> = (0..=updates)
                    .filter(|n| u8::from(n % 2 == 1) == index)
                    .map(value)
                    .collect();
                assert!(published.contains(&copy), "{copy:#x} at index {index}");
            }
            writer.join().unwrap();
        });
    }

    #[test]
    fn loom_double_buffer_one_update() {
        double_buffer(1);
    }

    #[test]
    fn loom_double_buffer_two_updates() {
        double_buffer(2);
    }
}
