//! Stats known at run time: a [`Schema`] declares fields while the program
//! runs (from configuration, from plugins) where `#[derive(MmStats)]`
//! declares them when it is compiled.
//!
//! The fields are the same field types, laid out by the same functions of
//! [`crate::format`] ([`expand_specs_into`], [`layout_into`],
//! [`check_specs_in`], which the derive's generated constants call too),
//! written by the same code of [`crate::stats`], so a schema and the struct
//! that declares the same fields make byte-identical files. What the
//! derive refuses with a compile error, [`Schema::build`] refuses with a
//! [`SchemaError`].
//!
//! ```
//! use mmstats::schema::Schema;
//! use mmstats::{Counter, Gauge, Histogram};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = Schema::new()
//!     .name("worker")
//!     .prefix("app.")
//!     .counter("jobs")
//!     .help("jobs done")
//!     .gauge::<f64>("load")
//!     .histogram("latency")
//!     .unit("seconds")
//!     .family::<Counter>("requests", &[("method", &["get", "post"])])
//!     .build()?;
//! # let dir = tempfile::tempdir()?;
//! let stats = model.builder().dir(dir.path()).create()?;
//! // Look a handle up once; then an update is the derive's plain store.
//! let jobs: &Counter = stats.get("jobs")?;
//! jobs.incr();
//! stats.get::<Gauge<f64>>("load")?.set(0.5);
//! stats.get::<Histogram>("latency")?.record(0.002);
//! let requests = stats.family::<Counter>("requests")?;
//! requests.get(&["post"]).ok_or("no such member")?.incr_by(2);
//!
//! let snapshot = mmstats::reader::read_path(stats.path().ok_or("no file")?)?;
//! assert_eq!(snapshot.get("app.jobs").ok_or("no jobs")?.value.to_string(), "1");
//! assert_eq!(
//!     snapshot.get(r#"app.requests{method="post"}"#).ok_or("no member")?.value.to_string(),
//!     "2"
//! );
//! # Ok(()) }
//! ```
//!
//! A built [`RuntimeModel`] keeps its labels and layout for the rest of the
//! process (they are allocated once per [`Schema::build`] and never freed,
//! as a derived model's are in the program's binary): build a schema once
//! and create its files from the model, one per thread
//! ([`RuntimeModel::with_thread`]).

use std::any::Any;
use std::borrow::Borrow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::Error;
use crate::fields::{
    capacity_problem, dyn_parts, member_problem, Average, Counter, DynMembers, Field, Flag, Gauge,
    GaugeValue, Histogram, Place, StaticField, Summary, Text, Timer, LABEL_VALUE_BYTES,
};
use crate::file::{self, Vars};
use crate::format::{
    check_specs_in, content_size, expand_specs_into, layout_into, Decl, FieldLayout, FieldSpec,
    FieldType, Kind, Part, Signature, SpecProblem, MAX_FIELDS,
};
use crate::labels::{escape, is_label_name, LabelDim, LabelDims, MAX_LABEL_DIMS};
use crate::map::Region;
use crate::stats::{self, default_field, Backing, Model, Places, Settings, DEFAULT_LABELS};

pub use crate::labels::RESERVED_KEYS;

/// The longest model name: the size of the `sys.model` text field.
pub const MAX_NAME_LEN: usize = 64;

/// The largest file a schema may lay out: what the tools read of a file by
/// default ([`crate::reader::Limits::DEFAULT`]), so that every tool can
/// read every field.
pub const MAX_CONTENT_BYTES: usize = crate::reader::Limits::DEFAULT.max_bytes;

/// Why a schema cannot be built, or a handle not found: the run-time form
/// of the derive's compile errors.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// A field's label is empty.
    #[error("field #{index} has an empty label")]
    EmptyLabel {
        /// The field's place among the schema's declarations.
        index: usize,
    },
    /// A label, with the prefix and a family member's label set, is longer
    /// than [`crate::format::MAX_LABEL_LEN`] bytes.
    #[error("label {label:?} is {len} bytes long in the file; a label can have at most 65535")]
    LabelTooLong {
        /// The label's first 64 bytes or so.
        label: String,
        /// Its length in the file.
        len: usize,
    },
    /// A label, prefix, label name or label value contains a NUL byte,
    /// which no reader can show.
    #[error("{what} {text:?} contains a NUL byte, which no reader can show")]
    Nul {
        /// What holds it: "label", "prefix", "label value", ...
        what: &'static str,
        /// The text, its NUL escaped by `{:?}`.
        text: String,
    },
    /// Two fields have the same label in the file (a default field's
    /// included).
    #[error("duplicate label {label:?}: two fields of the schema have it")]
    DuplicateLabel {
        /// The label in the file.
        label: String,
    },
    /// Two declarations have the same name, though their labels in the
    /// file differ (a field and a family): a handle is looked up by name.
    #[error("two fields of the schema are declared as {name:?}; a handle is looked up by name, so each needs its own")]
    DuplicateName {
        /// The name declared twice.
        name: String,
    },
    /// A unit or help text is longer than 65535 bytes.
    #[error("the unit or help text of {label:?} is longer than 65535 bytes")]
    TextTooLong {
        /// The field's label.
        label: String,
    },
    /// More fields than a file can hold ([`MAX_FIELDS`]), families'
    /// members and parts counted.
    #[error("the schema makes {fields} fields; a file can hold at most 65535")]
    TooManyFields {
        /// How many file fields the schema makes (saturating).
        fields: usize,
    },
    /// The file would be larger than the tools read ([`MAX_CONTENT_BYTES`]).
    #[error("the schema's file would hold {bytes} bytes; the tools read at most {limit}")]
    FileTooLarge {
        /// The fields, terminator and metadata, in bytes.
        bytes: usize,
        /// [`MAX_CONTENT_BYTES`].
        limit: usize,
    },
    /// The field type cannot be used (a text of zero bytes, a window of
    /// zero values, a static field without a value, a family of families).
    #[error("field {label:?}: {reason}")]
    BadType {
        /// The field's label.
        label: String,
        /// What the derive would have said.
        reason: &'static str,
    },
    /// A run-time family cannot take this many label values: none, or so
    /// many that its members' fields exceed what a file holds.
    #[error("run-time family {label:?} with room for {capacity} label values: {reason}")]
    BadCapacity {
        /// The family's label.
        label: String,
        /// The capacity asked for.
        capacity: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A family's labels are not a valid set of label names and values.
    #[error("family {label:?}: {reason}")]
    BadLabels {
        /// The family's label.
        label: String,
        /// What is wrong.
        reason: String,
    },
    /// The model's name cannot go into file names and `sys.model`.
    #[error("model name {name:?}: {reason}")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// `unit` or `help` came before any field.
    #[error("`{0}` describes the field declared before it, and there is none")]
    NoFieldYet(&'static str),
    /// No field of the schema was declared under this name.
    #[error("the schema has no field {0:?}")]
    NoSuchField(String),
    /// The field was declared with another type.
    #[error("field {name:?} is a {declared}, not a {asked}")]
    WrongType {
        /// The name asked for.
        name: String,
        /// The type it was declared with.
        declared: &'static str,
        /// The type asked for.
        asked: &'static str,
    },
}

type WriteStatic = Box<dyn Fn(Place<'_>) -> Result<(), Error> + Send + Sync>;
type Bind = Box<dyn Fn(&Places<'_>, usize) -> Result<Box<dyn Any + Send>, Error> + Send + Sync>;

/// One field as the schema declares it.
struct Declared {
    /// The name it was declared under (the label without the prefix): what
    /// [`RuntimeStats::get`] looks it up by.
    name: String,
    ty: FieldType,
    parts: &'static [Part],
    /// The family's labels and their values; empty for a plain field.
    dims: Vec<(String, Vec<String>)>,
    unit: Option<String>,
    help: String,
    type_name: &'static str,
    /// Whether the type is itself a compile-time family.
    nested: bool,
    /// For a family with run-time labels: its key and capacity.
    dynamic: Option<Dynamic>,
    statics: Option<WriteStatic>,
    bind: Bind,
}

/// The key and capacity of a family with run-time labels, and why its
/// member type cannot be one, if it cannot.
struct Dynamic {
    key: String,
    capacity: usize,
    member_problem: Option<&'static str>,
    /// The member type's own parts.
    own_parts: usize,
}

/// A set of fields declared at run time; [`Schema::build`] lays them out.
///
/// Each method that declares a field adds it after the ones before, as a
/// struct's fields follow each other; [`Schema::unit`] and
/// [`Schema::help`] describe the field declared last. Mistakes are kept
/// and reported by [`Schema::build`], so that the calls chain.
#[must_use = "a schema does nothing until it is built"]
pub struct Schema {
    name: String,
    prefix: String,
    defaults: bool,
    dir: Option<String>,
    file: Option<String>,
    decls: Vec<Declared>,
    error: Option<SchemaError>,
}

impl Default for Schema {
    fn default() -> Self {
        Schema::new()
    }
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("name", &self.name)
            .field("prefix", &self.prefix)
            .field(
                "fields",
                &self.decls.iter().map(|d| &d.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Schema {
    /// An empty schema named `schema`, with the default fields.
    pub fn new() -> Schema {
        Schema {
            name: "schema".to_string(),
            prefix: String::new(),
            defaults: true,
            dir: None,
            file: None,
            decls: Vec::new(),
            error: None,
        }
    }

    /// The model's name in file names (`{MODEL}`) and in `sys.model`, as
    /// `#[mmstats(name = "...")]`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Put in front of every label, the default fields' too, as
    /// `#[mmstats(prefix = "...")]`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Whether the default fields (`sys.pid`, ...) are added, as
    /// `#[mmstats(defaults = false)]`.
    pub fn defaults(mut self, defaults: bool) -> Self {
        self.defaults = defaults;
        self
    }

    /// The directory template, as `#[mmstats(dir = "...")]`.
    pub fn dir(mut self, dir: impl Into<String>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The file name template, as `#[mmstats(file = "...")]`.
    pub fn file(mut self, template: impl Into<String>) -> Self {
        self.file = Some(template.into());
        self
    }

    /// The unit of the field declared last, as `#[mmstats(unit = "...")]`.
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        match self.decls.last_mut() {
            Some(last) => last.unit = Some(unit.into()),
            None => self.fail(SchemaError::NoFieldYet("unit")),
        }
        self
    }

    /// The help text of the field declared last, as
    /// `#[mmstats(help = "...")]` or a doc comment.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        match self.decls.last_mut() {
            Some(last) => last.help = help.into(),
            None => self.fail(SchemaError::NoFieldYet("help")),
        }
        self
    }

    /// A field of any field type `F` (a static type needs
    /// [`Schema::static_field`]).
    pub fn field<F: Field + 'static>(mut self, name: impl Into<String>) -> Self {
        self.decls.push(declared::<F>(name.into(), Vec::new()));
        self
    }

    /// A [`Counter`].
    pub fn counter(self, name: impl Into<String>) -> Self {
        self.field::<Counter>(name)
    }

    /// A [`Gauge<T>`].
    pub fn gauge<T: GaugeValue + Send + 'static>(self, name: impl Into<String>) -> Self {
        self.field::<Gauge<T>>(name)
    }

    /// A [`Flag`].
    pub fn flag(self, name: impl Into<String>) -> Self {
        self.field::<Flag>(name)
    }

    /// A [`Text<N>`] of the default 255 bytes (any other size:
    /// `field::<Text<N>>`).
    pub fn text(self, name: impl Into<String>) -> Self {
        self.field::<Text>(name)
    }

    /// An [`Average`].
    pub fn average(self, name: impl Into<String>) -> Self {
        self.field::<Average>(name)
    }

    /// A [`Timer`] of the last 100 durations.
    pub fn timer(self, name: impl Into<String>) -> Self {
        self.field::<Timer>(name)
    }

    /// A [`Summary`].
    pub fn summary(self, name: impl Into<String>) -> Self {
        self.field::<Summary>(name)
    }

    /// A [`Histogram`] of the default geometry (any other:
    /// `field::<Histogram<S, D, L>>`).
    pub fn histogram(self, name: impl Into<String>) -> Self {
        self.field::<Histogram>(name)
    }

    /// A family of `F`, one member per combination of the label values
    /// (the first label varying slowest, as in a tuple of
    /// [`Labels`](crate::Labels)): `&[("method", &["get", "post"])]`.
    pub fn family<F: Field + 'static>(
        mut self,
        name: impl Into<String>,
        labels: &[(&str, &[&str])],
    ) -> Self {
        let dims = labels
            .iter()
            .map(|(key, values)| {
                (
                    key.to_string(),
                    values.iter().map(|v| v.to_string()).collect(),
                )
            })
            .collect();
        self.decls.push(declared::<F>(name.into(), dims));
        self
    }

    /// A family of `F` whose label values come while the program runs, as
    /// a [`DynFamily<F, N>`](crate::DynFamily) field with
    /// `#[mmstats(key = "...")]`: one label `key`, room for `capacity`
    /// values and an overflow member. The file is the derive's, byte for
    /// byte; the handle is [`RuntimeStats::dyn_family`].
    pub fn dyn_family<F: Field + 'static>(
        mut self,
        name: impl Into<String>,
        key: impl Into<String>,
        capacity: usize,
    ) -> Self {
        let mut decl = declared::<F>(name.into(), Vec::new());
        decl.parts = dyn_parts::<F>();
        decl.nested = false;
        decl.type_name = "run-time family";
        decl.dynamic = Some(Dynamic {
            key: key.into(),
            capacity,
            member_problem: member_problem::<F>(),
            own_parts: F::PARTS.len(),
        });
        decl.bind = bind_dyn::<F>(capacity);
        self.decls.push(decl);
        self
    }

    /// A static field (a [`Static<T>`](crate::Static) or
    /// [`StaticText<N>`](crate::StaticText)) set to `value` in every file
    /// the model creates.
    pub fn static_field<S>(mut self, name: impl Into<String>, value: &S::Value) -> Self
    where
        S: StaticField + 'static,
        S::Value: ToOwned,
        <S::Value as ToOwned>::Owned: Send + Sync + 'static,
    {
        let owned = value.to_owned();
        let mut decl = declared::<S>(name.into(), Vec::new());
        decl.statics = Some(Box::new(move |place: Place<'_>| {
            S::write_value(&place.of_type(&S::TYPE)?, owned.borrow())
        }));
        self.decls.push(decl);
        self
    }

    fn fail(&mut self, error: SchemaError) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    /// Checks and lays out the schema: every label, type and family, the
    /// number of fields and the file's size.
    pub fn build(self) -> Result<RuntimeModel, SchemaError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        check_name(&self.name)?;
        if self.prefix.contains('\0') {
            return Err(SchemaError::Nul {
                what: "prefix",
                text: self.prefix,
            });
        }
        let mut decls = Vec::with_capacity(self.decls.len());
        let mut count: usize = 0;
        for d in &self.decls {
            let label = format!("{}{}", self.prefix, d.name);
            if let Some(reason) = d.ty.error {
                return Err(SchemaError::BadType { label, reason });
            }
            if let Some(dynamic) = &d.dynamic {
                let decl = dyn_decl(&label, d, dynamic)?;
                count = count.saturating_add(decl.field_count());
                decls.push(decl);
                continue;
            }
            if d.ty.kind == Kind::Static && d.statics.is_none() {
                return Err(SchemaError::BadType {
                    label,
                    reason: "a static field is set once, when the file is created: declare it with `static_field` and a value",
                });
            }
            if d.nested {
                return Err(SchemaError::BadType {
                    label,
                    reason: "a compile-time `Family` cannot be a field of a schema: declare it with `family` and its labels",
                });
            }
            let members = if d.dims.is_empty() {
                &LabelDims::NONE
            } else {
                if d.ty.kind == Kind::Static {
                    return Err(SchemaError::BadType {
                        label,
                        reason: "a family of static fields is not supported: a static value is set once per file",
                    });
                }
                leak(label_dims(&label, &d.dims)?)
            };
            let decl = Decl {
                spec: spec_of(&label, d),
                parts: d.parts,
                members,
            };
            count = count.saturating_add(decl.field_count());
            decls.push(decl);
        }
        let defaults: Vec<FieldSpec> = if self.defaults {
            DEFAULT_LABELS
                .iter()
                .enumerate()
                .map(|(i, suffix)| default_field(i, leak_str(&format!("{}{suffix}", self.prefix))))
                .collect()
        } else {
            Vec::new()
        };
        let own = count;
        let total = count.saturating_add(defaults.len());
        if total > MAX_FIELDS {
            return Err(SchemaError::TooManyFields { fields: total });
        }
        // The derive's own three steps, on the heap instead of in consts.
        let mut specs = vec![FieldSpec::new("", Signature::EMPTY_TYPE, "", ""); total];
        let written = expand_specs_into(&decls, &defaults, &mut specs);
        if written != total {
            return Err(SchemaError::TooManyFields { fields: total });
        }
        let mut layouts = vec![FieldLayout::EMPTY; total];
        layout_into(&specs, &mut layouts);
        let mut scratch = [
            vec![0usize; total],
            vec![0usize; total],
            vec![0usize; total],
            vec![0usize; total],
        ];
        let [a, b, c, d] = &mut scratch;
        if let Some((problem, at)) = check_specs_in(&specs, [a, b, c, d]) {
            return Err(spec_error(problem, at, &specs, &self.decls, &decls));
        }
        // Labels in the file are all distinct now; two names may still be
        // one (a field `req` and a family `req{..}`), and a handle is found
        // by name.
        let mut names = std::collections::HashSet::with_capacity(self.decls.len());
        if let Some(d) = self.decls.iter().find(|d| !names.insert(d.name.as_str())) {
            return Err(SchemaError::DuplicateName {
                name: d.name.clone(),
            });
        }
        let bytes = content_size(&specs, &layouts);
        if bytes > MAX_CONTENT_BYTES {
            return Err(SchemaError::FileTooLarge {
                bytes,
                limit: MAX_CONTENT_BYTES,
            });
        }
        let mut first = Vec::with_capacity(decls.len());
        let mut at = 0;
        for decl in &decls {
            first.push(at);
            at += decl.field_count();
        }
        let model = Model {
            name: "Schema",
            short_name: leak_str(&self.name),
            fields: Vec::leak(specs),
            layout: Vec::leak(layouts),
            own_fields: own,
            content_size: bytes,
            dir: self.dir.as_deref().map(leak_str),
            file: self.file.as_deref().map(leak_str),
        };
        let fields = self
            .decls
            .into_iter()
            .zip(first)
            .map(|(d, first)| Compiled {
                first,
                dims: Arc::new(d.dims),
                name: d.name,
                type_name: d.type_name,
                statics: d.statics,
                bind: d.bind,
            })
            .collect::<Vec<_>>();
        let by_name = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        Ok(RuntimeModel {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                model: leak(model),
                fields,
                by_name,
            }),
        })
    }
}

/// The main value's spec of a declaration labelled `label`.
fn spec_of(label: &str, d: &Declared) -> FieldSpec {
    let unit = d.unit.as_deref().unwrap_or("");
    FieldSpec::new(
        leak_str(label),
        d.ty,
        if unit.is_empty() { "" } else { leak_str(unit) },
        if d.help.is_empty() {
            ""
        } else {
            leak_str(&d.help)
        },
    )
}

/// A family with run-time labels checked and laid out as the derive lays
/// out a `DynFamily<F, N>` field with `#[mmstats(key = "...")]`.
fn dyn_decl(label: &str, d: &Declared, dynamic: &Dynamic) -> Result<Decl, SchemaError> {
    if let Some(reason) = dynamic.member_problem {
        return Err(SchemaError::BadType {
            label: label.to_string(),
            reason,
        });
    }
    if let Some(reason) = capacity_problem(dynamic.capacity, dynamic.own_parts) {
        return Err(SchemaError::BadCapacity {
            label: label.to_string(),
            capacity: dynamic.capacity,
            reason,
        });
    }
    check_key(label, &dynamic.key)?;
    let members = LabelDims::dynamic(dynamic.capacity).keyed(leak_str(&dynamic.key));
    if let Some(reason) = members.error {
        return Err(SchemaError::BadLabels {
            label: label.to_string(),
            reason: reason.to_string(),
        });
    }
    Ok(Decl {
        spec: spec_of(label, d),
        parts: d.parts,
        members: leak(members),
    })
}

fn declared<F: Field + 'static>(name: String, dims: Vec<(String, Vec<String>)>) -> Declared {
    let bind = if dims.is_empty() {
        bind_one::<F>()
    } else {
        bind_family::<F>(Arc::new(dims.clone()))
    };
    Declared {
        name,
        ty: F::TYPE,
        parts: F::PARTS,
        dims,
        unit: None,
        help: String::new(),
        type_name: std::any::type_name::<F>(),
        nested: !F::MEMBERS.is_empty(),
        dynamic: None,
        statics: None,
        bind,
    }
}

/// Binds a plain field's handle, as the derive's `__bind` does.
fn bind_one<F: Field + 'static>() -> Bind {
    Box::new(|places: &Places<'_>, first: usize| {
        let place = places.place(first)?.of_type(&F::TYPE)?;
        Ok(Box::new(F::bind(&place)?) as Box<dyn Any + Send>)
    })
}

/// Binds a family's members: member `m` starts `m` times one member's
/// fields after the first, as in [`crate::Family`].
fn bind_family<F: Field + 'static>(dims: Arc<Vec<(String, Vec<String>)>>) -> Bind {
    let stride = 1 + F::PARTS.len();
    Box::new(move |places: &Places<'_>, first: usize| {
        let count = dims
            .iter()
            .fold(1usize, |n, (_, v)| n.saturating_mul(v.len()));
        let mut members = Vec::with_capacity(count);
        for m in 0..count {
            let at = m
                .checked_mul(stride)
                .and_then(|at| at.checked_add(first))
                .ok_or(Error::Layout {
                    label: String::new(),
                })?;
            let place = places.place(at)?.of_type(&F::TYPE)?;
            members.push(F::bind(&place)?);
        }
        Ok(Box::new(RuntimeFamily {
            members,
            dims: Arc::clone(&dims),
        }) as Box<dyn Any + Send>)
    })
}

/// Binds a family with run-time labels, as the derive binds a
/// `DynFamily<F, N>` (the same code, the capacity a value).
fn bind_dyn<F: Field + 'static>(capacity: usize) -> Bind {
    Box::new(move |places: &Places<'_>, first: usize| {
        let members = DynMembers::<F>::bind(&places.place(first)?, capacity)?;
        Ok(Box::new(RuntimeDynFamily { members }) as Box<dyn Any + Send>)
    })
}

/// The typed error for the problem the shared check found at file field
/// `at`.
fn spec_error(
    problem: SpecProblem,
    at: usize,
    specs: &[FieldSpec],
    declared: &[Declared],
    decls: &[Decl],
) -> SchemaError {
    let label = specs.get(at).map(FieldSpec::file_label).unwrap_or_default();
    match problem {
        SpecProblem::TooManyFields => SchemaError::TooManyFields {
            fields: specs.len(),
        },
        SpecProblem::EmptyLabel => {
            // The declaration that made file field `at`.
            let mut n = 0;
            let index = decls
                .iter()
                .position(|d| {
                    n += d.field_count();
                    n > at
                })
                .unwrap_or(declared.len());
            SchemaError::EmptyLabel { index }
        }
        SpecProblem::LabelTooLong => SchemaError::LabelTooLong {
            len: specs.get(at).map_or(0, FieldSpec::label_len),
            label: shorten(&label),
        },
        SpecProblem::Nul => SchemaError::Nul {
            what: "label",
            text: label,
        },
        SpecProblem::TextTooLong => SchemaError::TextTooLong {
            label: shorten(&label),
        },
        SpecProblem::Duplicate => SchemaError::DuplicateLabel { label },
    }
}

fn shorten(label: &str) -> String {
    let mut end = label.len().min(64);
    while !label.is_char_boundary(end) {
        end -= 1;
    }
    label.get(..end).unwrap_or("").to_string()
}

/// The rules of `#[mmstats(name = "...")]`.
fn check_name(name: &str) -> Result<(), SchemaError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.len() > MAX_NAME_LEN {
        "is longer than the 64 bytes that fit"
    } else if name.starts_with('.') || !name.chars().all(ok_char) {
        "goes into file names: use only ASCII letters, digits, `_`, `-` and `.`, and do not start it with `.`"
    } else {
        return Ok(());
    };
    Err(SchemaError::BadName {
        name: name.to_string(),
        reason,
    })
}

/// A family's label name checked as `#[derive(Labels)]` checks one.
fn check_key(label: &str, key: &str) -> Result<(), SchemaError> {
    let bad = |reason: String| SchemaError::BadLabels {
        label: label.to_string(),
        reason,
    };
    if key.contains('\0') {
        return Err(SchemaError::Nul {
            what: "label name",
            text: key.to_string(),
        });
    }
    if !is_label_name(key) {
        return Err(bad(format!("{key:?} is not a Prometheus label name: ASCII letters, digits and `_`, not starting with a digit")));
    }
    if key.starts_with("__") {
        return Err(bad(format!(
            "label names starting with `__` are reserved by Prometheus ({key:?})"
        )));
    }
    if RESERVED_KEYS.contains(&key) {
        return Err(bad(format!(
            "the label name `{key}` is taken by the tools, which put {} beside a family's labels",
            RESERVED_KEYS.join(", ")
        )));
    }
    Ok(())
}

/// A family's labels checked as `#[derive(Labels)]` checks an enum's and a
/// tuple's, then spelt as the derive spells them.
fn label_dims(label: &str, dims: &[(String, Vec<String>)]) -> Result<LabelDims, SchemaError> {
    let bad = |reason: String| SchemaError::BadLabels {
        label: label.to_string(),
        reason,
    };
    if dims.len() > MAX_LABEL_DIMS {
        return Err(bad(format!(
            "a family can have at most {MAX_LABEL_DIMS} labels, not {}",
            dims.len()
        )));
    }
    let mut out: Option<LabelDims> = None;
    for (key, values) in dims {
        check_key(label, key)?;
        if values.is_empty() {
            return Err(bad(format!("label {key:?} has no values")));
        }
        let mut seen = std::collections::HashSet::new();
        for value in values {
            if value.is_empty() {
                return Err(bad(format!("label {key:?} has an empty value")));
            }
            if value.contains('\0') {
                return Err(SchemaError::Nul {
                    what: "label value",
                    text: value.clone(),
                });
            }
            if !seen.insert(value) {
                return Err(SchemaError::DuplicateLabel {
                    label: format!("{label}{{{key}=\"{}\"}}", escape(value)),
                });
            }
        }
        let pairs: Vec<&'static str> = values
            .iter()
            .map(|v| leak_str(&format!("{key}=\"{}\"", escape(v))))
            .collect();
        let dim = LabelDims::one(LabelDim {
            key: leak_str(key),
            pairs: Vec::leak(pairs),
        });
        out = Some(match out {
            None => dim,
            Some(before) => LabelDims::concat(&before, &dim),
        });
    }
    let out = out.unwrap_or(LabelDims::NONE);
    match out.error {
        Some(reason) => Err(bad(reason.to_string())),
        None => Ok(out),
    }
}

fn leak_str(text: &str) -> &'static str {
    Box::leak(text.to_string().into_boxed_str())
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One declared field of a built model.
struct Compiled {
    name: String,
    /// Its main value's index among the file fields.
    first: usize,
    dims: Arc<Vec<(String, Vec<String>)>>,
    type_name: &'static str,
    statics: Option<WriteStatic>,
    bind: Bind,
}

struct Inner {
    id: u64,
    model: &'static Model,
    fields: Vec<Compiled>,
    by_name: HashMap<String, usize>,
}

/// A laid-out schema: what a derived struct's `MODEL` is, made at run
/// time. Cheap to clone; create its files with [`RuntimeModel::create`],
/// [`RuntimeModel::builder`] or, one per thread,
/// [`RuntimeModel::with_thread`].
#[derive(Clone)]
pub struct RuntimeModel {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RuntimeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeModel")
            .field("name", &self.inner.model.short_name)
            .field("fields", &self.inner.model.fields.len())
            .finish_non_exhaustive()
    }
}

impl RuntimeModel {
    /// Every label, type and offset, as [`MmStats::MODEL`](crate::MmStats::MODEL)
    /// holds them for a derived struct.
    pub fn model(&self) -> &'static Model {
        self.inner.model
    }

    /// Creates this model's file for the calling thread, named by the
    /// schema's settings, `MMSTATS_PATH` and `MMSTATS_FILES`, or the
    /// defaults (see [`crate::Builder::create`]).
    pub fn create(&self) -> Result<RuntimeStats, Error> {
        self.builder().create()
    }

    /// Settings for creating this model's file.
    pub fn builder(&self) -> RuntimeBuilder {
        RuntimeBuilder {
            model: self.clone(),
            dir: None,
            file: None,
            cmd: None,
            mode: file::DEFAULT_MODE,
        }
    }

    /// A stats object with no file, as [`crate::Stats::in_memory`].
    pub fn in_memory(&self) -> RuntimeStats {
        let model = self.inner.model;
        let mut region = Region::memory(model.content_size);
        let statics = |places: &Places<'_>| self.write_statics(places);
        let made = stats::initialize(&mut region, model, &statics, &Vars::current())
            .and_then(|()| self.bind(&region));
        match made {
            Ok(handles) => RuntimeStats {
                handles,
                region,
                file: None,
                model: self.clone(),
                _not_sync: PhantomData,
            },
            // The region is sized from the layout `build` checked.
            Err(e) => unreachable!("mmstats: in-memory layout failed: {e}"),
        }
    }

    fn write_statics(&self, places: &Places<'_>) -> Result<(), Error> {
        for field in &self.inner.fields {
            if let Some(write) = &field.statics {
                write(places.place(field.first)?)?;
            }
        }
        Ok(())
    }

    fn bind(&self, region: &Region) -> Result<Vec<Box<dyn Any + Send>>, Error> {
        let places = Places {
            region,
            model: self.inner.model,
        };
        self.inner
            .fields
            .iter()
            .map(|field| (field.bind)(&places, field.first))
            .collect()
    }

    /// Runs `f` with the calling thread's own stats object for this model,
    /// creating its file on first use, as
    /// [`MmStats::with_thread`](crate::MmStats::with_thread): each thread
    /// writes its own file. If the file cannot be created, the thread's
    /// stats are kept in memory and the reason is printed once.
    pub fn with_thread<R>(&self, f: impl FnOnce(&RuntimeStats) -> R) -> R {
        match self.thread_stats(true) {
            Ok(stats) => f(&stats),
            Err(_) => f(&self.in_memory()),
        }
    }

    /// Like [`RuntimeModel::with_thread`], but returns the error if the
    /// thread's file cannot be created (and tries again on the next call).
    pub fn try_with_thread<R>(&self, f: impl FnOnce(&RuntimeStats) -> R) -> Result<R, Error> {
        let stats = self.thread_stats(false)?;
        Ok(f(&stats))
    }

    fn thread_stats(&self, fallback: bool) -> Result<Rc<RuntimeStats>, Error> {
        let generation = crate::map::fork_generation();
        let id = self.inner.id;
        let found = THREAD_STATS.try_with(|slots| {
            let slots = slots.try_borrow().ok()?;
            slots
                .iter()
                .find(|(i, g, _)| *i == id && *g == generation)
                .map(|(_, _, stats)| Rc::clone(stats))
        });
        if let Ok(Some(stats)) = found {
            return Ok(stats);
        }
        let stats = match self.create() {
            Ok(stats) => stats,
            Err(e) if fallback => {
                eprintln!(
                    "mmstats: {e}; the stats of schema {} in this thread are kept in memory only",
                    self.inner.model.short_name
                );
                self.in_memory()
            }
            Err(e) => return Err(e),
        };
        let stats = Rc::new(stats);
        let _ = THREAD_STATS.try_with(|slots| {
            if let Ok(mut slots) = slots.try_borrow_mut() {
                // A parent's stats, in a child after fork(), are replaced.
                slots.retain(|(i, _, _)| *i != id);
                slots.push((id, generation, Rc::clone(&stats)));
            }
        });
        Ok(stats)
    }
}

type ThreadStats = Vec<(u64, u64, Rc<RuntimeStats>)>;

thread_local! {
    /// Each thread's stats objects of run-time models: the model's id, the
    /// fork generation they were made in, the stats.
    static THREAD_STATS: RefCell<ThreadStats> = const { RefCell::new(Vec::new()) };
}

/// How to create a run-time model's file: as [`crate::Builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `create` is called"]
pub struct RuntimeBuilder {
    model: RuntimeModel,
    dir: Option<PathBuf>,
    file: Option<String>,
    cmd: Option<String>,
    mode: u32,
}

impl RuntimeBuilder {
    /// The directory for the file (see [`crate::Builder::dir`]).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The file name template (see [`crate::Builder::file`]).
    pub fn file(mut self, template: impl Into<String>) -> Self {
        self.file = Some(template.into());
        self
    }

    /// The command the file says it belongs to (see [`crate::Builder::cmd`]).
    pub fn cmd(mut self, cmd: impl Into<String>) -> Self {
        self.cmd = Some(cmd.into());
        self
    }

    /// The permission bits of the new file (0644 by default).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o7777;
        self
    }

    fn settings(&self) -> Settings<'_> {
        Settings {
            dir: self.dir.as_deref(),
            file: self.file.as_deref(),
            cmd: self.cmd.as_deref(),
            mode: self.mode,
        }
    }

    /// The directory and file name template this builder would use.
    pub fn templates(&self) -> (PathBuf, String) {
        self.settings().templates(self.model.inner.model)
    }

    /// Creates the file exactly as [`crate::Builder::create`] does (the
    /// same code: a finished file of this process under the name is
    /// continued the same way).
    pub fn create(self) -> Result<RuntimeStats, Error> {
        let model = &self.model;
        let statics = |places: &Places<'_>| model.write_statics(places);
        let (region, backing) = self.settings().create(model.inner.model, &statics)?;
        let handles = model.bind(&region)?;
        Ok(RuntimeStats {
            handles,
            region,
            file: Some(backing),
            model: self.model,
            _not_sync: PhantomData,
        })
    }
}

/// A live run-time stats object: the handles of a [`RuntimeModel`]'s
/// fields and the file they write, as [`crate::Stats`] is a derived
/// struct's. One writer per file: it can be sent to another thread but not
/// shared.
pub struct RuntimeStats {
    // Declared before `region`, so the handles are dropped before the memory
    // they point into is unmapped.
    handles: Vec<Box<dyn Any + Send>>,
    region: Region,
    file: Option<Backing>,
    model: RuntimeModel,
    _not_sync: PhantomData<Cell<()>>,
}

impl std::fmt::Debug for RuntimeStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeStats")
            .field("model", &self.model.inner.model.short_name)
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

impl RuntimeStats {
    /// The handle of the field declared as `name` (without the prefix), of
    /// type `F`. Look it up once and keep the reference: an update through
    /// it is the same store as through a derived struct's field.
    pub fn get<F: Field + 'static>(&self, name: &str) -> Result<&F, SchemaError> {
        self.handle::<F>(name)
    }

    /// The members of the family declared as `name`, each an `F`.
    pub fn family<F: Field + 'static>(&self, name: &str) -> Result<&RuntimeFamily<F>, SchemaError> {
        self.handle::<RuntimeFamily<F>>(name)
    }

    /// The family with run-time labels declared as `name`
    /// ([`Schema::dyn_family`]), each member an `F`.
    pub fn dyn_family<F: Field + 'static>(
        &self,
        name: &str,
    ) -> Result<&RuntimeDynFamily<F>, SchemaError> {
        self.handle::<RuntimeDynFamily<F>>(name)
    }

    fn handle<H: 'static>(&self, name: &str) -> Result<&H, SchemaError> {
        let inner = &self.model.inner;
        let index = *inner
            .by_name
            .get(name)
            .ok_or_else(|| SchemaError::NoSuchField(name.to_string()))?;
        let field = inner
            .fields
            .get(index)
            .ok_or_else(|| SchemaError::NoSuchField(name.to_string()))?;
        self.handles
            .get(index)
            .and_then(|h| h.downcast_ref::<H>())
            .ok_or_else(|| SchemaError::WrongType {
                name: name.to_string(),
                declared: if field.dims.is_empty() {
                    field.type_name
                } else {
                    "family"
                },
                asked: std::any::type_name::<H>(),
            })
    }

    /// Takes the handle of declared field `index` out, for a caller that
    /// keeps it beside this object and drops it first (the `metrics`
    /// recorder's thread state): the handle must not outlive the mapping.
    #[cfg(feature = "metrics")]
    pub(crate) fn take_handle<H: 'static>(&mut self, index: usize) -> Option<H> {
        let slot = self.handles.get_mut(index)?;
        if !slot.is::<H>() {
            return None;
        }
        let handle = std::mem::replace(slot, Box::new(()));
        handle.downcast::<H>().ok().map(|h| *h)
    }

    /// The model it was made from.
    pub fn model(&self) -> &RuntimeModel {
        &self.model
    }

    /// The path of the file, or `None` for a stats object in memory.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(Backing::path)
    }

    /// As [`crate::Stats::flush`].
    pub fn flush(&self) -> Result<(), Error> {
        stats::flush(&self.region, self.file.as_ref(), true)
    }

    /// As [`crate::Stats::flush_async`].
    pub fn flush_async(&self) -> Result<(), Error> {
        stats::flush(&self.region, self.file.as_ref(), false)
    }

    /// As [`crate::Stats::remove`].
    pub fn remove(self) -> Result<Vec<PathBuf>, Error> {
        let RuntimeStats {
            handles,
            region,
            file,
            ..
        } = self;
        drop(handles);
        stats::remove(region, file)
    }
}

/// The members of a family declared at run time: one `F` per combination
/// of its label values, in file order.
pub struct RuntimeFamily<F> {
    members: Vec<F>,
    dims: Arc<Vec<(String, Vec<String>)>>,
}

impl<F: std::fmt::Debug> std::fmt::Debug for RuntimeFamily<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.members).finish()
    }
}

impl<F> RuntimeFamily<F> {
    /// The member whose label values are `values`, one per label in the
    /// declared order; `None` if one is not among its label's values.
    /// (Look the member up once and keep the reference: the search
    /// compares texts.)
    pub fn get(&self, values: &[&str]) -> Option<&F> {
        if values.len() != self.dims.len() {
            return None;
        }
        let mut index = 0usize;
        for ((_, known), value) in self.dims.iter().zip(values) {
            let at = known.iter().position(|k| k == value)?;
            index = index.checked_mul(known.len())?.checked_add(at)?;
        }
        self.members.get(index)
    }

    /// Member `index`, in file order.
    pub fn member(&self, index: usize) -> Option<&F> {
        self.members.get(index)
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are none (never, for a built family).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Every member, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &F> + '_ {
        self.members.iter()
    }
}

#[cfg(test)]
mod tests;

/// The members of a family with run-time labels declared by
/// [`Schema::dyn_family`]: what a [`DynFamily<F, N>`](crate::DynFamily)
/// field is, its capacity a value, and the same code behind it.
///
/// ```
/// use mmstats::schema::Schema;
/// use mmstats::Counter;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let model = Schema::new()
///     .prefix("web.")
///     .dyn_family::<Counter>("routes", "route", 2)
///     .build()?;
/// let stats = model.in_memory();
/// let routes = stats.dyn_family::<Counter>("routes")?;
/// let items = routes.member("/api/items"); // keep the `&Counter`
/// items.incr();
/// routes.member("/health").incr();
/// routes.member("/api/users").incr(); // a third value: the overflow
/// assert_eq!(items.get(), 1);
/// assert_eq!(routes.overflow().get(), 1);
/// assert_eq!((routes.len(), routes.capacity()), (2, 2));
/// # Ok(()) }
/// ```
pub struct RuntimeDynFamily<F> {
    members: DynMembers<F>,
}

impl<F: std::fmt::Debug> std::fmt::Debug for RuntimeDynFamily<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.members.debug_map(f)
    }
}

impl<F> RuntimeDynFamily<F> {
    /// The longest label value in bytes, as
    /// [`DynFamily::MAX_VALUE_LEN`](crate::DynFamily::MAX_VALUE_LEN).
    pub const MAX_VALUE_LEN: usize = LABEL_VALUE_BYTES - 1;

    /// The member for `value`: the one that already has it, else the next
    /// free one, whose label is published before this returns; the overflow
    /// member when all are taken or `value` cannot be a label value (empty,
    /// longer than [`Self::MAX_VALUE_LEN`], with a NUL, or `__overflow__`).
    /// The lookup hashes `value`: keep the `&F`.
    pub fn member(&self, value: &str) -> &F {
        self.members.member(value)
    }

    /// The member that already has `value`, without taking one.
    pub fn get(&self, value: &str) -> Option<&F> {
        self.members.get(value)
    }

    /// The overflow member, labelled `{key="__overflow__"}`.
    pub fn overflow(&self) -> &F {
        self.members.overflow()
    }

    /// How many label values the family has taken.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether no label value was taken yet.
    pub fn is_empty(&self) -> bool {
        self.members.len() == 0
    }

    /// The most label values the family takes, besides the overflow: the
    /// capacity it was declared with.
    pub fn capacity(&self) -> usize {
        self.members.capacity()
    }

    /// Every member taken, with its label value, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (String, &F)> + '_ {
        self.members.iter()
    }
}
