//! mstore: the on-disk history of numeric metrics.
//!
//! Applications publish their statistics in memory-mapped files; mstore
//! keeps what those statistics were over time. It is built for the shape of
//! metric data: points arrive at a regular interval, are not changed once
//! written, are read back as ranges, and fit in 64 bits. That lets the store
//! compute where every point lives instead of looking it up, and read a
//! range with one sequential read per chunk file.
//!
//! # Model
//!
//! * A **store** is a directory. Its **chunk size** `S` (points per metric
//!   per chunk file) is chosen at creation and fixed for its life.
//! * **Time** is a `u64` **slot** number. The store records a `resolution`
//!   and a `start_time` given by the creator so that tools can convert
//!   ([`Store::slot_at`]), but does not interpret slots otherwise.
//! * A **metric** is a UTF-8 name, 1 to [`MAX_NAME_LEN`] bytes long, whose
//!   values are all `u64`, all `i64` or all `f64` ([`ValueType`]). The type
//!   is fixed by the metric's first write and recorded on disk. Values are
//!   stored bit for bit: all 64 bits of every integer, every `f64` including
//!   NaN payloads and negative zero.
//! * Each slot of a metric is **set** (it holds a value) or **unset**.
//!   Reads say which; an unset point is never reported as zero.
//!
//! The stores that `mmstats record` makes count time in milliseconds since
//! the Unix epoch (the resolution is the sampling interval, the start time
//! the store's creation rounded down to it) and name their metrics
//! `cmd:<command>:<label>`, `pid:<pid>:<label>` or `file:<file>:<label>`,
//! with counters and flags as `u64`, gauges as `i64`, averages and timers
//! as `f64`; the user guide's chapter "Keeping history" has the details.
//!
//! ```
//! use mmstats::mstore::{Options, Reader, Store};
//!
//! # fn main() -> Result<(), mmstats::mstore::Error> {
//! # let tmp = tempfile::tempdir().unwrap();
//! # let dir = tmp.path().join("history");
//! let mut store = Store::create(&dir, Options { chunk_size: 3600, ..Options::default() })?;
//! store.put("requests", 100, &[5u64, 7, 9])?;
//! store.put("latency_ms", 100, &[1.5f64, 2.25])?;
//! store.sync()?; // durable, and visible to readers
//!
//! let mut reader = Reader::open(&dir)?; // never blocks on the writer
//! let points = reader.get::<u64>("requests", 99, 104)?;
//! assert_eq!(points.at(99), None); // unset
//! assert_eq!(points.at(100), Some(5));
//! assert_eq!(points.iter().filter_map(|(_, v)| v).sum::<u64>(), 21);
//! # Ok(())
//! # }
//! ```
//!
//! # Operations
//!
//! | operation | what it does |
//! | --- | --- |
//! | [`Store::create`], [`Store::open`], [`Store::open_with`], [`Store::open_or_create`] | make or open a store for writing; takes the writer lock |
//! | [`Reader::open`], [`Reader::open_with`] | open a store read-only, without any lock |
//! | [`Store::put`] | write a run of consecutive values from a start slot |
//! | [`Store::get`], [`Reader::get`] | read slots `from..to` (end exclusive): values plus which are set, as [`Points`] |
//! | [`Store::metrics`], [`Reader::metrics`] | every metric with its type, in order of first write |
//! | [`Store::count`], [`Reader::count`] | the number of metrics |
//! | [`Store::fold`], [`Reader::fold`] | visit every run of consecutive set points |
//! | [`Store::delete_before`] | delete whole chunks before a slot (see below) |
//! | [`Store::retain`] | retention: delete the oldest whole chunks by age and by size, never the newest; returns what went ([`Deleted`]) |
//! | [`Store::seal_passed`], [`Store::seal_all`], [`Store::set_sealing`], [`Store::sealed_chunks`] | seal (compress) chunks; `sync` seals those the writer has moved past unless sealing is off |
//! | [`Store::sync`] | make everything written durable and visible to readers |
//! | [`Store::close`] | sync, then release the lock (dropping a `Store` syncs too, ignoring errors) |
//!
//! **Open chunks.** Both the writer and readers keep at most
//! `max_open_chunks` chunks open (three files each); when one more is
//! needed, the least recently used is closed first. The writer flushes a
//! chunk (as [`Store::sync`] does for that chunk) before closing it.
//!
//! **Deleting.** [`Store::delete_before`]`(slot)` deletes whole chunks
//! only: every chunk whose base is below `floor(slot / S) * S`. The slot is
//! rounded *down* to a chunk boundary, so no point at or after `slot` is
//! ever deleted and up to `S - 1` points before it are kept. With `S = 10`:
//! `delete_before(25)` removes slots 0 to 19 and keeps 20 to 24;
//! `delete_before(30)` removes 0 to 29. Metrics stay in the metric list
//! (with their types) after all their chunks are gone.
//!
//! **Fold.** [`Store::fold`] visits chunks in ascending time and, within a
//! chunk, metrics in row order, calling the closure once for each maximal
//! run of consecutive set points with the run's first slot and its values
//! ([`Run`]), typed like the metric. Each metric's runs therefore come in
//! time order. A run that crosses a chunk boundary is reported as two runs.
//!
//! **Visibility.** The writer's own `get` sees every `put` at once. A
//! [`Reader`] sees a point once the writer has synced it (or has closed its
//! chunk to stay within `max_open_chunks`); see "Crashes" below for why. A
//! point overwritten after it was synced shows its earlier value to readers
//! until the next sync.
//!
//! # Files
//!
//! All integers are little-endian. `S` is the chunk size; `W = ceil(S / 64)`
//! is the number of 64-bit words in one row of presence bits.
//!
//! ```text
//! <store>/mstore.meta                       store header
//! <store>/metrics.list                      store-wide metric list
//! <store>/lock                              writer lock (flock), empty
//! <store>/<base>.idx                        chunk index
//! <store>/<base>.dat                        chunk data
//! <store>/<base>.bit                        chunk presence bits
//! <store>/<base>.sea                        sealed (compressed) chunk
//! ```
//!
//! A store whose header has the first version's magic (`MSTORE01`, made
//! before this layout) keeps its chunk files in a subdirectory,
//! `<store>/chunks/<base>.idx` and so on, and goes on using it: new
//! chunks, sealed files and deletions happen there. Stores made now have
//! the one directory, which on most file systems saves a 4 KiB block
//! (what a directory takes), a good part of a small store's size.
//!
//! A chunk is **open** (`.idx`, `.dat`, `.bit`: the fixed layout that
//! writes use) or **sealed** (one `.sea` file). [`Store::sync`] seals
//! every open chunk older than the newest one (see "Sealed chunks"
//! below); [`Store::seal_all`] seals the newest too; a `put` into a
//! sealed chunk unseals it first.
//!
//! `<base>` is the chunk's first slot, `floor(t / S) * S` for any slot `t`
//! in it, written as 20 decimal digits with leading zeros (so names sort in
//! time order). Files ending in `.tmp` are rewrites in progress; readers
//! ignore them and the writer removes them when it opens the store.
//!
//! Every file of the store is opened with `O_NOFOLLOW | O_NONBLOCK` and
//! must be a regular file: a FIFO, device, directory or symbolic link in
//! place of one is refused at once with [`Error::NotAFile`] naming it
//! (a FIFO cannot make a reader wait for a writer that never comes).
//!
//! Chunks come in two layouts, told apart by the index's magic. Chunks
//! made by this version are **layout 2**: their presence bits and the
//! checksums of their values are kept together in block records. Chunks
//! of **layout 1** (made by the version before checksums) are read, and
//! written to, as they are; only new chunks get the new layout.
//!
//! ## `mstore.meta` (36 bytes)
//!
//! | bytes | content |
//! | --- | --- |
//! | 0..8 | magic `MSTORE02` (ASCII): chunk files in the store's directory; `MSTORE01`: in `chunks/` (stores made before). Any other `MSTORE` + two bytes is an unknown version, [`Error::Corrupt`] at offset 6 |
//! | 8..16 | chunk size `S`, `u64`, 1 to [`MAX_CHUNK_SIZE`] |
//! | 16..24 | resolution, `u64` (creator's units per slot, not 0) |
//! | 24..32 | start time, `u64` (creator's units, time of slot 0) |
//! | 32..36 | CRC-32 (IEEE, as in zlib) of bytes 0..32, `u32` |
//!
//! Written once, at creation, through a temporary file and a rename, after
//! every other file of the new store: a directory with this file is a whole
//! store.
//!
//! ## Name records
//!
//! The metric list and every chunk index are a header followed by **name
//! records**, appended one at a time with a single write each:
//!
//! | bytes | content |
//! | --- | --- |
//! | 0 | tag, `0x52` (ASCII `R`) |
//! | 1 | value type: `1` = `u64`, `2` = `i64`, `3` = `f64` |
//! | 2..4 | name length `n`, `u16`, 1 to [`MAX_NAME_LEN`] (4096) |
//! | 4..4+n | name, UTF-8 |
//! | 4+n..8+n | CRC-32 of bytes 0..4+n, `u32` |
//!
//! A record is valid when its tag, type and length are in range, all its
//! bytes are present, its checksum matches and its name is UTF-8. Names
//! longer than the limit are refused before anything is written, so the
//! length field cannot wrap.
//!
//! ## `metrics.list`
//!
//! Bytes 0..8 are the magic `MSTLIST1`, then one name record per metric in
//! order of first write. A metric's record is appended (before any of its
//! points are written) when it is first written.
//!
//! ## `<base>.idx`
//!
//! | bytes | content |
//! | --- | --- |
//! | 0..8 | magic `MSTINDX2` (layout 2) or `MSTINDX1` (layout 1) |
//! | 8..16 | chunk size `S`, `u64` (must equal the store's) |
//! | 16..24 | base, `u64` (must equal the file name's) |
//! | 24..28 | layout 2: points per block `B`, `u32`, 384 |
//! | 28..32 | layout 2: CRC-32 of bytes 0..28 (layout 1: bytes 24..28, CRC-32 of bytes 0..24) |
//! | 32.. | name records (layout 1: from byte 28) |
//!
//! The `r`-th record (counting from 0) gives its metric **row** `r` in this
//! chunk: rows are handed out in order of first write to the chunk. The type
//! byte repeats the metric's type, so a chunk can be read without the
//! metric list.
//!
//! ## `<base>.dat`
//!
//! Row `r` occupies bytes `r * S * 8` to `(r + 1) * S * 8`; the value of
//! slot `t` of the metric with row `r` is the 8 bytes at
//! `r * S * 8 + (t - base) * 8`: the `u64`, the `i64` in two's complement, or
//! the bits of the `f64` (`f64::to_bits`). The file is sparse: parts never
//! written are holes and read as zeros, which is why presence is kept
//! apart.
//!
//! ## `<base>.bit`, layout 2
//!
//! Each row is cut into **blocks** of `B = 384` points (the last block of a
//! row is shorter when `S` is not a multiple of 384); `K = ceil(S / B)`
//! blocks per row. Block `k` of row `r` has a 64-byte **block record** at
//! byte `(r * K + k) * 64`, so eight records fill an aligned 512-byte
//! sector and none straddles two:
//!
//! | bytes | content |
//! | --- | --- |
//! | 0..48 | presence: 6 words of 64 bits; point `i` of the block (slot `base + k * B + i`) is set exactly when bit `i % 64` of word `i / 64` is 1 |
//! | 48..52 | data checksum, `u32` |
//! | 52..56 | flags, `u32`: bit 0 = *unchecked* (see "Crashes"); other bits 0 |
//! | 56..60 | 0 |
//! | 60..64 | record checksum, `u32`: CRC-32 of the position (below), then bytes 0..60 |
//!
//! The **data checksum** is the CRC-32 of the position, then the block's
//! values in the `.dat` file with every unset point counted as 8 zero
//! bytes: writing into unset points leaves it valid. The **position** is 20
//! bytes: the base (`u64`), the row (`u32`), the block (`u32`) and the
//! CRC-32 of the metric's name (`u32`), so that a record or values copied
//! to another place, or a row that another metric once held, fail their
//! checksums. A record of 64 zero bytes (or bytes past the end of the
//! file) is an empty block; an empty block is always written that way.
//! The records cost 1/48 of the data file.
//!
//! Presence and data stay apart, and the data file keeps its layout, so a
//! point's place is still a calculation and a range read is still one
//! sequential read of data per chunk, plus one of records. A read checks
//! the blocks it touches: it reads them whole (at most one partial block
//! more at each end of the range), and a block that fails is an error
//! naming the file and the block's slots, never a value.
//!
//! ## `<base>.sea`: sealed chunks
//!
//! | bytes | content |
//! | --- | --- |
//! | 0..8 | magic `MSTSEAL2` |
//! | 8..16 | chunk size `S`, `u64` |
//! | 16..24 | base, `u64` |
//! | 24..28 | number of metrics `m`, `u32` |
//! | 28..32 | directory length `D`, `u32` |
//! | 32..36 | block size `B` (points), `u32` |
//! | 36..40 | CRC-32 of bytes 0..36 |
//! | 40..40+D | `m` entries: a name record, then the payload's offset (`u64`), length (`u32`), number of set points (`u32`) and CRC-32 (`u32`) of the base, the CRC-32 of the name and the payload's block table |
//! | 40+D..44+D | CRC-32 of the directory |
//! | 44+D.. | payloads |
//!
//! A payload is a block table (per block of `B` points: its length, `u32`,
//! and the CRC-32 of the base, the name's CRC-32, the block's number and
//! its bytes) and the blocks. A block is one byte (kind in the high
//! nibble, order of differencing `k` in the low one), the presence as a
//! varint `2R` and `R` pairs of varints (unset points before a run, its
//! length), then the set points' values: kind 0, integers differenced `k`
//! times, zig-zagged, as varint counts of zeros each followed by a nonzero
//! varint; kind 1, whole `f64` values as kind 0 of their `i64`; kind 2,
//! Gorilla XOR of `f64` bits; kind 3, raw 8 bytes each; kind 4, `pco`
//! (standalone format) of the values typed as the metric; kind 5, `f64`
//! values as `k / 10^e`: `e` (a byte, at most 18), a varint length and
//! that many bytes of `pco` of the `i64` `k`s, then `pco` of the `i64`
//! differences of each value's bits from those of `k / 10^e`; kind 6, a
//! dictionary (at most one distinct value per two points): a varint `D`,
//! the `D` distinct values ascending as `u64` bits in kind 0 with `k` = 1,
//! then each point's index into them, as kind 0 differenced `k` times
//! (low nibble 0 to 2) or as `pco` of `u64` (low nibble 3). The writer tries
//! every kind that fits, per block, and
//! keeps the shortest. Kinds 4 and 5, and kind 6 with low nibble 3, need the crate's feature `pco`: a build
//! without it never writes them, and reading a block of either gives
//! [`Error::NeedsFeature`] for that block's points (other blocks, chunks
//! and metrics read normally; a `put` that would unseal the chunk fails
//! the same way and changes nothing). The user guide's "Keeping history"
//! chapter has the same layout in full, and the sizes measured.
//!
//! **Sealing** (at `sync`): flush the chunk; read every row back through
//! its checksums (a chunk that fails them is left open, reporting its
//! damage); encode; write `<base>.sea.tmp`, `fsync`, rename, `fsync` the
//! directory; open the sealed file and check that every row decodes to
//! the points sealed; remove the `.idx`, `fsync` the directory, remove
//! the `.dat` and `.bit`, `fsync` it again. **Unsealing** (a `put` into a
//! sealed chunk): make a new open chunk from the sealed points, flush it,
//! then remove the `.sea` and `fsync` the directory. At every instant one
//! complete form is on disk; when both are (a crash in between), the
//! sealed file counts and the writer removes the open chunk's files when
//! it opens the store. A reader that finds neither form looks once more
//! for each (the writer creates the new form before it removes the old),
//! and a reader holding the old form's files open keeps reading them.
//! Readers keep up to 64 MiB of decoded rows.
//!
//! ## `<base>.bit`, layout 1
//!
//! Row `r` occupies bytes `r * W * 8` to `(r + 1) * W * 8`: `W` words of 64
//! bits. Slot `t` is set exactly when bit `(t - base) % 64` (least
//! significant first) of word `(t - base) / 64` of its row is 1. Bytes past
//! the end of the file read as unset. There are no checksums.
//!
//! # Promises and how they are kept
//!
//! ## One writer, many readers
//!
//! The writer takes an exclusive, non-blocking `flock` on `lock` and holds
//! it until it is dropped; a second writer, in any process, gets
//! [`Error::Locked`] naming the lock file. A [`Reader`] takes no lock and
//! opens every file read-only, without `O_CREAT`: it never waits for the
//! writer and never creates, changes or removes a file, also when it asks
//! for a range where no chunk exists (that range simply reads as unset).
//! The lock belongs to the open lock file: a process that forks while it
//! holds a `Store` shares the lock with the child until the child execs
//! (the file is opened close-on-exec) or exits.
//! Because the writer removes a chunk's index first when deleting and
//! creates it last when creating, a reader that finds the index it opened
//! still at its path after opening the other two files knows the three
//! belong together; otherwise it tries again.
//!
//! ## Crashes
//!
//! After the writer process is killed at any instant, the store opens, every
//! point written before the last completed [`Store::sync`] reads back
//! exactly, and later points read back exactly or as unset, never as a wrong
//! value (a point written more than once reads back as one of the values
//! written to it, the last one if it was synced). The order of writes is
//! what makes this so:
//!
//! 1. a new metric's record is appended to `metrics.list`;
//! 2. a metric new to a chunk gets a row: its bits in `.bit` are cleared
//!    (in case an earlier, dropped record had used the row), then its record
//!    is appended to the `.idx`;
//! 3. layout 2, before values overwrite points that are set on disk: the
//!    blocks holding them are checked against their checksum, then their
//!    records are rewritten with the *unchecked* flag and the `.bit` file
//!    is `fdatasync`ed; until the next sync those blocks' values are not
//!    checked, so after a crash they read as the old or the new values,
//!    never as an error (writing into unset points needs none of this);
//! 4. the values are written to `.dat` (consecutive values of a row are
//!    gathered in memory first, up to 64 KiB per row and 4 MiB per chunk,
//!    to save system calls); the presence bits are only set in the
//!    writer's memory;
//! 5. at `sync` (or when the chunk is closed): write out the gathered
//!    values, `fdatasync` the list and the `.dat`, `fsync` the `chunks`
//!    directory if a file of the chunk was created since the last sync,
//!    `fdatasync` the `.idx` if it grew; *then* write the rows' presence to `.bit` (layout
//!    2: each changed block's record, with the checksum of the values now
//!    durable, after checking that the values the old record vouched for
//!    still match it) and `fdatasync` it.
//!
//! A bit is set on disk only after the value it vouches for is durable, so
//! neither a killed process nor a power cut can leave a set bit over a value
//! that is not there. Points whose bits were still in memory read as
//! unset. The price is that readers see points at the writer's syncs.
//!
//! The store's directory (and any directory made for it) is made durable
//! in its parent when it is created, and a new chunk's files in the
//! `chunks` directory before any presence is written for them. A deletion
//! removes the chunks' indexes, syncs the `chunks` directory, then removes
//! their data and presence files and syncs it again; the writer's cleanup
//! of leftovers syncs it too; and a chunk made again gets new data and
//! presence files, never emptied old ones. So no power cut can keep an
//! index without its data file, nor bring an old data or presence file
//! back beside a new index.
//!
//! **Simulated power cuts.** The store reaches files only through a narrow
//! internal interface (open, read and write at an offset, truncate, sync,
//! rename, remove, list and sync a directory). The tests put an in-memory
//! file system behind it that keeps what was synced apart from what was
//! only written, and cut the power at a random call: every file keeps its
//! synced content, and each 512-byte sector of it the state after a random
//! prefix of its later writes (its length likewise); every directory keeps
//! its synced entries and a random subset of its later changes. On what
//! survives, over random workloads of puts, syncs, deletes and reopens,
//! over 3000 cuts per run: the store opens for reading and writing,
//! every synced point reads back exactly, every other point as one of the
//! values written to it or unset, every synced metric is listed with its
//! type, and the writer goes on. Further tests cut the power at every call
//! of `create`, and after a chunk is deleted and made again. Leaving out
//! any one of the store's 14 sync calls makes one of these tests fail (the
//! user guide's Guarantees chapter lists which). The one assumption is
//! that a write of an aligned 512-byte sector is not torn within itself.
//!
//! A **torn append** (the process died inside the write of a record) leaves
//! an incomplete or unchecksummable record at the end of the list or an
//! index. It is detected by its checksum or length, and dropped: readers
//! ignore it, the writer cuts it off when it opens the file. A record is
//! only ever dropped from the end, so no other metric's row moves. If a
//! write of a record fails (for example on a full disk), the writer cuts
//! the file back at once, so no broken record can sit in front of later
//! ones.
//!
//! **Rewrites** go through a new file: write `name.tmp`, `fsync` it, rename
//! it over `name`, `fsync` the directory. The old file stays in place until
//! the rename replaces it atomically. The store header is written this way
//! at creation, each chunk index is created this way (with its header), and
//! the metric list is rebuilt this way when the writer opens a store whose
//! list lost records: it keeps the valid records and adds every name found
//! in a chunk index but missing from the list, so a name and its type stay
//! reserved as long as any chunk holds its data.
//!
//! ## Damage
//!
//! A file whose content the store did not write gives [`Error::Corrupt`]
//! (or [`Error::ChunkSizeMismatch`]) naming the file and the byte offset:
//! a bad magic or header checksum; a bad record followed by a valid one
//! (damage in the middle of a file, as opposed to a torn end); presence
//! bits set for points past the end of a truncated `.dat`. In layout 2, a
//! flipped bit or any other change to a block's values or to its record
//! gives [`Error::Damaged`] naming the `.dat` (values) or `.bit` (record)
//! file and the block's first and last slot. Damage stays local: a
//! damaged block fails the reads that touch it, and every other block,
//! chunk and metric reads normally. The writer reports damage too and
//! never makes it valid: a sync that would give a damaged block a new
//! checksum leaves its record as it is and returns the error, and a put
//! that would overwrite points of a damaged block fails with it.
//!
//! A reader checks a block's values once under each record it sees: an
//! open chunk remembers a fingerprint of the record (a change to any one
//! of its 8-byte words always changes it) and does not check the values
//! again while the record stays the same, for at most a minute. A writer
//! changes a block's record before its values, so changed values are
//! checked again; values damaged on disk under an unchanged record are
//! found by the next reader of the chunk, or by the same one within that
//! minute.
//!
//! A damaged metric list makes [`Reader::metrics`] fail naming it;
//! [`Reader::salvage_metrics`] lists the list's valid records and then
//! the names only the chunk indexes hold (which repeat every name and
//! type), with the damage found; [`Reader::value_type`] and
//! [`Reader::get`] take types from the chunk indexes. A list whose last
//! record is broken (a torn append, or damage there) is read the same way,
//! without an error. The writer repairs the list when it next opens the
//! store.
//!
//! Not covered: chunks of layout 1 (no checksums); a block record zeroed
//! whole, which reads as an empty block; and a block left *unchecked* by a
//! crash during an overwrite, which stays unchecked until it is written
//! again.
//!
//! ## Bad input
//!
//! Rejected with a typed error before anything is written:
//!
//! | input | error |
//! | --- | --- |
//! | empty name | [`Error::EmptyName`] |
//! | name over [`MAX_NAME_LEN`] bytes | [`Error::NameTooLong`] |
//! | value of another type than the metric's | [`Error::WrongType`] (reads too) |
//! | a FIFO, device, directory or link in place of a store file | [`Error::NotAFile`] |
//! | `start + len` past `u64` or past the last slot the store can hold, `floor(u64::MAX / S) * S` (exclusive) | [`Error::SlotOverflow`] |
//! | read range with `to < from` | [`Error::ReversedRange`] |
//! | read of more than [`MAX_READ_POINTS`] points | [`Error::RangeTooLarge`] |
//! | time before the start time in [`Store::slot_at`] | [`Error::BeforeStart`] |
//! | reading a metric never written | [`Error::UnknownMetric`] |
//! | store opened expecting another chunk size | [`Error::ChunkSizeMismatch`] with both values |
//! | `create` where a store exists | [`Error::AlreadyExists`] |
//! | chunk size 0 or over [`MAX_CHUNK_SIZE`], resolution 0, `max_open_chunks` 0 | [`Error::InvalidOptions`] |
//!
//! Slots are unsigned, so no slot is before zero. Failing system calls
//! (read-only directory, full disk, missing files) give [`Error::Io`] with
//! the path and the operation.
//!
//! ## What the original design got wrong, and what this store does
//!
//! | original | here |
//! | --- | --- |
//! | no fsync anywhere | `sync` fsyncs data, index, bits and directories in an order that keeps set bits truthful, tested by simulated power cuts |
//! | no checksums on data | values and presence checked per block of 384 points |
//! | a torn index append made the next open (even a read) wipe the chunk's names; a new metric then took row 0 and overwrote old data | only the torn record is dropped; readers never write; a reused row's bits are cleared first |
//! | a torn metric-list append crashed the next put | the torn record is dropped and the list rebuilt by rename |
//! | reading a missing chunk created empty files | readers and reads never create files |
//! | presence was rebuilt wrongly for a metric without points | presence is stored, never rebuilt; a metric without a row reads unset |
//! | rebuilding the metric list deleted the old file first | rebuilds rename a complete new file over the old one |
//! | names over 65535 bytes wrapped their length | names are limited to 4096 bytes, checked before writing |
//! | integers squeezed into 56 bits, doubles lost a bit | all 64 bits stored |
//!
//! # Resource use
//!
//! The writer keeps, per open chunk, the name-to-row map, for each row
//! written since the last sync its presence bits (`S / 8` bytes) and which
//! blocks changed, and up to 4 MiB of gathered values. A sync reads back
//! the values of every changed block (from the page cache) to checksum
//! them. Each open chunk holds three file
//! descriptors. I/O uses `pread`/`pwrite` (Rust's `FileExt`), not `mmap`;
//! see the figures below for why. An I/O error while writing out gathered
//! values is reported by the `put`, `sync` or `close` that triggers it.
//!
//! # Performance
//!
//! Measured with the benchmarks in `mmstats/benches/mstore.rs`: 100 metrics
//! of 100,000 `u64` points (80 MB), chunk size 10,000, page cache warm, on a
//! shared 2-core virtual machine. Each mstore figure stands beside a plain
//! `std::fs` (or `mmap`) baseline moving the same bytes in the same run;
//! the ratio is mstore's throughput over the baseline's (1.0 = as fast).
//! Medians:
//!
//! | operation | mstore | baseline | ratio |
//! | --- | --- | --- | --- |
//! | put, batches of 1000 points, time-major (10,000 calls) | 37.7 ms, 265 M points/s | one 80 MB `write`: 18.3 ms | 0.49 |
//! | | | 10,000 `write`s of 8 KB: 35.3 ms | 0.94 |
//! | put, one call per metric (100 calls) | 30.8 ms, 325 M points/s | one 80 MB `write`: 18.3 ms | 0.59 |
//! | | | 80 MB through `mmap`: 33.5 ms | 1.09 |
//! | put per metric, then `sync` | 80.0 ms, 125 M points/s | `write` + `fsync`: 56.3 ms | 0.70 |
//! | get, batches of 1000 (10,000 calls) | 23.1 ms, 434 M points/s | one 80 MB `read`: 12.2 ms | 0.53 |
//! | get, one call per metric | 13.8 ms, 726 M points/s | one 80 MB `read`: 12.2 ms | 0.88 |
//! | one metric's full range (100,000 points, 10 chunks) | 59 µs | one 800 KB `pread`: 35 µs; copy from `mmap`: 32 µs | 0.59 |
//! | a 1000-point window of each of 100 metrics (each crossing a chunk boundary) | 218 µs | 100 `pread`s of 8 KB: 44 µs | 0.20 |
//!
//! These figures were measured before checksums were added. What the
//! checksums cost, measured in one session that alternated the build
//! before them and this one (three runs each, medians; the machine was
//! shared, so compare within a row, not with the table above):
//!
//! | operation | before | with checksums | ratio |
//! | --- | --- | --- | --- |
//! | put, batches of 1000 points | 52.9 ms | 52.6 ms | 1.00 |
//! | put, one call per metric | 47.2 ms | 43.2 ms | 0.91 |
//! | put per metric, then `sync` | 96.0 ms | 101.5 ms | 1.06 |
//! | get, batches of 1000 | 25.6 ms | 32.3 ms | 1.26 |
//! | get, one call per metric | 9.6 ms | 13.7 ms | 1.43 |
//! | one metric's full range (100,000 points) | 47 µs | 86 µs | 1.85 |
//! | a 1000-point window of each of 100 metrics | 398 µs | 439 µs | 1.10 |
//!
//! Writing costs nothing measurable: checksums are computed at `sync`,
//! over values the kernel still has in memory (the plain `write` +
//! `fsync` baseline moved by 0 % between the two builds, `sync` by 6 %).
//! Reading pays: a read checks every block it returns, and CRC-32 over
//! cached values (about 47 GB/s here, with AVX-512) costs about as much
//! as copying them out of the page cache (an 800 KB `pread` takes 19 µs);
//! a read that does not start or end on a block boundary also reads the
//! rest of those blocks. So checksums cost at most 6 % on writes and 10 %
//! to 85 % on reads of cached data, the most on long ranges; reads from
//! disk are dominated by the disk. A full range still reads at 1.2 G
//! points/s. The bench groups `checksums_read` and `checksums_write`
//! measure each operation with the checks on and off in one run; the
//! user guide's "Keeping history" chapter has the figures of a reader's
//! first read (1.16 to 1.32 times the time without checks, in CPU time)
//! and why the checksum stayed CRC-32.
//!
//! Against the figures the design was measured at elsewhere (a C program
//! writing the original layout: 194 M points/s, 0.14 ms for a full range,
//! 0.67 ms for the 100 windows), mstore writes and reads faster while also
//! keeping presence, types and checksummed indexes. Small reads pay a fixed
//! cost per chunk touched (a `fstat` to notice deletion, a read of the
//! presence bits, a read of the values), which is why the 100 windows are
//! furthest from their baseline.
//!
//! Why `pread`/`pwrite` and not `mmap`: writing through a fresh mapping was
//! slower than `write` here (33.5 ms against 18.3 ms for 80 MB, from page
//! faults), reading a mapped range saves little over `pread` (32 µs against
//! 35 µs), and a reader mapping a file that the writer truncates or deletes
//! could be killed by `SIGBUS`.
//!
//! Reproduce (on a quiet machine; numbers move with load):
//!
//! ```text
//! cargo bench -p mmstats --bench mstore -- --warm-up-time 1 --measurement-time 3
//! ```

#![deny(missing_docs)]

mod bits;
mod chunk;
mod codec;
mod core;
mod error;
mod format;
mod reader;
mod sealed;
mod store;
mod types;
mod vfs;

#[cfg(test)]
mod powercut;
#[cfg(test)]
mod sim;

pub use error::{Error, Result};
pub use reader::Reader;
pub use store::{Deleted, Store};
pub use types::{
    make_splits, MetricInfo, OpenOptions, Options, Point, Points, Run, Split, StoreInfo, Value,
    ValueType,
};

/// Bench support: which value encodings sealing tries: 0 = all (the
/// default, the shortest kept), 1 = only the store's own, 2 = only `pco`
/// (kinds 4 and 5; nothing but raw in a build without feature `pco`).
#[doc(hidden)]
pub fn __set_seal_encodings(which: u8) {
    codec::set_encodings(which);
}

/// Bench support: the block size sealing writes, in points (the default
/// 4096); 0 writes the first sealed layout (one payload per row).
#[doc(hidden)]
pub fn __set_seal_block(points: u64) {
    sealed::set_write_block(points);
}

/// Bench support: `false` switches off the block checksums of open
/// chunks (a reader checks nothing, a writer computes none), so that a
/// benchmark can measure their cost in one run; `true` (the default)
/// switches them on again.
#[doc(hidden)]
pub fn __set_checks(on: bool) {
    format::set_checks(on);
}

/// Longest metric name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 4096;

/// Largest chunk size (points per metric per chunk).
pub const MAX_CHUNK_SIZE: u64 = 1 << 24;

/// Most points one `get` returns.
pub const MAX_READ_POINTS: u64 = 1 << 26;
