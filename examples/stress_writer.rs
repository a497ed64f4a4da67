//! Writes as fast as it can, with values a reader can check: the two halves
//! of every number are equal, and the text is one character repeated. A
//! reader that ever sees unequal halves, or a mixed text, has seen a torn
//! value. The reliability tests run it against a reader in another process;
//! you can watch it with `mmstats poll`.
//!
//! ```text
//! stress_writer PATH [--packed | --packed-short | --short | --text] [--seconds N]
//! ```
//!
//! By default it writes an ordinary stats file at PATH. With `--packed` it
//! writes instead a file laid out the way the original Python writer packs
//! fields, with no alignment, and puts its 8-byte value across a 64-byte
//! cache line, which a reader can see half written: the tests use it to show
//! that they would catch tearing.
//!
//! `--packed-short` writes instead a hand-made file with one unbuffered
//! `H` field, aligned, alternating `0x00FF` and `0xFF00` with one 2-byte
//! store each: what the original reader tears (see `--short`).
//!
//! With `--short` it writes only two 16-bit gauges, alternating
//! `0x00FF` and `0xFF00` in both: a reader that copies the two bytes at two
//! moments can see `0x0000` or `0xFFFF`, which was never written (the test
//! of the original Python reader uses it). With `--text` it writes only a
//! text, one letter 64 times, changing the letter on every store.
//!
//! It prints `ready` once the file exists, and stops after `--seconds`
//! (default 60) or when killed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mmstats::{Counter, Gauge, MmStats, Summary, Text};

/// Two 16-bit gauges and nothing else, for `--short`.
#[derive(MmStats)]
#[mmstats(defaults = false)]
struct Shorts {
    /// `0x00FF` and `0xFF00` in turn.
    ushort: Gauge<u16>,
    /// The same bits as an `i16`: 255 and -256 in turn.
    short: Gauge<i16>,
}

/// One text and nothing else, for `--text`.
#[derive(MmStats)]
#[mmstats(defaults = false)]
struct OneText {
    /// One letter, 64 times.
    text: Text<64>,
}

/// Fields of every width, each with a value whose halves are related.
#[derive(MmStats)]
#[mmstats(defaults = false)]
struct Torture {
    /// Goes up by one per round: must never go backwards.
    counter: Counter,
    /// High 32 bits equal to the low 32 bits.
    wide: Gauge<u64>,
    /// Bit pattern with equal halves.
    float: Gauge<f64>,
    /// High 16 bits equal to the low 16 bits.
    int: Gauge<i32>,
    /// High byte equal to the low byte.
    short: Gauge<u16>,
    /// One letter, 64 times.
    text: Text<64>,
    /// Fed 1.0 each round: read whole, its count equals its sum.
    group: Summary,
}

/// The values of round `i`.
fn halves(i: u64) -> (u64, u32, u16) {
    let w = i & 0xffff_ffff;
    let h = i & 0xffff;
    let b = i & 0xff;
    ((w << 32) | w, ((h << 16) | h) as u32, ((b << 8) | b) as u16)
}

fn aligned(path: &Path, until: Instant) -> Result<(), mmstats::Error> {
    let (dir, name) = dir_and_name(path);
    let stats = Torture::builder().dir(dir).file(name).create()?;
    let letters: Vec<String> = (b'a'..=b'z')
        .map(|c| (c as char).to_string().repeat(64))
        .collect();
    // A text is empty until first set: set before readers look.
    stats.text.set(&letters[0]);
    println!("ready");
    let mut i: u64 = 0;
    while Instant::now() < until {
        for _ in 0..1000 {
            i += 1;
            let (wide, int, short) = halves(i);
            stats.counter.incr();
            stats.wide.set(wide);
            stats.float.set(f64::from_bits(wide));
            stats.int.set(int as i32);
            stats.short.set(short);
            stats.text.set(&letters[(i % 26) as usize]);
            stats.group.add(1.0);
        }
    }
    Ok(())
}

/// Where the file at `path` goes: its directory and its name.
fn dir_and_name(path: &Path) -> (&Path, &str) {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("stress.mmstats");
    (dir, name)
}

fn shorts(path: &Path, until: Instant) -> Result<(), mmstats::Error> {
    let (dir, name) = dir_and_name(path);
    let stats = Shorts::builder().dir(dir).file(name).create()?;
    stats.ushort.set(0x00FF);
    stats.short.set(0x00FF);
    println!("ready");
    let mut i: u32 = 0;
    while Instant::now() < until {
        for _ in 0..1000 {
            i = i.wrapping_add(1);
            let bits: u16 = if i.is_multiple_of(2) { 0x00FF } else { 0xFF00 };
            stats.ushort.set(bits);
            stats.short.set(bits as i16);
        }
    }
    Ok(())
}

fn one_text(path: &Path, until: Instant) -> Result<(), mmstats::Error> {
    let (dir, name) = dir_and_name(path);
    let stats = OneText::builder().dir(dir).file(name).create()?;
    let letters: Vec<String> = (b'a'..=b'z')
        .map(|c| (c as char).to_string().repeat(64))
        .collect();
    stats.text.set(&letters[0]);
    println!("ready");
    let mut i: usize = 0;
    while Instant::now() < until {
        for _ in 0..1000 {
            i = (i + 1) % letters.len();
            stats.text.set(&letters[i]);
        }
    }
    Ok(())
}

/// An original-style packed file: one unbuffered `Q` field whose value
/// starts at byte 60, so that it spans the cache lines at 0..64 and 64..128.
fn packed(path: &Path, until: Instant) -> std::io::Result<()> {
    let label = b"wide_packed_across_a_cache_line_boundary_0123456789ab";
    let header = 1 + 2 + label.len() + 2 + 1 + 1;
    assert_eq!(header, 60, "the value must start at byte 60");
    let mut bytes = vec![0u8; 4096];
    bytes[0] = 1;
    bytes[1..3].copy_from_slice(&(label.len() as u16).to_ne_bytes());
    bytes[3..3 + label.len()].copy_from_slice(label);
    let at = 3 + label.len();
    bytes[at..at + 2].copy_from_slice(&1u16.to_ne_bytes());
    bytes[at + 2] = b'Q';
    bytes[at + 3] = 0xff;
    std::fs::write(path, &bytes)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    // SAFETY: this process made the file just now and never resizes it; the
    // mapping lives until the end of this function.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&file)? };
    println!("ready");
    // `[u8; 8]` has no alignment requirement, so a volatile store of it at
    // an odd address is allowed; the compiler emits one 8-byte store or
    // several smaller ones, and either can be seen half done.
    let value = map[60..68].as_mut_ptr().cast::<[u8; 8]>();
    let mut i: u64 = 0;
    while Instant::now() < until {
        for _ in 0..1000 {
            i += 1;
            // SAFETY: bytes 60..68 are inside the 4096-byte mapping, which
            // outlives this loop; `[u8; 8]` needs no alignment; no other
            // thread of this process touches the mapping.
            unsafe { std::ptr::write_volatile(value, halves(i).0.to_ne_bytes()) };
        }
    }
    Ok(())
}

/// A hand-made file with one unbuffered, aligned `H` field (see the module
/// docs, `--packed-short`).
fn packed_short(path: &Path, until: Instant) -> std::io::Result<()> {
    let label = b"ushort_unbuffered";
    // 1 + 2 + 17 + 2 + 1 + 1 = 24: the value starts at an even offset.
    let at = 1 + 2 + label.len();
    let value_at = at + 2 + 1 + 1;
    assert_eq!(value_at % 2, 0, "the value must be aligned");
    let mut bytes = vec![0u8; 4096];
    bytes[0] = 1;
    bytes[1..3].copy_from_slice(&(label.len() as u16).to_ne_bytes());
    bytes[3..at].copy_from_slice(label);
    bytes[at..at + 2].copy_from_slice(&1u16.to_ne_bytes());
    bytes[at + 2] = b'H';
    bytes[at + 3] = 0xff;
    bytes[value_at..value_at + 2].copy_from_slice(&0x00FFu16.to_ne_bytes());
    std::fs::write(path, &bytes)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    // SAFETY: this process made the file just now and never resizes it; the
    // mapping lives until the end of this function.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&file)? };
    println!("ready");
    let value = map[value_at..value_at + 2].as_mut_ptr().cast::<u16>();
    let mut i: u32 = 0;
    while Instant::now() < until {
        for _ in 0..1000 {
            i = i.wrapping_add(1);
            let bits: u16 = if i.is_multiple_of(2) { 0x00FF } else { 0xFF00 };
            // SAFETY: the two bytes are inside the mapping, which outlives
            // this loop, and aligned for a u16 (asserted above); no other
            // thread of this process touches the mapping.
            unsafe { std::ptr::write_volatile(value, bits) };
        }
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut path: Option<PathBuf> = None;
    let mut packed_layout = false;
    let mut mode = "aligned";
    let mut seconds = 60;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--packed" => packed_layout = true,
            "--short" => mode = "short",
            "--packed-short" => mode = "packed-short",
            "--text" => mode = "text",
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(60),
            other => path = Some(PathBuf::from(other)),
        }
    }
    let Some(path) = path else {
        eprintln!(
            "usage: stress_writer PATH [--packed | --packed-short | --short | --text] [--seconds N]"
        );
        std::process::exit(2);
    };
    // A duration too long to add to the clock means "until killed".
    let until = Instant::now()
        .checked_add(Duration::from_secs(seconds))
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
    let result = match (packed_layout, mode) {
        (true, _) => packed(&path, until).map_err(|e| e.to_string()),
        (false, "packed-short") => packed_short(&path, until).map_err(|e| e.to_string()),
        (false, "short") => shorts(&path, until).map_err(|e| e.to_string()),
        (false, "text") => one_text(&path, until).map_err(|e| e.to_string()),
        _ => aligned(&path, until).map_err(|e| e.to_string()),
    };
    if let Err(e) = result {
        eprintln!("stress_writer: {e}");
        std::process::exit(1);
    }
}
