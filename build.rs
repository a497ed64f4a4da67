//! Writes `$OUT_DIR/generated_models.rs` for `tests/generated_models.rs`:
//! 200 models of random mixes and orders of every field type (several
//! summaries each, statics of every type, texts of many sizes, prefixes,
//! default fields on and off), each with a function that creates its file,
//! gives every field known values, and returns the values every reader must
//! read back.
//!
//! The models come from a fixed seed, so every build writes the same file;
//! `MMSTATS_MODELS_SEED=N` draws others, to hunt further.

use std::fmt::Write as _;
use std::path::PathBuf;

/// How many models the file holds.
const MODELS: usize = 200;

/// The seed used unless `MMSTATS_MODELS_SEED` says otherwise.
const SEED: u64 = 0x6d6d_7374_6174_7321;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MMSTATS_MODELS_SEED");
    let seed = std::env::var("MMSTATS_MODELS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let code = generate(seed);
    std::fs::write(out.join("generated_models.rs"), code).expect("write generated_models.rs");
}

/// xorshift64*: small, deterministic, good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A finite double from random bits (no NaN or infinity: JSON has none).
    fn finite_f64(&mut self) -> f64 {
        loop {
            let v = f64::from_bits(self.next());
            if v.is_finite() {
                return v;
            }
        }
    }

    fn finite_f32(&mut self) -> f32 {
        loop {
            let v = f32::from_bits(self.next() as u32);
            if v.is_finite() {
                return v;
            }
        }
    }

    /// A multiple of 1/8 in [-500, 500): sums of a few are exact, so the
    /// expected mean is the one correctly rounded division the writer makes.
    fn dyadic(&mut self) -> f64 {
        (self.below(8000) as f64 - 4000.0) / 8.0
    }

    /// Text made of pieces of 1 to 4 bytes, `max` bytes at most.
    fn text(&mut self, max: usize) -> String {
        const PIECES: [&str; 12] = [
            "a", "Z", " ", "é", "❤", "😀", "\"", "\\", "計", "\n", "x.y", "{}",
        ];
        let mut out = String::new();
        let target = self.below(max as u64 + 1) as usize;
        while out.len() < target {
            let piece = *self.pick(&PIECES);
            out.push_str(piece);
        }
        out
    }
}

/// The longest prefix of `value` of at most `size` bytes that ends on a
/// character boundary: what a text field keeps (the generated texts hold
/// no NUL).
fn fit(value: &str, size: usize) -> &str {
    let mut end = value.len().min(size);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// A value the test expects, as Rust source of `E` (see the test).
fn unsigned(v: u64) -> String {
    format!("E::U({v})")
}
fn signed(v: i64) -> String {
    format!("E::I({v})")
}
fn float(v: f64) -> String {
    format!("E::F({:#x})", v.to_bits())
}
fn boolean(v: bool) -> String {
    format!("E::B({v})")
}
fn text(v: &str) -> String {
    format!("E::S({v:?})")
}

/// The number types of gauges and statics.
#[derive(Clone, Copy)]
enum Num {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

const NUMS: [Num; 10] = [
    Num::U8,
    Num::I8,
    Num::U16,
    Num::I16,
    Num::U32,
    Num::I32,
    Num::U64,
    Num::I64,
    Num::F32,
    Num::F64,
];

impl Num {
    fn name(self) -> &'static str {
        match self {
            Num::U8 => "u8",
            Num::I8 => "i8",
            Num::U16 => "u16",
            Num::I16 => "i16",
            Num::U32 => "u32",
            Num::I32 => "i32",
            Num::U64 => "u64",
            Num::I64 => "i64",
            Num::F32 => "f32",
            Num::F64 => "f64",
        }
    }

    /// A random value: (Rust expression of this type, expected value).
    fn value(self, rng: &mut Rng) -> (String, String) {
        // Now and then the extremes, else any value of the type.
        let bits = match rng.below(8) {
            0 => 0,
            1 => u64::MAX,
            2 => 1,
            _ => rng.next(),
        };
        match self {
            Num::U8 => (format!("{}u8", bits as u8), unsigned(bits as u8 as u64)),
            Num::I8 => (format!("{}i8", bits as i8), signed(bits as i8 as i64)),
            Num::U16 => (format!("{}u16", bits as u16), unsigned(bits as u16 as u64)),
            Num::I16 => (format!("{}i16", bits as i16), signed(bits as i16 as i64)),
            Num::U32 => (format!("{}u32", bits as u32), unsigned(bits as u32 as u64)),
            Num::I32 => (format!("{}i32", bits as i32), signed(bits as i32 as i64)),
            Num::U64 => (format!("{bits}u64"), unsigned(bits)),
            Num::I64 => (format!("{}i64", bits as i64), signed(bits as i64)),
            Num::F32 => {
                let v = rng.finite_f32();
                (
                    format!("f32::from_bits({:#x})", v.to_bits()),
                    float(f64::from(v)),
                )
            }
            Num::F64 => {
                let v = rng.finite_f64();
                (format!("f64::from_bits({:#x})", v.to_bits()), float(v))
            }
        }
    }
}

/// One field of a model: its declaration, its updates, and what must be
/// read back, under which labels (the main one first, then its parts).
struct Field {
    attrs: Vec<String>,
    ty: String,
    updates: Vec<String>,
    expected: Vec<(String, String)>,
}

/// The sum as the writer adds up: from +0.0 (`Iterator::sum` of floats
/// starts from -0.0).
fn sum(values: &[f64]) -> f64 {
    values.iter().fold(0.0, |a, b| a + b)
}

/// Feeds `values` to a mean over the last `window` of them (all of them if
/// `None`): the expected mean, 0 before the first value.
fn mean(values: &[f64], window: Option<usize>) -> f64 {
    let kept = match window {
        Some(n) if values.len() > n => &values[values.len() - n..],
        _ => values,
    };
    if kept.is_empty() {
        0.0
    } else {
        sum(kept) / kept.len() as f64
    }
}

fn field(rng: &mut Rng, member: &str, label: &str, kind: u64) -> Field {
    let mut f = Field {
        attrs: Vec::new(),
        ty: String::new(),
        updates: Vec::new(),
        expected: Vec::new(),
    };
    let main = |f: &mut Field, value: String| f.expected.push((label.to_owned(), value));
    let updated = rng.chance(80);
    match kind {
        // Counter
        0 => {
            f.ty = "Counter".into();
            let mut total: u64 = 0;
            if updated {
                for _ in 0..rng.below(3) {
                    f.updates.push(format!("stats.{member}.incr();"));
                    total += 1;
                }
                let by = rng.next() >> rng.below(64);
                f.updates.push(format!("stats.{member}.incr_by({by});"));
                total = total.wrapping_add(by);
            }
            main(&mut f, unsigned(total));
        }
        // Gauge<T>
        1 => {
            let num = *rng.pick(&NUMS);
            f.ty = format!("Gauge<{}>", num.name());
            // Set a few times (a double-buffered gauge flips its buffer each
            // time): the last value counts.
            let mut last = match num {
                Num::U8 | Num::U16 | Num::U32 | Num::U64 => unsigned(0),
                Num::I8 | Num::I16 | Num::I32 | Num::I64 => signed(0),
                Num::F32 | Num::F64 => float(0.0),
            };
            if updated {
                for _ in 0..=rng.below(3) {
                    let (expr, expected) = num.value(rng);
                    f.updates.push(format!("stats.{member}.set({expr});"));
                    last = expected;
                }
            }
            main(&mut f, last);
        }
        // Flag
        2 => {
            f.ty = "Flag".into();
            let mut value = false;
            if updated {
                for _ in 0..=rng.below(2) {
                    value = rng.chance(50);
                    f.updates.push(format!("stats.{member}.set({value});"));
                }
            }
            main(&mut f, boolean(value));
        }
        // Text<N>
        3 => {
            let n = *rng.pick(&[1usize, 2, 3, 4, 7, 8, 16, 31, 64, 255, 300]);
            f.ty = format!("Text<{n}>");
            let mut value = String::new();
            let mut sets = 0u64;
            if updated {
                for _ in 0..=rng.below(2) {
                    let t = rng.text(n + n / 2 + 2);
                    f.updates.push(format!("stats.{member}.set({t:?});"));
                    value = fit(&t, n).to_owned();
                    sets += 1;
                }
            }
            main(&mut f, text(&value));
            f.expected
                .push((format!("{label}.seq"), unsigned(2 * sets)));
        }
        // Average
        4 => {
            f.ty = "Average".into();
            let values: Vec<f64> = (0..if updated { rng.below(6) } else { 0 })
                .map(|_| rng.dyadic())
                .collect();
            for v in &values {
                f.updates.push(format!("stats.{member}.add({v:?});"));
            }
            main(&mut f, float(mean(&values, None)));
        }
        // MovingAverage<N>
        5 => {
            let n = 1 + rng.below(4) as usize;
            f.ty = format!("MovingAverage<{n}>");
            let values: Vec<f64> = (0..if updated { rng.below(10) } else { 0 })
                .map(|_| rng.dyadic())
                .collect();
            for v in &values {
                f.updates.push(format!("stats.{member}.add({v:?});"));
            }
            main(&mut f, float(mean(&values, Some(n))));
        }
        // Timer<N>
        6 => {
            let n = 1 + rng.below(4) as usize;
            f.ty = format!("Timer<{n}>");
            let values: Vec<f64> = (0..if updated { rng.below(10) } else { 0 })
                .map(|_| rng.dyadic().abs())
                .collect();
            for v in &values {
                f.updates
                    .push(format!("stats.{member}.record_seconds({v:?});"));
            }
            main(&mut f, float(mean(&values, Some(n))));
        }
        // Summary
        7 => {
            f.ty = "Summary".into();
            let values: Vec<f64> = (0..if updated { rng.below(6) } else { 0 })
                .map(|_| rng.dyadic())
                .collect();
            for v in &values {
                f.updates.push(format!("stats.{member}.add({v:?});"));
            }
            let sum = sum(&values);
            let min = values.iter().copied().reduce(f64::min).unwrap_or(0.0);
            let max = values.iter().copied().reduce(f64::max).unwrap_or(0.0);
            main(&mut f, float(mean(&values, None)));
            let count = values.len() as u64;
            for (suffix, value) in [
                (".count", unsigned(count)),
                (".sum", float(sum)),
                (".min", float(min)),
                (".max", float(max)),
                (".seq", unsigned(2 * count)),
            ] {
                f.expected.push((format!("{label}{suffix}"), value));
            }
        }
        // Static<T>
        8 => {
            let num = *rng.pick(&NUMS);
            f.ty = format!("Static<{}>", num.name());
            let (expr, expected) = num.value(rng);
            f.attrs.push(format!("value = {expr}"));
            main(&mut f, expected);
        }
        // StaticText<N>
        _ => {
            let n = *rng.pick(&[1usize, 5, 8, 32, 256]);
            f.ty = format!("StaticText<{n}>");
            let t = rng.text(n + 4);
            f.attrs.push(format!("value = {t:?}"));
            main(&mut f, text(fit(&t, n)));
        }
    }
    f
}

/// Field kinds 0..=9 as `field` numbers them; 7 is `Summary`.
const KINDS: u64 = 10;
const SUMMARY: u64 = 7;

/// Labels' stems: unicode, dots, dashes. Every label ends with its field's
/// index, so no label is another's base followed by a dot (which would
/// make it part of that one's group).
const STEMS: [&str; 8] = [
    "req",
    "température.°C",
    "计数器",
    "a.b",
    "x-y",
    "q_w",
    "Ω",
    "sys.x",
];

const PREFIXES: [&str; 5] = ["", "svc.", "org.exämple.", "p", "deep.er.prefix."];

fn model(rng: &mut Rng, index: usize, out: &mut String) {
    let defaults = rng.chance(50);
    let prefix = *rng.pick(&PREFIXES);
    // Several summaries, and a mix of everything else, in random order.
    let mut kinds: Vec<u64> = (0..1 + rng.below(3)).map(|_| SUMMARY).collect();
    for _ in 0..2 + rng.below(10) {
        kinds.push(rng.below(KINDS));
    }
    // Every static type now and then, wherever it lands.
    if rng.chance(30) {
        kinds.push(8);
        kinds.push(9);
    }
    for i in (1..kinds.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        kinds.swap(i, j);
    }
    let mut attrs = Vec::new();
    if !defaults {
        attrs.push("defaults = false".to_owned());
    }
    if !prefix.is_empty() {
        attrs.push(format!("prefix = {prefix:?}"));
    }
    let name = format!("M{index}");
    let mut fields = Vec::new();
    for (i, &kind) in kinds.iter().enumerate() {
        let member = format!("f{i}");
        let (attr, label) = if rng.chance(50) {
            let label = format!("{}{i}", rng.pick(&STEMS));
            (Some(format!("label = {label:?}")), label)
        } else {
            (None, member.clone())
        };
        let mut f = field(rng, &member, &format!("{prefix}{label}"), kind);
        if let Some(attr) = attr {
            f.attrs.insert(0, attr);
        }
        if rng.chance(20) {
            f.attrs.push("unit = \"u\"".to_owned());
        }
        fields.push((member, f));
    }

    let _ = writeln!(out, "#[derive(MmStats)]");
    if !attrs.is_empty() {
        let _ = writeln!(out, "#[mmstats({})]", attrs.join(", "));
    }
    let _ = writeln!(out, "struct {name} {{");
    for (member, f) in &fields {
        if !f.attrs.is_empty() {
            let _ = writeln!(out, "    #[mmstats({})]", f.attrs.join(", "));
        }
        let _ = writeln!(out, "    {member}: {},", f.ty);
    }
    let _ = writeln!(out, "}}\n");
    let _ = writeln!(out, "fn m{index}(dir: &Path) -> Made {{");
    let _ = writeln!(
        out,
        "    let stats = {name}::builder().dir(dir).file(\"m{index}.mmstats\").create().unwrap();"
    );
    // The updates interleaved across fields, in random order, so that no
    // field's values depend on being written last.
    let mut updates: Vec<(usize, &String)> = fields
        .iter()
        .enumerate()
        .flat_map(|(i, (_, f))| f.updates.iter().map(move |u| (i, u)))
        .collect();
    for i in (1..updates.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        updates.swap(i, j);
    }
    // The shuffle chose which field updates when; each field's own updates
    // keep their order (for a gauge the last set wins).
    let mut next: Vec<usize> = vec![0; fields.len()];
    for (i, u) in updates.iter_mut() {
        *u = &fields[*i].1.updates[next[*i]];
        next[*i] += 1;
    }
    for (_, u) in &updates {
        let _ = writeln!(out, "    {u}");
    }
    let _ = writeln!(out, "    Made {{");
    let _ = writeln!(out, "        name: {name:?},");
    let _ = writeln!(out, "        path: stats.path().unwrap().to_owned(),");
    let _ = writeln!(out, "        prefix: {prefix:?},");
    let _ = writeln!(out, "        defaults: {defaults},");
    let _ = writeln!(out, "        expected: vec![");
    for (_, f) in &fields {
        for (label, value) in &f.expected {
            let _ = writeln!(out, "            ({label:?}, {value}),");
        }
    }
    let _ = writeln!(out, "        ],");
    let _ = writeln!(out, "    }}");
    let _ = writeln!(out, "}}\n");
}

fn generate(seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Written by build.rs from seed {seed:#x}: {MODELS} models. Do not edit.\n"
    );
    for index in 0..MODELS {
        model(&mut rng, index, &mut out);
    }
    let _ = writeln!(out, "const MODELS: [fn(&Path) -> Made; {MODELS}] = [");
    for index in 0..MODELS {
        let _ = writeln!(out, "    m{index},");
    }
    let _ = writeln!(out, "];");
    out
}
