//! Any bytes at all: the reader returns a snapshot or a typed error, never
//! panics, never reads out of bounds (the sanitizer would catch it). A file
//! that parses must parse the same way again, into a frame left over from
//! the previous input, and through a real mapping.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

use mmstats::reader::{read_bytes, read_bytes_into, Frame, MappedFile};

thread_local! {
    static FRAME: RefCell<Frame> = const { RefCell::new(Frame::new()) };
}

fuzz_target!(|data: &[u8]| {
    let first = read_bytes(data);
    let again = read_bytes(data);
    match (&first, &again) {
        (Ok(a), Ok(b)) => assert_eq!(a.stats.len(), b.stats.len()),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("the same bytes parsed differently"),
    }
    FRAME.with_borrow_mut(|frame| {
        let framed = read_bytes_into(data, frame).map(|()| frame.to_snapshot());
        match (&first, &framed) {
            // By their debug form, in which a NaN equals itself.
            (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
            (Err(a), Err(b)) => {
                assert_eq!(a.to_string(), b.to_string());
                assert!(frame.is_empty());
            }
            _ => panic!("a frame parsed the bytes differently"),
        }
    });
    // Now and then, through a file and a mapping as tools read it.
    if data.len() % 16 == 0 && !data.is_empty() {
        let Ok(dir) = tempfile_dir() else { return };
        let path = dir.join("fuzz.mmstats");
        if std::fs::write(&path, data).is_ok() {
            if let Ok(file) = MappedFile::open(&path) {
                let mapped = file.read();
                assert_eq!(mapped.is_ok(), first.is_ok());
            }
            let _ = std::fs::remove_file(&path);
        }
    }
});

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("mmstats-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
