//! Encodings of one metric's points in a sealed chunk.
//!
//! A row is encoded as its presence (runs of unset and set points) and the
//! values of its set points, in one of several value encodings; the writer
//! tries those that fit the type and keeps the shortest. See the module
//! documentation ("Sealed chunks") for the byte layout.

use super::bits;
use super::ValueType;

/// Value encodings (the low nibble of the payload's first byte is the
/// order of differencing for the integer kinds).
pub(crate) const KIND_INT: u8 = 0;
/// `f64` values that are all whole numbers, encoded as `i64`.
pub(crate) const KIND_F64_INT: u8 = 1;
/// `f64` values, XOR of consecutive values (Gorilla).
pub(crate) const KIND_XOR: u8 = 2;
/// Raw little-endian 8-byte values.
pub(crate) const KIND_RAW: u8 = 3;
/// The values compressed by `pco` (standalone format), as `u64`, `i64` or
/// `f64` by the metric's type.
pub(crate) const KIND_PCO: u8 = 4;

/// `f64` values as whole multiples of a power of ten, `k / 10^e`, with
/// each value's bits as the difference from `k / 10^e`'s: both compressed
/// by `pco` as `i64`. A mean of nanosecond timings, a sum of seconds
/// measured in nanoseconds, are such values, all but their last bits.
pub(crate) const KIND_PCO_SCALED: u8 = 5;

/// A few distinct values, each point an index into their table: the
/// table (sorted, as `u64` bits, kind 0 with one difference), then the
/// indices as kind 0 differenced `k` times (`k` = 0, 1, 2 in the low
/// nibble) or, `k` = 3, by `pco`. Quantiles of a histogram (bucket
/// bounds), flags, small gauges: series that step among few values.
pub(crate) const KIND_DICT: u8 = 6;

/// The low nibble of kind 6 whose indices are compressed by `pco`.
const DICT_PCO: u8 = 3;

/// The powers of ten kind 5 takes (each exact in `f64`): 10^0 to 10^18.
#[cfg(feature = "pco")]
const POW10: [f64; 19] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18,
];

/// The exponents the writer tries for kind 5: nanoseconds as seconds
/// (10^9), and 10^13, a multiple of 10^9 that also makes whole numbers
/// of a mean of up to a few hundred of them.
#[cfg(feature = "pco")]
const SCALES: [u8; 2] = [9, 13];

/// The bits of `k / scale`, the base a kind-5 value's bits differ from.
#[cfg(feature = "pco")]
fn unscale(k: i64, scale: f64) -> u64 {
    ((k as f64) / scale).to_bits()
}

/// Kind 5's body: `e` (one byte), the length of `k`'s compressed bytes
/// (varint), those bytes, then the differences' compressed bytes.
#[cfg(feature = "pco")]
fn pco_scaled_encode(set: &[u64], e: u8) -> Option<Vec<u8>> {
    let scale = *POW10.get(usize::from(e))?;
    if set.is_empty() {
        return None;
    }
    let k: Vec<i64> = set
        .iter()
        .map(|b| (f64::from_bits(*b) * scale).round() as i64)
        .collect();
    let r: Vec<i64> = set
        .iter()
        .zip(&k)
        .map(|(b, k)| b.wrapping_sub(unscale(*k, scale)) as i64)
        .collect();
    let config = pco::ChunkConfig::default().with_compression_level(PCO_LEVEL);
    let ks = pco::standalone::simple_compress(&k, &config).ok()?;
    let rs = pco::standalone::simple_compress(&r, &config).ok()?;
    let mut out = Vec::with_capacity(1 + 5 + ks.len() + rs.len());
    out.push(e);
    put_varint(&mut out, ks.len() as u64);
    out.extend_from_slice(&ks);
    out.extend_from_slice(&rs);
    Some(out)
}

#[cfg(feature = "pco")]
fn pco_scaled_decode(b: &[u8], out: &mut [u64]) -> Result<(), Undecodable> {
    let n = out.len();
    let bad = Undecodable::Invalid;
    let scale = *b
        .first()
        .and_then(|e| POW10.get(usize::from(*e)))
        .ok_or(bad)?;
    let mut pos = 1;
    let len = usize::try_from(get_varint(b, &mut pos).ok_or(bad)?).map_err(|_| bad)?;
    let end = pos.checked_add(len).filter(|e| *e <= b.len()).ok_or(bad)?;
    let (ks, rs) = (&b[pos..end], &b[end..]);
    let mut k = vec![0i64; n];
    let mut r = vec![0i64; n];
    for (bytes, dst) in [(ks, &mut k), (rs, &mut r)] {
        let p = pco::standalone::simple_decompress_into(bytes, dst).map_err(|_| bad)?;
        if p.n_processed != n || !p.finished {
            return Err(bad);
        }
    }
    for ((o, k), r) in out.iter_mut().zip(k).zip(r) {
        *o = unscale(k, scale).wrapping_add(r as u64);
    }
    Ok(())
}

/// Without feature `pco`, a row encoded with kind 5 cannot be read.
#[cfg(not(feature = "pco"))]
fn pco_scaled_decode(_b: &[u8], _out: &mut [u64]) -> Result<(), Undecodable> {
    Err(Undecodable::NeedsPco)
}

/// `pco`'s compression level for sealed chunks (0 to 12, its default 8):
/// measured in the mstore bench, 4 compresses these series about as well
/// at a fraction of the time.
#[cfg(feature = "pco")]
const PCO_LEVEL: usize = 4;

/// Whether this build reads and writes kind 4 (feature `pco`).
#[cfg(test)]
pub(crate) const HAS_PCO: bool = cfg!(feature = "pco");

#[cfg(feature = "pco")]
fn pco_encode(ty: ValueType, set: &[u64]) -> Option<Vec<u8>> {
    if set.is_empty() {
        return None;
    }
    let config = pco::ChunkConfig::default().with_compression_level(PCO_LEVEL);
    match ty {
        ValueType::U64 => pco::standalone::simple_compress(set, &config).ok(),
        ValueType::I64 => {
            let v: Vec<i64> = set.iter().map(|x| *x as i64).collect();
            pco::standalone::simple_compress(&v, &config).ok()
        }
        ValueType::F64 => {
            let v: Vec<f64> = set.iter().map(|x| f64::from_bits(*x)).collect();
            pco::standalone::simple_compress(&v, &config).ok()
        }
    }
}

/// Without feature `pco`, no row is encoded with it.
#[cfg(not(feature = "pco"))]
fn pco_encode(_ty: ValueType, _set: &[u64]) -> Option<Vec<u8>> {
    None
}

#[cfg(feature = "pco")]
fn pco_decode(ty: ValueType, b: &[u8], out: &mut [u64]) -> Result<(), Undecodable> {
    let n = out.len();
    let done = |p: pco::Progress| {
        (p.n_processed == n && p.finished)
            .then_some(())
            .ok_or(Undecodable::Invalid)
    };
    let bad = |_| Undecodable::Invalid;
    match ty {
        ValueType::U64 => done(pco::standalone::simple_decompress_into(b, out).map_err(bad)?),
        ValueType::I64 => {
            let mut v = vec![0i64; n];
            done(pco::standalone::simple_decompress_into(b, &mut v).map_err(bad)?)?;
            for (o, x) in out.iter_mut().zip(v) {
                *o = x as u64;
            }
            Ok(())
        }
        ValueType::F64 => {
            let mut v = vec![0f64; n];
            done(pco::standalone::simple_decompress_into(b, &mut v).map_err(bad)?)?;
            for (o, x) in out.iter_mut().zip(v) {
                *o = x.to_bits();
            }
            Ok(())
        }
    }
}

/// Without feature `pco`, a row encoded with it cannot be read.
#[cfg(not(feature = "pco"))]
fn pco_decode(_ty: ValueType, _b: &[u8], _out: &mut [u64]) -> Result<(), Undecodable> {
    Err(Undecodable::NeedsPco)
}

/// Why a row does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undecodable {
    /// The bytes are not a valid encoding of the row.
    Invalid,
    /// The row is encoded with `pco` (kind 4), and this build has no
    /// `pco` (feature `pco` off).
    #[cfg_attr(feature = "pco", allow(dead_code))]
    NeedsPco,
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let byte = *b.get(*pos)?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

fn zigzag(v: u64) -> u64 {
    let s = v as i64;
    ((s << 1) ^ (s >> 63)) as u64
}

fn unzigzag(z: u64) -> u64 {
    (z >> 1) ^ (z & 1).wrapping_neg()
}

/// Integers differenced `order` times (wrapping, the value before the first
/// taken as 0), zig-zagged, as runs of zeros each followed by one nonzero:
/// `varint(zeros)`, then `varint(value)` unless the points are complete.
fn encode_ints(values: &[u64], order: u8, out: &mut Vec<u8>) {
    let mut x = values.to_vec();
    for _ in 0..order {
        let mut prev = 0u64;
        for v in x.iter_mut() {
            let cur = *v;
            *v = cur.wrapping_sub(prev);
            prev = cur;
        }
    }
    let mut zeros = 0u64;
    for v in x {
        let z = zigzag(v);
        if z == 0 {
            zeros += 1;
        } else {
            put_varint(out, zeros);
            put_varint(out, z);
            zeros = 0;
        }
    }
    if zeros > 0 {
        put_varint(out, zeros);
    }
}

fn decode_ints(b: &[u8], pos: &mut usize, order: u8, out: &mut [u64]) -> Option<()> {
    let n = out.len();
    let mut i = 0;
    while i < n {
        let zeros = usize::try_from(get_varint(b, pos)?).ok()?;
        let end = i.checked_add(zeros).filter(|e| *e <= n)?;
        out[i..end].fill(0);
        i = end;
        if i < n {
            out[i] = unzigzag(get_varint(b, pos)?);
            if out[i] == 0 {
                return None;
            }
            i += 1;
        }
    }
    for _ in 0..order {
        let mut acc = 0u64;
        for v in out.iter_mut() {
            acc = acc.wrapping_add(*v);
            *v = acc;
        }
    }
    Some(())
}

struct BitWriter {
    out: Vec<u8>,
    acc: u128,
    n: u32,
}

fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

impl BitWriter {
    /// Appends the low `bits` (at most 64) of `v`, most significant first.
    fn put(&mut self, v: u64, bits: u32) {
        if bits == 0 {
            return;
        }
        self.acc = (self.acc << bits) | u128::from(v & mask(bits));
        self.n += bits;
        while self.n >= 8 {
            self.out.push((self.acc >> (self.n - 8)) as u8);
            self.n -= 8;
        }
        self.acc &= (1u128 << self.n) - 1;
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push((self.acc << (8 - self.n)) as u8);
        }
        self.out
    }
}

struct BitReader<'a> {
    b: &'a [u8],
    /// Bytes taken from `b`.
    byte: usize,
    acc: u128,
    n: u32,
}

impl BitReader<'_> {
    fn get(&mut self, bits: u32) -> Option<u64> {
        while self.n < bits {
            let x = *self.b.get(self.byte)?;
            self.byte += 1;
            self.acc = (self.acc << 8) | u128::from(x);
            self.n += 8;
        }
        self.n -= bits;
        let v = (self.acc >> self.n) as u64 & mask(bits);
        self.acc &= (1u128 << self.n) - 1;
        Some(v)
    }
}

/// Gorilla's XOR encoding: the first value in 64 bits, then per value `0`
/// (same as the last), `10` + the meaningful bits within the last window
/// of leading and trailing zeros, or `11` + 5 bits of leading zeros + 6
/// bits of length - 1 + the meaningful bits.
fn encode_xor(values: &[u64], out: &mut Vec<u8>) {
    let mut w = BitWriter {
        out: std::mem::take(out),
        acc: 0,
        n: 0,
    };
    let mut prev = 0u64;
    let (mut plz, mut ptz) = (u32::MAX, 0u32);
    for (i, &v) in values.iter().enumerate() {
        if i == 0 {
            w.put(v, 64);
            prev = v;
            continue;
        }
        let x = v ^ prev;
        prev = v;
        if x == 0 {
            w.put(0, 1);
            continue;
        }
        let lz = x.leading_zeros().min(31);
        let tz = x.trailing_zeros();
        if plz != u32::MAX && lz >= plz && tz >= ptz {
            w.put(0b10, 2);
            w.put(x >> ptz, 64 - plz - ptz);
        } else {
            let m = 64 - lz - tz;
            w.put(0b11, 2);
            w.put(u64::from(lz), 5);
            w.put(u64::from(m - 1), 6);
            w.put(x >> tz, m);
            plz = lz;
            ptz = tz;
        }
    }
    *out = w.finish();
}

fn decode_xor(b: &[u8], pos: &mut usize, out: &mut [u64]) -> Option<()> {
    let mut r = BitReader {
        b: b.get(*pos..)?,
        byte: 0,
        acc: 0,
        n: 0,
    };
    let mut prev = 0u64;
    let (mut plz, mut ptz) = (u32::MAX, 0u32);
    for (i, slot) in out.iter_mut().enumerate() {
        if i == 0 {
            prev = r.get(64)?;
        } else if r.get(1)? == 1 {
            if r.get(1)? == 0 {
                if plz == u32::MAX {
                    return None;
                }
                prev ^= r.get(64 - plz - ptz)? << ptz;
            } else {
                let lz = r.get(5)? as u32;
                let m = r.get(6)? as u32 + 1;
                let tz = 64u32.checked_sub(lz + m)?;
                prev ^= r.get(m)? << tz;
                plz = lz;
                ptz = tz;
            }
        }
        *slot = prev;
    }
    *pos += r.byte;
    Some(())
}

/// Which value encodings the writer tries: both (0, the default), only
/// the store's own (1) or only `pco` (2). For the mstore bench, which
/// measures them apart; set by [`set_encodings`].
static ENCODINGS: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

fn use_own() -> bool {
    ENCODINGS.load(std::sync::atomic::Ordering::Relaxed) != 2
}

fn use_pco() -> bool {
    ENCODINGS.load(std::sync::atomic::Ordering::Relaxed) != 1
}

/// Bench support: which encodings sealing tries (0 both, 1 own, 2 pco).
pub(crate) fn set_encodings(which: u8) {
    ENCODINGS.store(which, std::sync::atomic::Ordering::Relaxed);
}

/// Kind 6's table and the index of each value in it, if the values take
/// at most half as many distinct values as there are points.
fn dictionary(set: &[u64]) -> Option<(Vec<u64>, Vec<u64>)> {
    let mut table: Vec<u64> = set.to_vec();
    table.sort_unstable();
    table.dedup();
    if table.is_empty() || table.len() * 2 > set.len() {
        return None;
    }
    let indices = set
        .iter()
        .map(|v| table.binary_search(v).map(|i| i as u64).unwrap_or(0))
        .collect();
    Some((table, indices))
}

/// Kind 6's bodies (each with its low nibble): the table, then the
/// indices in each way this build has.
fn dict_encode(set: &[u64], consider: &mut dyn FnMut(u8, Vec<u8>)) {
    let Some((table, indices)) = dictionary(set) else {
        return;
    };
    let mut head = Vec::new();
    put_varint(&mut head, table.len() as u64);
    encode_ints(&table, 1, &mut head);
    if use_own() {
        for order in 0..3u8 {
            let mut body = head.clone();
            encode_ints(&indices, order, &mut body);
            consider(KIND_DICT << 4 | order, body);
        }
    }
    if use_pco() {
        if let Some(ix) = pco_encode(ValueType::U64, &indices) {
            let mut body = head;
            body.extend_from_slice(&ix);
            consider(KIND_DICT << 4 | DICT_PCO, body);
        }
    }
}

/// Decodes kind 6's body at `pos` into `set` (one value per set point).
fn dict_decode(
    b: &[u8],
    pos: &mut usize,
    order: u8,
    set: &mut [u64],
) -> Option<Result<(), Undecodable>> {
    let d = usize::try_from(get_varint(b, pos)?).ok()?;
    // Two points at least per value, as the writer makes it.
    if d == 0 || d.checked_mul(2)? > set.len() {
        return None;
    }
    let mut table = vec![0u64; d];
    decode_ints(b, pos, 1, &mut table)?;
    if table.windows(2).any(|w| w[0] >= w[1]) {
        return None;
    }
    match order {
        0..=2 => decode_ints(b, pos, order, set)?,
        DICT_PCO => {
            if let Err(e) = pco_decode(ValueType::U64, b.get(*pos..)?, set) {
                return Some(Err(e));
            }
            *pos = b.len();
        }
        _ => return None,
    }
    for v in set.iter_mut() {
        *v = *table.get(usize::try_from(*v).ok()?)?;
    }
    Some(Ok(()))
}

/// Encodes one row of `n` points: `present` (presence bits, `n` of them)
/// and `values` (all `n`, only the set ones are kept).
pub(crate) fn encode_row(ty: ValueType, n: usize, present: &[u64], values: &[u64]) -> Vec<u8> {
    let runs = bits::runs(present, n);
    let set: Vec<u64> = runs
        .iter()
        .flat_map(|(s, l)| values[*s..*s + *l].iter().copied())
        .collect();
    // Presence: alternating runs, unset first.
    let mut head = Vec::new();
    put_varint(&mut head, (runs.len() * 2) as u64);
    let mut at = 0usize;
    for (s, l) in &runs {
        put_varint(&mut head, (*s - at) as u64);
        put_varint(&mut head, *l as u64);
        at = s + l;
    }
    let mut best: Option<(u8, Vec<u8>)> = None;
    let mut consider = |mode: u8, body: Vec<u8>| {
        if best.as_ref().is_none_or(|(_, b)| body.len() < b.len()) {
            best = Some((mode, body));
        }
    };
    let ints = |vals: &[u64], kind: u8, consider: &mut dyn FnMut(u8, Vec<u8>)| {
        for order in 0..3u8 {
            let mut body = Vec::new();
            encode_ints(vals, order, &mut body);
            consider(kind << 4 | order, body);
        }
    };
    match ty {
        _ if !use_own() => {}
        ValueType::U64 | ValueType::I64 => ints(&set, KIND_INT, &mut consider),
        ValueType::F64 => {
            let whole: Option<Vec<u64>> = set
                .iter()
                .map(|b| {
                    let f = f64::from_bits(*b);
                    let i = f as i64;
                    ((i as f64).to_bits() == *b).then_some(i as u64)
                })
                .collect();
            if let Some(w) = whole {
                ints(&w, KIND_F64_INT, &mut consider);
            }
            let mut body = Vec::new();
            encode_xor(&set, &mut body);
            consider(KIND_XOR << 4, body);
        }
    }
    dict_encode(&set, &mut consider);
    if use_pco() {
        if let Some(body) = pco_encode(ty, &set) {
            consider(KIND_PCO << 4, body);
        }
        #[cfg(feature = "pco")]
        if ty == ValueType::F64 {
            for e in SCALES {
                if let Some(body) = pco_scaled_encode(&set, e) {
                    consider(KIND_PCO_SCALED << 4, body);
                }
            }
        }
    }
    // Raw always: the fallback, and the bound on every row's size.
    let raw: Vec<u8> = set.iter().flat_map(|v| v.to_le_bytes()).collect();
    consider(KIND_RAW << 4, raw);
    let (mode, body) = best.unwrap_or((KIND_RAW << 4, Vec::new()));
    let mut out = Vec::with_capacity(1 + head.len() + body.len());
    out.push(mode);
    out.extend_from_slice(&head);
    out.extend_from_slice(&body);
    out
}

/// Decodes a row of `n` points into `present` (`ceil(n / 64)` words, which
/// must be zero) and `values` (`n`, unset points 0), returning how many
/// are set. [`Undecodable::Invalid`] when the bytes are not a valid
/// encoding of `n` points of type `ty`; [`Undecodable::NeedsPco`] when
/// they are encoded with `pco` and this build has not got it.
pub(crate) fn decode_row(
    ty: ValueType,
    b: &[u8],
    n: usize,
    present: &mut [u64],
    values: &mut [u64],
) -> Result<usize, Undecodable> {
    decode_row_inner(ty, b, n, present, values).ok_or(Undecodable::Invalid)?
}

fn decode_row_inner(
    ty: ValueType,
    b: &[u8],
    n: usize,
    present: &mut [u64],
    values: &mut [u64],
) -> Option<Result<usize, Undecodable>> {
    let mode = *b.first()?;
    let mut pos = 1;
    let nruns = usize::try_from(get_varint(b, &mut pos)?).ok()?;
    if nruns % 2 != 0 || nruns > n + 1 {
        return None;
    }
    let mut runs = Vec::with_capacity(nruns / 2);
    let mut at = 0usize;
    let mut count = 0usize;
    for _ in 0..nruns / 2 {
        let gap = usize::try_from(get_varint(b, &mut pos)?).ok()?;
        let len = usize::try_from(get_varint(b, &mut pos)?).ok()?;
        let s = at.checked_add(gap)?;
        let e = s.checked_add(len).filter(|e| *e <= n)?;
        if len == 0 || (gap == 0 && at > 0) {
            return None;
        }
        runs.push((s, len));
        bits::set_range(present, s, len);
        count += len;
        at = e;
    }
    let mut set = vec![0u64; count];
    let (kind, order) = (mode >> 4, mode & 0x0f);
    match (kind, ty) {
        (KIND_INT, ValueType::U64 | ValueType::I64) if order < 3 => {
            decode_ints(b, &mut pos, order, &mut set)?
        }
        (KIND_F64_INT, ValueType::F64) if order < 3 => {
            decode_ints(b, &mut pos, order, &mut set)?;
            for v in set.iter_mut() {
                *v = (*v as i64 as f64).to_bits();
            }
        }
        (KIND_XOR, ValueType::F64) if order == 0 => decode_xor(b, &mut pos, &mut set)?,
        (KIND_PCO, _) if order == 0 => {
            if count > 0 {
                if let Err(e) = pco_decode(ty, b.get(pos..)?, &mut set) {
                    return Some(Err(e));
                }
            }
            pos = b.len();
        }
        (KIND_PCO_SCALED, ValueType::F64) if order == 0 => {
            if count > 0 {
                if let Err(e) = pco_scaled_decode(b.get(pos..)?, &mut set) {
                    return Some(Err(e));
                }
            }
            pos = b.len();
        }
        (KIND_DICT, _) => {
            if count > 0 {
                if let Err(e) = dict_decode(b, &mut pos, order, &mut set)? {
                    return Some(Err(e));
                }
            }
        }
        (KIND_RAW, _) if order == 0 => {
            let raw = b.get(pos..pos.checked_add(count.checked_mul(8)?)?)?;
            for (v, c) in set.iter_mut().zip(raw.chunks_exact(8)) {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                *v = u64::from_le_bytes(a);
            }
            pos += raw.len();
        }
        _ => return None,
    }
    if pos != b.len() {
        return None;
    }
    let mut i = 0;
    for (s, l) in runs {
        values[s..s + l].copy_from_slice(&set[i..i + l]);
        i += l;
    }
    Some(Ok(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(ty: ValueType, present: &[bool], values: &[u64]) -> usize {
        let n = present.len();
        let mut bitsv = vec![0u64; n.div_ceil(64)];
        let mut vals = vec![0u64; n];
        for i in 0..n {
            if present[i] {
                bits::set_range(&mut bitsv, i, 1);
                vals[i] = values[i];
            }
        }
        let enc = encode_row(ty, n, &bitsv, &vals);
        let mut p2 = vec![0u64; n.div_ceil(64)];
        let mut v2 = vec![0u64; n];
        let c = decode_row(ty, &enc, n, &mut p2, &mut v2).expect("decodes");
        assert_eq!(p2, bitsv);
        assert_eq!(v2, vals);
        assert_eq!(c, present.iter().filter(|p| **p).count());
        // Every truncation fails or decodes to something else, never panics.
        for cut in 0..enc.len() {
            let mut p3 = vec![0u64; n.div_ceil(64)];
            let mut v3 = vec![0u64; n];
            let _ = decode_row(ty, &enc[..cut], n, &mut p3, &mut v3);
        }
        enc.len()
    }

    #[test]
    fn rows_round_trip() {
        let n = 1000;
        let all = vec![true; n];
        let counter: Vec<u64> = (0..n as u64).map(|i| 1000 + i * 7).collect();
        assert!(round_trip(ValueType::U64, &all, &counter) < 16);
        let constant = vec![42u64; n];
        assert!(round_trip(ValueType::U64, &all, &constant) < 16);
        let mut x = 12345u64;
        let noisy: Vec<u64> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect();
        round_trip(ValueType::U64, &all, &noisy);
        round_trip(ValueType::I64, &all, &noisy);
        round_trip(ValueType::F64, &all, &noisy);
        let floats: Vec<u64> = (0..n)
            .map(|i| (20.0 + (i as f64 / 10.0).sin()).to_bits())
            .collect();
        round_trip(ValueType::F64, &all, &floats);
        let whole: Vec<u64> = (0..n).map(|i| ((i / 3) as f64).to_bits()).collect();
        assert!(round_trip(ValueType::F64, &all, &whole) < 800);
        let special: Vec<u64> = [f64::NAN, -0.0, f64::INFINITY, 1e300, -1.5]
            .iter()
            .cycle()
            .take(n)
            .map(|f| f.to_bits())
            .chain([0x7ff8_dead_beef_0001])
            .take(n)
            .collect();
        round_trip(ValueType::F64, &all, &special);
        let gaps: Vec<bool> = (0..n).map(|i| (i / 10) % 3 != 0).collect();
        round_trip(ValueType::I64, &gaps, &counter);
        round_trip(ValueType::F64, &gaps, &floats);
        assert!(round_trip(ValueType::U64, &vec![false; n], &counter) < 4);
        let extremes = vec![u64::MAX, 0, u64::MAX, 1, i64::MIN as u64, i64::MAX as u64];
        round_trip(ValueType::U64, &[true; 6], &extremes);
        round_trip(ValueType::I64, &[true; 6], &extremes);
        round_trip(ValueType::U64, &[true], &[7]);
        round_trip(ValueType::F64, &[true], &[7]);
    }

    /// Kind 5 gives back every value's bits exactly, whether or not it is
    /// near a multiple of the power of ten (NaN, infinities, -0.0, huge
    /// and tiny values); a mean of nanosecond timings takes it, and about
    /// half the bytes of kind 4.
    #[cfg(feature = "pco")]
    #[test]
    fn scaled_floats_round_trip_exactly_and_win_on_timings() {
        let mut x = 7u64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        // A mean over 4 files of means of the last 100 timings in ns.
        let timings: Vec<u64> = (0..3000)
            .map(|_| ((400_000 * 400 + rnd(20_000_000)) as f64 / 4e11).to_bits())
            .collect();
        let mut special: Vec<u64> = [f64::NAN, -0.0, f64::INFINITY, -f64::INFINITY, 1e300]
            .iter()
            .chain(&[-1.5, 5e-324, 123.456_789, f64::MAX, 9.3e18, -9.3e18])
            .map(|f| f.to_bits())
            .collect();
        special.push(0x7ff8_dead_beef_0001);
        for set in [&timings, &special] {
            for e in SCALES.into_iter().chain([0, 18]) {
                let body = pco_scaled_encode(set, e).unwrap();
                let mut out = vec![0u64; set.len()];
                pco_scaled_decode(&body, &mut out).unwrap();
                assert_eq!(&out, set, "scale 1e{e}");
                for cut in 0..body.len() {
                    let _ = pco_scaled_decode(&body[..cut], &mut out);
                }
            }
        }
        let n = timings.len();
        let all = vec![u64::MAX; n.div_ceil(64)];
        let enc = encode_row(ValueType::F64, n, &all, &timings);
        assert_eq!(enc[0] >> 4, KIND_PCO_SCALED);
        let plain = pco_encode(ValueType::F64, &timings).unwrap();
        assert!(
            enc.len() * 3 < plain.len() * 2,
            "{} {}",
            enc.len(),
            plain.len()
        );
        round_trip(ValueType::F64, &vec![true; n], &timings);
        // An exponent past 18 is not a kind-5 body.
        let mut body = pco_scaled_encode(&timings, 9).unwrap();
        body[0] = 19;
        assert_eq!(
            pco_scaled_decode(&body, &mut vec![0u64; n]),
            Err(Undecodable::Invalid)
        );
    }

    /// Without `pco`, a row of kind 4 or 5 is `NeedsPco`, whatever its
    /// body; other kinds still decode.
    #[cfg(not(feature = "pco"))]
    #[test]
    fn rows_of_pco_kinds_need_pco() {
        for kind in [KIND_PCO, KIND_PCO_SCALED] {
            // One run of 3 set points, then a body this build cannot read.
            let row = [kind << 4, 2, 0, 3, 9, 1, 0];
            let (mut p, mut v) = (vec![0u64; 1], vec![0u64; 3]);
            assert_eq!(
                decode_row(ValueType::F64, &row, 3, &mut p, &mut v),
                Err(Undecodable::NeedsPco)
            );
        }
        round_trip(ValueType::F64, &[true; 3], &[1, 2, 3]);
    }

    /// The encoding kept for a row of `values`, all set.
    fn kind_of(ty: ValueType, values: &[u64]) -> (u8, usize) {
        let n = values.len();
        let mut p = vec![0u64; n.div_ceil(64)];
        bits::set_range(&mut p, 0, n);
        let enc = encode_row(ty, n, &p, values);
        (enc[0], round_trip(ty, &vec![true; n], values))
    }

    /// A step series of a few floats that are no decimals (the bucket
    /// bounds a histogram's quantiles take): kind 6, exactly, and in less
    /// than a byte a point; raw bits would take 8, XOR 1.5 to 2 here.
    #[test]
    fn a_series_of_few_values_is_a_dictionary() {
        let bounds: Vec<u64> = (0..40)
            .map(|i| 2f64.powf(-12.0 + f64::from(i) / 8.0).to_bits())
            .collect();
        let mut x = 7u64;
        let mut at = 20usize;
        let p99: Vec<u64> = (0..4096)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                // Mostly the same bound, sometimes a neighbour, rarely a jump.
                match x >> 60 {
                    0..=9 => {}
                    10..=13 => at = (at + 1).min(39),
                    14 => at = at.saturating_sub(1),
                    _ => at = (x >> 40) as usize % 40,
                }
                bounds[at]
            })
            .collect();
        let (mode, len) = kind_of(ValueType::F64, &p99);
        assert_eq!(mode >> 4, KIND_DICT, "mode {mode:#x}, {len} bytes");
        assert!(len < 4096, "{len} bytes");
        // Integers too: a gauge stepping among three values far apart.
        let levels = [1_000_000_000_007u64, 3, 77_777];
        let g: Vec<u64> = (0..1000u64)
            .map(|t| levels[(t * t / 7 % 3) as usize])
            .collect();
        let (mode, len) = kind_of(ValueType::I64, &g);
        // With pco, pco of the values themselves can be as short.
        let fits = mode >> 4 == KIND_DICT || (HAS_PCO && mode >> 4 == KIND_PCO);
        assert!(fits, "mode {mode:#x}, {len} bytes");
        // Not for values that are mostly distinct, nor for one point.
        assert_ne!(
            kind_of(
                ValueType::U64,
                &(0..100u64).map(|t| t * t).collect::<Vec<_>>()
            )
            .0 >> 4,
            KIND_DICT
        );
        assert_ne!(kind_of(ValueType::F64, &[5]).0 >> 4, KIND_DICT);
    }

    /// Kind 6's body is checked: a table out of order or with a repeat, an
    /// index past the table, a table of more values than half the points,
    /// an empty table, an unknown low nibble: each is not a row.
    #[test]
    fn a_malformed_dictionary_is_invalid() {
        // 4 set points; table [1, 2] is [0, 2, 0, 2] (one difference:
        // 1, 1, zig-zagged 2, 2); indices 0, 1, 1, 0 as kind 0 order 0:
        // zeros 0, 2 (1), zeros 0, 2 (1), then one zero.
        let ok = [KIND_DICT << 4, 2, 0, 4, 2, 0, 2, 0, 2, 1, 2, 0, 2, 1];
        let (mut p, mut v) = (vec![0u64; 1], vec![0u64; 4]);
        assert_eq!(decode_row(ValueType::U64, &ok, 4, &mut p, &mut v), Ok(4));
        assert_eq!(v, [1, 2, 2, 1]);
        let bad: [&[u8]; 6] = [
            // Table [2, 1]: differences 2, -1 (zig-zag 4, 1).
            &[KIND_DICT << 4, 2, 0, 4, 2, 0, 4, 0, 1, 1, 2, 0, 2, 1],
            // Table [1, 1]: differences 1, 0.
            &[KIND_DICT << 4, 2, 0, 4, 2, 0, 2, 1, 1, 2, 0, 2, 1],
            // Index 2 of a table of two.
            &[KIND_DICT << 4, 2, 0, 4, 2, 0, 2, 0, 2, 1, 4, 0, 2, 1],
            // Three values for four points.
            &[KIND_DICT << 4, 2, 0, 4, 3, 0, 2, 0, 2, 0, 2, 1, 2, 0, 2, 1],
            // No values.
            &[KIND_DICT << 4, 2, 0, 4, 0, 4],
            // Low nibble 4.
            &[KIND_DICT << 4 | 4, 2, 0, 4, 2, 0, 2, 0, 2, 1, 2, 0, 2, 1],
        ];
        for (i, row) in bad.iter().enumerate() {
            let (mut p, mut v) = (vec![0u64; 1], vec![0u64; 4]);
            assert_eq!(
                decode_row(ValueType::U64, row, 4, &mut p, &mut v),
                Err(Undecodable::Invalid),
                "case {i}"
            );
        }
        // Indices by pco in a build without it: the typed error.
        if !HAS_PCO {
            let row = [KIND_DICT << 4 | DICT_PCO, 2, 0, 4, 2, 0, 2, 0, 2, 9, 9];
            let (mut p, mut v) = (vec![0u64; 1], vec![0u64; 4]);
            assert_eq!(
                decode_row(ValueType::U64, &row, 4, &mut p, &mut v),
                Err(Undecodable::NeedsPco)
            );
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 99u64;
        for len in 0..200 {
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (x >> 33) as u8
                })
                .collect();
            for ty in [ValueType::U64, ValueType::I64, ValueType::F64] {
                let mut p = vec![0u64; 2];
                let mut v = vec![0u64; 100];
                let _ = decode_row(ty, &b, 100, &mut p, &mut v);
            }
        }
    }
}
