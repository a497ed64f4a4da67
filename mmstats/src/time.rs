//! Times and durations as users type them and as the history commands print
//! them.
//!
//! A history store made by `mmstats record` counts time in milliseconds
//! since the Unix epoch (UTC), so every time here is a `u64` of those.
//!
//! Accepted times: `now`; a time relative to now (`-10m`, `-2h`, `-30s`,
//! `-1d`, `-500ms`, `-1w`); Unix seconds (`1795323824`, fractions allowed);
//! RFC 3339 (`2026-11-22T03:00:00Z`, `2026-11-22T04:00:00.5+01:00`; a space
//! may stand for the `T`). Accepted durations: a number with a unit (`ms`,
//! `s`, `m`, `h`, `d`, `w`), or a plain number of seconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Milliseconds per unit.
fn unit_ms(unit: &str) -> Option<f64> {
    Some(match unit {
        "ms" => 1.0,
        "s" | "" => 1000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        "w" => 604_800_000.0,
        _ => return None,
    })
}

/// Parses a duration (`1s`, `200ms`, `2m`, `1.5h`, or seconds) into whole
/// milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || format!("{text:?} is not a duration (examples: 1s, 200ms, 5m, 2h)");
    let number: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit_ms(unit.trim()).ok_or_else(bad)?;
    let ms = (number * unit).round();
    if !ms.is_finite() || ms >= 1.8e19 {
        return Err(format!("{text:?} is too long"));
    }
    // In range: checked just above.
    Ok(ms as u64)
}

/// A duration in the shortest unit that shows it whole: `1s`, `200ms`,
/// `5m`, `1500ms`.
pub fn format_duration_ms(ms: u64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms.checked_rem(size) == Some(0) {
            return format!("{}{unit}", ms.checked_div(size).unwrap_or(0));
        }
    }
    format!("{ms}ms")
}

/// Parses a time as described in the module docs, relative to `now`.
pub fn parse_time(text: &str, now: u64) -> Result<u64, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Some(ago) = text.strip_prefix('-') {
        let ago = parse_duration_ms(ago).map_err(|_| {
            format!("{text:?} is not a time: a relative time is a minus and a duration, like -10m")
        })?;
        return now
            .checked_sub(ago)
            .ok_or_else(|| format!("{text:?} reaches back before 1970, where no history is kept"));
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let seconds: f64 = text
            .parse()
            .map_err(|_| format!("{text:?} is not a number of seconds"))?;
        let ms = (seconds * 1000.0).round();
        if !ms.is_finite() || ms >= 1.8e19 {
            return Err(format!("{text:?} is too far in the future"));
        }
        // In range: checked just above.
        return Ok(ms as u64);
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!(
            "{text:?} is not a time; give Unix seconds (1795323824), \
             RFC 3339 (2026-11-22T03:00:00Z), a relative time (-10m, -2h) or now"
        )
    })
}

/// Digits of `text` from `at`, `n` of them, as a number.
fn digits(text: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = text.get(at..at.checked_add(n)?)?;
    if !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(part).ok()?.parse().ok()
}

/// `2026-11-22T03:00:00Z`, with optional fractions of a second and a
/// `+hh:mm`/`-hh:mm` offset instead of `Z`.
fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let sep = |at: usize, set: &[u8]| b.get(at).is_some_and(|c| set.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    let (hour, minute, second) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if sep(at, b".") {
        at = at.checked_add(1)?;
        let start = at;
        let mut scale = 100;
        while let Some(c) = b.get(at).filter(|c| c.is_ascii_digit()) {
            millis = millis.checked_add(i64::from(c.checked_sub(b'0')?).checked_mul(scale)?)?;
            scale = scale.checked_div(10)?;
            at = at.checked_add(1)?;
        }
        if at == start {
            return None;
        }
    }
    let offset_minutes = match b.get(at..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 5 && rest.get(2) == Some(&b':') => {
            let (h, m) = (digits(rest, 0, 2)?, digits(rest, 3, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h.checked_mul(60)?.checked_add(m)?;
            if *sign == b'-' {
                minutes.checked_neg()?
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day)
        .checked_mul(86_400)?
        .checked_add(hour.checked_mul(3600)?)?
        .checked_add(minute.checked_mul(60)?)?
        .checked_add(second)?
        .checked_sub(offset_minutes.checked_mul(60)?)?;
    let ms = seconds.checked_mul(1000)?.checked_add(millis)?;
    u64::try_from(ms).ok()
}

fn is_leap(year: i64) -> bool {
    year.checked_rem(4) == Some(0)
        && (year.checked_rem(100) != Some(0) || year.checked_rem(400) == Some(0))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar, for
/// years 0 to 9999 (the only ones [`parse_rfc3339`] can give).
#[allow(clippy::arithmetic_side_effects)] // bounded: four-digit years
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day counted from 1970-01-01.
#[allow(clippy::arithmetic_side_effects)] // bounded: days of u64 milliseconds
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A time as RFC 3339 in UTC: `2026-11-22T03:00:00Z`, with milliseconds
/// (`03:00:00.200Z`) only when there are some.
#[allow(clippy::arithmetic_side_effects)] // u64 milliseconds / 1000 fit in i64
pub fn format_rfc3339(ms: u64) -> String {
    let seconds = i64::try_from(ms / 1000).unwrap_or(i64::MAX / 1000);
    let millis = ms % 1000;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    if millis == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("1s"), Ok(1000));
        assert_eq!(parse_duration_ms("200ms"), Ok(200));
        assert_eq!(parse_duration_ms("2"), Ok(2000));
        assert_eq!(parse_duration_ms("1.5m"), Ok(90_000));
        assert_eq!(parse_duration_ms("2h"), Ok(7_200_000));
        assert!(parse_duration_ms("").is_err());
        assert!(parse_duration_ms("s").is_err());
        assert!(parse_duration_ms("1y").is_err());
        assert!(parse_duration_ms("1e300s").is_err());
        assert_eq!(format_duration_ms(1000), "1s");
        assert_eq!(format_duration_ms(200), "200ms");
        assert_eq!(format_duration_ms(1500), "1500ms");
        assert_eq!(format_duration_ms(120_000), "2m");
    }

    #[test]
    fn times() {
        let now = 1_795_323_824_000;
        assert_eq!(parse_time("now", now), Ok(now));
        assert_eq!(parse_time("-10m", now), Ok(now - 600_000));
        assert_eq!(parse_time("-30s", now), Ok(now - 30_000));
        assert_eq!(parse_time("1795323824", now), Ok(now));
        assert_eq!(parse_time("1795323824.5", now), Ok(now + 500));
        assert_eq!(parse_time("1970-01-01T00:00:00Z", now), Ok(0));
        assert_eq!(
            parse_time("2026-11-22T03:00:00Z", now),
            Ok(1_795_316_400_000)
        );
        assert_eq!(
            parse_time("2026-11-22T04:00:00.25+01:00", now),
            Ok(1_795_316_400_250)
        );
        assert_eq!(parse_time("2000-02-29 12:00:00z", now), Ok(951_825_600_000));
        for bad in [
            "",
            "yesterday",
            "-",
            "-10y",
            "2026-02-30T00:00:00Z",
            "2026-11-22T03:00:00",
            "2026-11-22T03:00:00+1:00",
            "2026-11-22T03:00:00.Z",
            "1969-12-31T23:59:59Z",
            "-100000000w",
        ] {
            assert!(parse_time(bad, now).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_back() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_795_316_400_000), "2026-11-22T03:00:00Z");
        assert_eq!(format_rfc3339(951_825_600_200), "2000-02-29T12:00:00.200Z");
        for ms in [0u64, 1, 86_399_999, 951_825_600_200, 4_102_444_800_000] {
            assert_eq!(parse_time(&format_rfc3339(ms), 0), Ok(ms));
        }
        // The largest time does not panic.
        let _ = format_rfc3339(u64::MAX);
    }
}
