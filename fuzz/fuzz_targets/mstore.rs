//! A store whose files hold anything at all: opening it, listing its
//! metrics, reading ranges and folding over it give data or a typed error,
//! never a panic, for readers and for the writer alike.
//!
//! The input's first byte picks a file of a small valid store, the second
//! whether the rest replaces the file or is spliced into it, and the rest is
//! the bytes.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use mmstats::mstore::{Options, Reader, Store};

fn fresh_store(dir: &Path) -> Option<()> {
    let _ = std::fs::remove_dir_all(dir);
    let mut store = Store::create(
        dir,
        Options {
            chunk_size: 16,
            resolution: 1,
            start_time: 0,
            max_open_chunks: 2,
        },
    )
    .ok()?;
    store.put::<u64>("a", 0, &[1, 2, 3, 4, 5]).ok()?;
    store.put::<f64>("b", 10, &[0.5; 12]).ok()?;
    store.put::<i64>("c", 30, &[-1, -2]).ok()?;
    store.close().ok()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != "lock") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn exercise_reader(dir: &Path) {
    let Ok(mut reader) = Reader::open(dir) else { return };
    let _ = reader.count();
    let _ = reader.salvage_metrics();
    let _ = reader.value_type("a");
    let names: Vec<String> = match reader.metrics() {
        Ok(metrics) => metrics.into_iter().map(|m| m.name).collect(),
        Err(_) => vec!["a".into(), "b".into(), "c".into()],
    };
    for name in &names {
        let _ = reader.get::<u64>(name, 0, 64);
        let _ = reader.get::<f64>(name, 0, 64);
        let _ = reader.get::<i64>(name, 0, 64);
    }
    let _ = reader.fold(0u64, |n, _, _, _| n + 1);
}

fn exercise_writer(dir: &Path) {
    let Ok(mut store) = Store::open(dir) else { return };
    let _ = store.metrics();
    let _ = store.get::<u64>("a", 0, 64);
    let _ = store.put::<u64>("a", 5, &[6, 7]);
    let _ = store.put::<u64>("new", 0, &[1]);
    let _ = store.fold(0u64, |n, _, _, _| n + 1);
    let _ = store.delete_before(16);
    let _ = store.sync();
}

fuzz_target!(|data: &[u8]| {
    let [pick, how, bytes @ ..] = data else { return };
    let dir = std::env::temp_dir().join(format!("mstore-fuzz-{}", std::process::id()));
    if fresh_store(&dir).is_none() {
        return;
    }
    let all = files(&dir);
    let Some(target) = all.get(usize::from(*pick) % all.len().max(1)) else { return };
    let content = if how % 2 == 0 {
        bytes.to_vec()
    } else {
        // Splice: keep the file, overwrite from an offset given by the data.
        let mut content = std::fs::read(target).unwrap_or_default();
        let at = usize::from(*how / 2) % (content.len() + 1);
        let end = (at + bytes.len()).min(content.len());
        content.splice(at..end, bytes.iter().copied());
        content
    };
    if std::fs::write(target, &content).is_err() {
        return;
    }
    exercise_reader(&dir);
    exercise_writer(&dir);
    exercise_reader(&dir);
});
