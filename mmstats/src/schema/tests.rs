use super::*;
use crate::{Counter, Gauge, MovingAverage, StaticText, Text};

fn err(schema: Schema) -> SchemaError {
    match schema.build() {
        Ok(model) => panic!("built, with {} fields", model.model().fields.len()),
        Err(e) => e,
    }
}

#[test]
fn a_duplicate_label_is_a_typed_error() {
    let e = err(Schema::new().counter("jobs").gauge::<u32>("jobs"));
    assert_eq!(
        e,
        SchemaError::DuplicateLabel {
            label: "jobs".into()
        }
    );
    // With the prefix, and against a default field.
    let e = err(Schema::new().prefix("app.").counter("sys.pid"));
    assert_eq!(
        e,
        SchemaError::DuplicateLabel {
            label: "app.sys.pid".into()
        }
    );
    // A part of one field against another field.
    let e = err(Schema::new().summary("lat").counter("lat.count"));
    assert!(
        matches!(&e, SchemaError::DuplicateLabel { label } if label == "lat.count"),
        "{e}"
    );
    // A plain label that spells a family's member.
    let e = err(Schema::new()
        .family::<Counter>("req", &[("m", &["get", "post"])])
        .counter("req{m=\"post\"}"));
    assert!(matches!(e, SchemaError::DuplicateLabel { .. }), "{e}");
    // A value twice in one label.
    let e = err(Schema::new().family::<Counter>("req", &[("m", &["get", "get"])]));
    assert_eq!(
        e,
        SchemaError::DuplicateLabel {
            label: "req{m=\"get\"}".into()
        }
    );
    // Two families of one label.
    let e = err(Schema::new()
        .family::<Counter>("req", &[("m", &["get"])])
        .family::<Counter>("req", &[("s", &["ok"])]));
    assert!(matches!(e, SchemaError::DuplicateLabel { .. }), "{e}");
}

#[test]
fn a_label_too_long_is_a_typed_error() {
    let long = "x".repeat(65_530);
    let e = err(Schema::new().prefix("abcdef").counter(long.as_str()));
    assert!(
        matches!(&e, SchemaError::LabelTooLong { len: 65_536, label } if label.len() == 64),
        "{e}"
    );
    // A member's label set counts.
    let e = err(Schema::new().family::<Counter>(long.as_str(), &[("k", &["v"])]));
    assert!(matches!(e, SchemaError::LabelTooLong { .. }), "{e}");
    // One byte less fits.
    assert!(Schema::new()
        .defaults(false)
        .counter("x".repeat(65_535))
        .build()
        .is_ok());
}

#[test]
fn a_nul_anywhere_is_a_typed_error() {
    let e = err(Schema::new().counter("a\0b"));
    assert_eq!(
        e,
        SchemaError::Nul {
            what: "label",
            text: "a\0b".into()
        }
    );
    let e = err(Schema::new().prefix("p\0").counter("a"));
    assert!(matches!(e, SchemaError::Nul { what: "prefix", .. }), "{e}");
    let e = err(Schema::new().family::<Counter>("f", &[("k", &["a\0"])]));
    assert!(
        matches!(
            e,
            SchemaError::Nul {
                what: "label value",
                ..
            }
        ),
        "{e}"
    );
    let e = err(Schema::new().family::<Counter>("f", &[("k\0", &["a"])]));
    assert!(
        matches!(
            e,
            SchemaError::Nul {
                what: "label name",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn an_empty_label_names_its_declaration() {
    let e = err(Schema::new().counter("a").counter(""));
    assert_eq!(e, SchemaError::EmptyLabel { index: 1 });
}

#[test]
fn too_many_fields_is_a_typed_error_before_anything_is_laid_out() {
    // 300 x 300 members of a summary's 6 fields: 540,000 fields.
    let values: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let e = err(Schema::new().family::<crate::Summary>("f", &[("a", &values), ("b", &values)]));
    assert_eq!(
        e,
        SchemaError::TooManyFields {
            fields: 300 * 300 * 6 + 8
        }
    );
    // Exactly at the limit is fine; one more is not.
    let mut s = Schema::new().defaults(false);
    for i in 0..MAX_FIELDS {
        s = s.flag(format!("f{i}"));
    }
    let s = s.flag("one more");
    assert_eq!(err(s), SchemaError::TooManyFields { fields: 65_536 });
}

#[test]
fn a_file_too_large_for_the_tools_is_a_typed_error() {
    // 5 texts of 16 MiB.
    let mut s = Schema::new();
    for i in 0..5 {
        s = s.field::<Text<{ crate::format::MAX_VALUE_SIZE }>>(format!("t{i}"));
    }
    let e = err(s);
    assert!(
        matches!(e, SchemaError::FileTooLarge { bytes, limit } if bytes > limit && limit == 64 << 20),
        "{e}"
    );
}

#[test]
fn bad_types_and_labels_are_typed_errors() {
    let e = err(Schema::new().field::<Text<0>>("t"));
    assert!(matches!(e, SchemaError::BadType { .. }), "{e}");
    let e = err(Schema::new().field::<MovingAverage<0>>("m"));
    assert!(matches!(e, SchemaError::BadType { .. }), "{e}");
    let e = err(Schema::new().field::<StaticText>("s"));
    assert!(matches!(e, SchemaError::BadType { .. }), "{e}");
    for key in ["le", "__x", "1a", "a-b", ""] {
        let e = err(Schema::new().family::<Counter>("f", &[(key, &["v"])]));
        assert!(matches!(e, SchemaError::BadLabels { .. }), "{key}: {e}");
    }
    let e = err(Schema::new().family::<Counter>("f", &[("k", &[])]));
    assert!(matches!(e, SchemaError::BadLabels { .. }), "{e}");
    let e = err(Schema::new().family::<Counter>("f", &[("k", &[""])]));
    assert!(matches!(e, SchemaError::BadLabels { .. }), "{e}");
    let e = err(Schema::new().family::<Counter>("f", &[("k", &["a"]), ("k", &["b"])]));
    assert!(matches!(e, SchemaError::BadLabels { .. }), "{e}");
    let five: [(&str, &[&str]); 5] = [
        ("a", &["1"]),
        ("b", &["1"]),
        ("c", &["1"]),
        ("d", &["1"]),
        ("e", &["1"]),
    ];
    let e = err(Schema::new().family::<Counter>("f", &five));
    assert!(matches!(e, SchemaError::BadLabels { .. }), "{e}");
    for name in ["", ".x", "a b", &"n".repeat(65)] {
        let e = err(Schema::new().name(name));
        assert!(matches!(e, SchemaError::BadName { .. }), "{name}: {e}");
    }
    let e = err(Schema::new().unit("s").counter("a"));
    assert_eq!(e, SchemaError::NoFieldYet("unit"));
    let e = err(Schema::new().counter("a").help("x".repeat(70_000)));
    assert_eq!(e, SchemaError::TextTooLong { label: "a".into() });
}

#[test]
fn handles_are_found_by_name_and_type_only() {
    let model = Schema::new()
        .counter("c")
        .family::<Gauge<i64>>("f", &[("k", &["a", "b"]), ("j", &["x", "y", "z"])])
        .build()
        .unwrap();
    let stats = model.in_memory();
    stats.get::<Counter>("c").unwrap().incr_by(4);
    assert_eq!(stats.get::<Counter>("c").unwrap().get(), 4);
    assert!(matches!(
        stats.get::<Counter>("nope"),
        Err(SchemaError::NoSuchField(_))
    ));
    assert!(matches!(
        stats.get::<Gauge<u64>>("c"),
        Err(SchemaError::WrongType { .. })
    ));
    assert!(matches!(
        stats.get::<Gauge<i64>>("f"),
        Err(SchemaError::WrongType {
            declared: "family",
            ..
        })
    ));
    let f = stats.family::<Gauge<i64>>("f").unwrap();
    assert_eq!(f.len(), 6);
    f.get(&["b", "y"]).unwrap().set(-7);
    // The first label varies slowest: (b, y) is member 3 + 1.
    assert_eq!(f.member(4).unwrap().get(), -7);
    assert!(f.get(&["b"]).is_none());
    assert!(f.get(&["c", "y"]).is_none());
    let labels: Vec<String> = model
        .model()
        .fields
        .iter()
        .map(|f| f.file_label())
        .collect();
    assert_eq!(labels[5], r#"f{k="b",j="y"}"#);
}

#[test]
fn each_thread_gets_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = Schema::new()
        .name("per_thread")
        .dir(dir.path().to_string_lossy().into_owned())
        .counter("n")
        .build()
        .unwrap();
    let paths: Vec<PathBuf> = (0..3)
        .map(|i| {
            let model = model.clone();
            std::thread::spawn(move || {
                for _ in 0..=i {
                    model.with_thread(|s| s.get::<Counter>("n").unwrap().incr());
                }
                model
                    .try_with_thread(|s| s.path().unwrap().to_path_buf())
                    .unwrap()
            })
            .join()
            .unwrap()
        })
        .collect();
    let mut counts: Vec<String> = paths
        .iter()
        .map(|p| {
            crate::reader::read_path(p)
                .unwrap()
                .get("n")
                .unwrap()
                .value
                .to_string()
        })
        .collect();
    counts.sort();
    assert_eq!(counts, ["1", "2", "3"]);
    let mut unique = paths.clone();
    unique.dedup();
    assert_eq!(unique.len(), 3);
    // A nested call of another model's `with_thread` works.
    let other = Schema::new()
        .name("other")
        .dir(dir.path().to_string_lossy().into_owned())
        .flag("up")
        .build()
        .unwrap();
    model.with_thread(|a| {
        other.with_thread(|b| b.get::<crate::Flag>("up").unwrap().set(true));
        a.get::<Counter>("n").unwrap().incr();
    });
    model.with_thread(|a| assert_eq!(a.get::<Counter>("n").unwrap().get(), 1));
}

#[test]
fn two_declarations_of_one_name_are_a_typed_error() {
    // A field and a family: their file labels differ (`req` and
    // `req{m="get"}`), their names do not.
    let e = err(Schema::new()
        .counter("req")
        .family::<Counter>("req", &[("m", &["get"])]));
    assert_eq!(e, SchemaError::DuplicateName { name: "req".into() });
    // The same the other way round, and with a prefix: the name is the one
    // declared, without it.
    let e = err(Schema::new()
        .prefix("app.")
        .family::<Gauge<i64>>("q", &[("k", &["a", "b"])])
        .gauge::<u32>("q"));
    assert_eq!(e, SchemaError::DuplicateName { name: "q".into() });
    assert!(e.to_string().contains("\"q\""), "{e}");
    // Two names that differ build.
    assert!(Schema::new()
        .counter("req")
        .family::<Counter>("reqs", &[("m", &["get"])])
        .build()
        .is_ok());
}

#[test]
fn a_dyn_family_takes_values_at_run_time() {
    let model = Schema::new()
        .counter("c")
        .dyn_family::<Gauge<i64>>("routes", "route", 2)
        .build()
        .unwrap();
    let labels: Vec<String> = model
        .model()
        .fields
        .iter()
        .map(|f| f.file_label())
        .collect();
    assert_eq!(labels[1], r##"routes{route="#0"}"##);
    assert_eq!(labels[2], r##"routes{route="#0"}.label"##);
    assert_eq!(labels[3], r##"routes{route="#0"}.label.seq"##);
    assert_eq!(labels[7], r#"routes{route="__overflow__"}"#);
    let stats = model.in_memory();
    let routes = stats.dyn_family::<Gauge<i64>>("routes").unwrap();
    assert_eq!((routes.len(), routes.capacity()), (0, 2));
    assert!(routes.is_empty());
    assert!(routes.get("/a").is_none());
    routes.member("/a").set(3);
    routes.member("/b").set(4);
    routes.member("/c").set(5);
    routes.member("/d").add(1);
    assert_eq!(routes.get("/a").unwrap().get(), 3);
    assert!(routes.get("/c").is_none());
    assert_eq!(routes.overflow().get(), 6);
    assert_eq!(routes.len(), 2);
    let taken: Vec<(String, i64)> = routes.iter().map(|(v, g)| (v, g.get())).collect();
    assert_eq!(taken, [("/a".to_string(), 3), ("/b".to_string(), 4)]);
    let long = "x".repeat(RuntimeDynFamily::<Counter>::MAX_VALUE_LEN + 1);
    assert!(std::ptr::eq(routes.member(&long), routes.overflow()));
}

#[test]
fn a_dyn_family_of_the_wrong_type_or_name_is_a_typed_error() {
    let model = Schema::new()
        .counter("c")
        .family::<Counter>("f", &[("k", &["a"])])
        .dyn_family::<Counter>("d", "k", 1)
        .build()
        .unwrap();
    let stats = model.in_memory();
    assert!(stats.dyn_family::<Counter>("d").is_ok());
    assert_eq!(
        stats.dyn_family::<Gauge<u64>>("d").unwrap_err(),
        SchemaError::WrongType {
            name: "d".into(),
            declared: "run-time family",
            asked: std::any::type_name::<RuntimeDynFamily<Gauge<u64>>>(),
        }
    );
    assert!(matches!(
        stats.get::<Counter>("d"),
        Err(SchemaError::WrongType {
            declared: "run-time family",
            ..
        })
    ));
    assert!(matches!(
        stats.family::<Counter>("d"),
        Err(SchemaError::WrongType { .. })
    ));
    assert!(matches!(
        stats.dyn_family::<Counter>("c"),
        Err(SchemaError::WrongType { .. })
    ));
    assert!(matches!(
        stats.dyn_family::<Counter>("f"),
        Err(SchemaError::WrongType {
            declared: "family",
            ..
        })
    ));
    assert!(matches!(
        stats.dyn_family::<Counter>("nope"),
        Err(SchemaError::NoSuchField(_))
    ));
    // One name for a dyn family and another field.
    let e = err(Schema::new()
        .counter("d")
        .dyn_family::<Counter>("d", "k", 1));
    assert_eq!(e, SchemaError::DuplicateName { name: "d".into() });
}

#[test]
fn a_dyn_family_with_a_bad_key_is_a_typed_error() {
    for key in ["le", "cmd", "__x", "1a", "a-b", ""] {
        let e = err(Schema::new().dyn_family::<Counter>("d", key, 2));
        assert!(
            matches!(&e, SchemaError::BadLabels { label, .. } if label == "d"),
            "{key}: {e}"
        );
    }
    let e = err(Schema::new().dyn_family::<Counter>("d", "a\0b", 2));
    assert_eq!(
        e,
        SchemaError::Nul {
            what: "label name",
            text: "a\0b".into()
        }
    );
}

#[test]
fn a_dyn_family_with_no_room_or_too_much_is_a_typed_error() {
    // A counter's member is 3 file fields: 65535 / 3 = 21845 members, the
    // overflow one of them.
    assert!(Schema::new()
        .defaults(false)
        .dyn_family::<Counter>("d", "k", 21_844)
        .build()
        .is_ok());
    for capacity in [0, 21_845, 1 << 40, usize::MAX - 1, usize::MAX] {
        let e = err(Schema::new().dyn_family::<Counter>("d", "k", capacity));
        assert!(
            matches!(&e, SchemaError::BadCapacity { capacity: c, .. } if *c == capacity),
            "{capacity}: {e}"
        );
    }
    let e = err(Schema::new()
        .prefix("p.")
        .dyn_family::<Counter>("d", "k", 0));
    assert!(e.to_string().contains("\"p.d\""), "{e}");
    // Room for each member, but not for the fields beside it.
    let e = err(Schema::new()
        .counter("c")
        .dyn_family::<Counter>("d", "k", 21_844));
    assert!(matches!(e, SchemaError::TooManyFields { .. }), "{e}");
}

#[test]
fn a_dyn_family_of_a_bad_member_type_is_a_typed_error() {
    let e = err(Schema::new().dyn_family::<crate::DynFamily<Counter, 2>>("d", "k", 2));
    assert_eq!(
        e,
        SchemaError::BadType {
            label: "d".into(),
            reason: "a run-time family's field type cannot be a family"
        }
    );
    let e = err(Schema::new().dyn_family::<crate::Static<u64>>("d", "k", 2));
    assert!(
        matches!(&e, SchemaError::BadType { reason, .. } if reason.contains("static")),
        "{e}"
    );
    let e = err(Schema::new().dyn_family::<Text<0>>("d", "k", 2));
    assert!(matches!(e, SchemaError::BadType { .. }), "{e}");
    // The member type is checked before the capacity.
    let e = err(Schema::new().dyn_family::<crate::DynFamily<Counter, 2>>("d", "k", 0));
    assert!(matches!(e, SchemaError::BadType { .. }), "{e}");
}
