//! Presence bitmaps: bit `i` of a bitmap is bit `i % 64` of word `i / 64`.

fn mask(k: usize) -> u64 {
    if k >= 64 {
        u64::MAX
    } else {
        (1u64 << k) - 1
    }
}

/// Reads `k <= 64` bits starting at bit `pos`; words past the end read as 0.
fn extract(src: &[u64], pos: usize, k: usize) -> u64 {
    let w = pos / 64;
    let b = pos % 64;
    let lo = src.get(w).copied().unwrap_or(0) >> b;
    let hi = if b > 0 {
        src.get(w + 1).copied().unwrap_or(0) << (64 - b)
    } else {
        0
    };
    (lo | hi) & mask(k)
}

/// ORs `n` bits of `src` starting at `src_off` into `dst` starting at
/// `dst_off`. `dst` must hold `dst_off + n` bits.
pub(crate) fn or_bits(src: &[u64], src_off: usize, dst: &mut [u64], dst_off: usize, n: usize) {
    let mut done = 0;
    while done < n {
        let d = dst_off + done;
        let db = d % 64;
        let take = (64 - db).min(n - done);
        let bits = extract(src, src_off + done, take);
        if let Some(w) = dst.get_mut(d / 64) {
            *w |= bits << db;
        }
        done += take;
    }
}

/// Sets bits `start..start + n`. `words` must hold them.
pub(crate) fn set_range(words: &mut [u64], start: usize, n: usize) {
    let mut done = 0;
    while done < n {
        let d = start + done;
        let db = d % 64;
        let take = (64 - db).min(n - done);
        if let Some(w) = words.get_mut(d / 64) {
            *w |= mask(take) << db;
        }
        done += take;
    }
}

/// Whether any of bits `start..start + n` is set; bits past the end are
/// unset.
pub(crate) fn any_in(words: &[u64], start: usize, n: usize) -> bool {
    let mut done = 0;
    while done < n {
        let d = start + done;
        let db = d % 64;
        let take = (64 - db).min(n - done);
        if words.get(d / 64).is_some_and(|w| w >> db & mask(take) != 0) {
            return true;
        }
        done += take;
    }
    false
}

/// Whether bit `i` is set; bits past the end are unset.
pub(crate) fn get(words: &[u64], i: usize) -> bool {
    words.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
}

/// Maximal runs of set bits among bits `0..n`, as `(start, len)`.
pub(crate) fn runs(words: &[u64], n: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let w = words.get(i / 64).copied().unwrap_or(0) >> (i % 64);
        if w == 0 {
            i = (i / 64 + 1) * 64;
            continue;
        }
        i += w.trailing_zeros() as usize;
        if i >= n {
            break;
        }
        let start = i;
        while i < n {
            let w = !(words.get(i / 64).copied().unwrap_or(0) >> (i % 64));
            // Bits shifted in from the top are zeros, so `!` makes them ones:
            // the run cannot extend past the word.
            let ones = w.trailing_zeros() as usize;
            let room = 64 - i % 64;
            i += ones.min(room);
            if ones < room {
                break;
            }
        }
        let end = i.min(n);
        out.push((start, end - start));
        i = end;
    }
    out
}

/// Number of set bits among bits `0..n`.
pub(crate) fn count(words: &[u64], n: usize) -> u64 {
    let full = n / 64;
    let mut c: u64 = words
        .iter()
        .take(full)
        .map(|w| u64::from(w.count_ones()))
        .sum();
    if !n.is_multiple_of(64) {
        c += u64::from((words.get(full).copied().unwrap_or(0) & mask(n % 64)).count_ones());
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(words: &[u64], n: usize) -> Vec<bool> {
        (0..n).map(|i| get(words, i)).collect()
    }

    proptest! {
        #[test]
        fn or_bits_matches_naive(src in proptest::collection::vec(any::<u64>(), 0..6),
                                 so in 0usize..300, d0 in 0usize..200, n in 0usize..300) {
            let mut dst = vec![0u64; (d0 + n).div_ceil(64)];
            or_bits(&src, so, &mut dst, d0, n);
            for i in 0..n {
                prop_assert_eq!(get(&dst, d0 + i), get(&src, so + i));
            }
            for i in 0..d0 { prop_assert!(!get(&dst, i)); }
        }

        #[test]
        fn set_range_and_runs(ranges in proptest::collection::vec((0usize..400, 0usize..90), 0..6)) {
            let mut w = vec![0u64; 8];
            let mut model = vec![false; 512];
            for (s, n) in ranges {
                let n = n.min(512 - s);
                set_range(&mut w, s, n);
                for b in &mut model[s..s + n] { *b = true; }
            }
            prop_assert_eq!(naive(&w, 512), model.clone());
            let n = 450;
            let mut rebuilt = vec![false; n];
            let rs = runs(&w, n);
            for &(s, l) in &rs {
                prop_assert!(l > 0);
                for b in &mut rebuilt[s..s + l] { *b = true; }
            }
            for pair in rs.windows(2) {
                prop_assert!(pair[0].0 + pair[0].1 < pair[1].0);
            }
            prop_assert_eq!(&rebuilt[..], &model[..n]);
            prop_assert_eq!(count(&w, n), model[..n].iter().filter(|b| **b).count() as u64);
            for (s, l) in [(0usize, 512usize), (3, 70), (64, 64), (100, 1), (450, 62)] {
                prop_assert_eq!(any_in(&w, s, l), model[s..s + l].iter().any(|b| *b), "{} {}", s, l);
            }
        }
    }
}
