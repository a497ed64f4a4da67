//! The stats object: a model's handles together with the memory they write.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::marker::PhantomData;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Error;
use crate::fields::{write_buffer_byte, Place};
use crate::file::{self, Vars};
use crate::format::{
    FieldLayout, FieldSpec, FieldType, Kind, Signature, META_MAGIC, META_VERSION, TERMINATOR_BYTES,
    VERSION,
};
use crate::map::Region;
use crate::MmStats;

/// The compile-time description of a model: its fields' labels, types and
/// places, and its file settings. The derive makes one per struct as
/// `<T as MmStats>::MODEL`.
#[derive(Debug)]
pub struct Model {
    /// The struct's name.
    pub name: &'static str,
    /// The model's name in file names (`{MODEL}`) and in the `sys.model`
    /// field: `#[mmstats(name = "...")]`, else the struct's name in snake
    /// case (`WebStats`: `web_stats`).
    pub short_name: &'static str,
    /// Every field, the model's own first, then the default fields.
    pub fields: &'static [FieldSpec],
    /// Where each field sits, in the same order.
    pub layout: &'static [FieldLayout],
    /// How many of the fields are the struct's own (the rest are defaults).
    pub own_fields: usize,
    /// Bytes of the version, fields, terminator and metadata.
    pub content_size: usize,
    /// Directory template from `#[mmstats(dir = "...")]`.
    pub dir: Option<&'static str>,
    /// File name template from `#[mmstats(file = "...")]`.
    pub file: Option<&'static str>,
}

/// One default field: what every file carries unless its model says
/// `defaults = false`.
#[derive(Clone, Copy, Debug)]
pub struct DefaultField {
    /// The label, after the model's prefix.
    pub label: &'static str,
    /// How a reader tells the field by its label's ending in a file of any
    /// writer (the original writes `org.python.version`).
    pub ending: &'static str,
    /// Its type.
    pub ty: FieldType,
    /// Its unit.
    pub unit: &'static str,
    /// Its help text.
    pub help: &'static str,
}

/// The default fields, in file order: the one table of them, read by the
/// writer, by the reader (which kinds they have in a file without
/// metadata) and by the derive's check (a const assertion compares the
/// derive's labels with [`DEFAULT_LABELS`]).
pub const DEFAULT_FIELDS: [DefaultField; 8] = [
    default_row(
        "sys.pid",
        static_number(b'I', 4),
        "",
        "process id of the writer",
    ),
    default_row(
        "sys.tid",
        static_number(b'q', 8),
        "",
        "operating system thread id of the writer",
    ),
    default_row(
        "sys.uid",
        static_number(b'Q', 8),
        "",
        "user id of the writer",
    ),
    default_row(
        "sys.gid",
        static_number(b'Q', 8),
        "",
        "group id of the writer",
    ),
    default_row(
        "sys.created",
        static_number(b'd', 8),
        "seconds",
        "creation time, Unix seconds",
    ),
    DefaultField {
        label: "org.rust-lang.version",
        ending: ".version",
        ty: crate::fields::text_field_type(VERSION_TEXT_SIZE),
        unit: "",
        help: "compiler and mmstats version of the writer",
    },
    DefaultField {
        label: "sys.cmd",
        ending: "sys.cmd",
        ty: crate::fields::text_field_type(CMD_TEXT_SIZE),
        unit: "",
        help: "the program's name, as {CMD} gives it",
    },
    DefaultField {
        label: "sys.model",
        ending: "sys.model",
        ty: crate::fields::text_field_type(MODEL_TEXT_SIZE),
        unit: "",
        help: "the model's name, as {MODEL} gives it",
    },
];

/// Size of the text of the `sys.cmd` default field.
const CMD_TEXT_SIZE: usize = 128;

/// Size of the text of the `sys.model` default field (the derive refuses
/// longer names).
const MODEL_TEXT_SIZE: usize = 64;

const fn default_row(
    label: &'static str,
    ty: FieldType,
    unit: &'static str,
    help: &'static str,
) -> DefaultField {
    DefaultField {
        label,
        ending: label,
        ty,
        unit,
        help,
    }
}

/// The default fields' labels, after the model's prefix, in file order.
pub const DEFAULT_LABELS: [&str; 8] = {
    let mut labels = [""; 8];
    let mut i = 0;
    while i < DEFAULT_FIELDS.len() {
        labels[i] = DEFAULT_FIELDS[i].label;
        i += 1;
    }
    labels
};

/// Size of the text of the `org.rust-lang.version` default field.
const VERSION_TEXT_SIZE: usize = 256;

/// The compiler and crate version written into `org.rust-lang.version`.
pub const VERSION_TEXT: &str = concat!(
    env!("MMSTATS_RUSTC_VERSION"),
    "; mmstats ",
    env!("CARGO_PKG_VERSION")
);

const fn static_number(code: u8, size: usize) -> FieldType {
    FieldType {
        signature: Signature::code(code),
        value_size: size,
        align: size,
        buffered: false,
        kind: Kind::Static,
        default_unit: "",
        error: None,
    }
}

/// The spec of default field `index` (see [`DEFAULT_FIELDS`]) under
/// `label` (the model's prefix and the field's label).
pub const fn default_field(index: usize, label: &'static str) -> FieldSpec {
    let row = if index < DEFAULT_FIELDS.len() {
        DEFAULT_FIELDS[index]
    } else {
        DEFAULT_FIELDS[DEFAULT_FIELDS.len() - 1]
    };
    FieldSpec::new(label, row.ty, row.unit, row.help)
}

/// How to create a stats object: where, under which name, with which mode.
///
/// Settings given here win over the model's attributes, which win over the
/// environment (`MMSTATS_PATH`, `MMSTATS_FILES`), which wins over the
/// defaults ([`file::default_dir`]: `/dev/shm` where it is a tmpfs, else the
/// temporary directory; `{CMD}-{PID}-{TID}-{MODEL}.mmstats`; 0644).
#[derive(Debug)]
#[must_use = "a builder does nothing until `create` is called"]
pub struct Builder<T> {
    dir: Option<PathBuf>,
    file: Option<String>,
    cmd: Option<String>,
    mode: u32,
    _model: PhantomData<fn() -> T>,
}

impl<T: MmStats> Default for Builder<T> {
    fn default() -> Self {
        Builder {
            dir: None,
            file: None,
            cmd: None,
            mode: file::DEFAULT_MODE,
            _model: PhantomData,
        }
    }
}

impl<T: MmStats> Builder<T> {
    /// The directory for the file; `{CMD}`, `{PID}` and `{TID}` are
    /// substituted in it too.
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    /// The file name template.
    pub fn file(mut self, template: impl Into<String>) -> Self {
        self.file = Some(template.into());
        self
    }

    /// The command the file says it belongs to, in `{CMD}` and in its
    /// `sys.cmd` field, which readers group files by: the program's file
    /// name unless set here (a program installed under several names, or
    /// one that wants a name of its own in `/metrics`).
    pub fn cmd(mut self, cmd: impl Into<String>) -> Self {
        self.cmd = Some(cmd.into());
        self
    }

    /// The permission bits of the new file (0644 by default).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o7777;
        self
    }

    /// The directory and file name template this builder would use.
    pub fn templates(&self) -> (PathBuf, String) {
        self.settings().templates(&T::MODEL)
    }

    fn settings(&self) -> Settings<'_> {
        Settings {
            dir: self.dir.as_deref(),
            file: self.file.as_deref(),
            cmd: self.cmd.as_deref(),
            mode: self.mode,
        }
    }

    /// Creates the file, writes every header and static value, and gives the
    /// file its final name, all before returning. The calling thread's id is
    /// the `{TID}`.
    ///
    /// When a finished file of this same process has the name (a thread
    /// that ended left it, and the new thread was given its id), the new file
    /// replaces it and continues its counters (with the groups they belong
    /// to, such as a [`Summary`](crate::Summary)'s) and its `sys.created`,
    /// so that the process's totals never drop.
    pub fn create(self) -> Result<Stats<T>, Error> {
        let (region, backing) = self.settings().create(&T::MODEL, &T::__write_statics)?;
        let model = bind::<T>(&region)?;
        Ok(Stats {
            model,
            region,
            file: Some(backing),
            _not_sync: PhantomData,
        })
    }
}

/// A builder's settings, apart from the model: what creating a file of a
/// derived model ([`Builder`]) and of a run-time one
/// ([`crate::schema`]) share.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings<'a> {
    pub(crate) dir: Option<&'a Path>,
    pub(crate) file: Option<&'a str>,
    pub(crate) cmd: Option<&'a str>,
    pub(crate) mode: u32,
}

/// Writes a model's static values into a fresh file (the derive's
/// `__write_statics`, or a run-time schema's).
pub(crate) type WriteStatics<'s> = dyn Fn(&Places<'_>) -> Result<(), Error> + 's;

impl Settings<'_> {
    /// The directory and file name template for `model`.
    pub(crate) fn templates(&self, model: &Model) -> (PathBuf, String) {
        let dir = match (self.dir, model.dir) {
            (Some(dir), _) => dir.to_path_buf(),
            (None, Some(dir)) => PathBuf::from(dir),
            (None, None) => file::default_dir_for_writer(),
        };
        let template = match (self.file, model.file) {
            (Some(file), _) => file.to_string(),
            (None, Some(file)) => file.to_string(),
            (None, None) => file::default_file_template(),
        };
        (dir, template)
    }

    /// Creates, fills and publishes the file of `model` (see
    /// [`Builder::create`]), and gives back its mapping, ready for binding.
    pub(crate) fn create(
        &self,
        model: &Model,
        statics: &WriteStatics<'_>,
    ) -> Result<(Region, Backing), Error> {
        let (dir_template, template) = self.templates(model);
        let mut vars = Vars::current();
        vars.model = model.short_name.to_string();
        if let Some(cmd) = self.cmd {
            vars.cmd = cmd.to_string();
        }
        let dir = PathBuf::from(file::expand(&dir_template.to_string_lossy(), &vars)?);
        let name = file::expand(&template, &vars)?;
        let size = crate::format::file_size(
            model.content_size.saturating_add(file::IDENTITY_SIZE),
            page_size(),
        );
        // A live writer may hold the name already: another model or another
        // `create` on this thread under a template without `{MODEL}`, or
        // other threads or processes under one without `{TID}` or `{PID}`.
        // The file then takes the first free name with a number before its
        // extension (`web-1-2.1.mmstats`), so that no stats are lost.
        let mut taken = 0;
        let (file, region, path) = loop {
            let path = dir.join(numbered(&name, taken));
            // The name may also be taken between the check and the
            // publication, by a writer creating it at the same moment.
            match self.create_at(&path, size, &vars, model, statics) {
                Err(Error::InUse { .. }) if taken < MAX_NUMBERED => taken += 1,
                other => break other?,
            }
        };
        Ok((
            region,
            Backing {
                file,
                path,
                dir,
                template,
                vars,
            },
        ))
    }

    /// Creates, fills and publishes the file at `path`.
    fn create_at(
        &self,
        path: &Path,
        size: usize,
        vars: &Vars,
        model: &Model,
        statics: &WriteStatics<'_>,
    ) -> Result<(File, Region, PathBuf), Error> {
        let mut pending = file::prepare(path, size, self.mode)?;
        let previous = pending.previous().cloned();
        match pending.region_mut() {
            Some(region) => {
                initialize(region, model, statics, vars)?;
                if let Some(previous) = &previous {
                    continue_from(region.bytes_mut(), model, previous);
                }
            }
            None => return Err(Error::io("map", path, std::io::ErrorKind::NotFound.into())),
        }
        pending.publish()
    }
}

/// How many numbered names a new file tries after its own (see
/// [`Builder::create`]).
const MAX_NUMBERED: u32 = 64;

/// `name` with `n` before its extension: `web.mmstats`, `web.1.mmstats`, ...
fn numbered(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_string();
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}.{n}.{ext}"),
        _ => format!("{name}.{n}"),
    }
}

/// The page size, which the file size is rounded up to.
pub fn page_size() -> usize {
    rustix::param::page_size()
}

/// Writes the version, every field header, the metadata block, the static
/// values and the default fields into a fresh region.
pub(crate) fn initialize(
    region: &mut Region,
    model: &Model,
    statics: &WriteStatics<'_>,
    vars: &Vars,
) -> Result<(), Error> {
    write_headers(region.bytes_mut(), model)?;
    let places = Places { region, model };
    statics(&places)?;
    if model.fields.len() > model.own_fields {
        write_defaults(&places, vars)?;
    }
    Ok(())
}

fn write_headers(bytes: &mut [u8], model: &Model) -> Result<(), Error> {
    let layout_error = |label: &str| Error::Layout {
        label: label.to_string(),
    };
    let mut put = |at: usize, data: &[u8], label: &str| -> Result<(), Error> {
        let end = at
            .checked_add(data.len())
            .ok_or_else(|| layout_error(label))?;
        bytes
            .get_mut(at..end)
            .ok_or_else(|| layout_error(label))?
            .copy_from_slice(data);
        Ok(())
    };
    put(0, &[VERSION], "")?;
    let mut meta = Vec::new();
    for (spec, place) in model.fields.iter().zip(model.layout) {
        let label = spec.label;
        let signature = spec.ty.signature.as_bytes();
        let label_len = u16::try_from(spec.label_len()).map_err(|_| layout_error(label))?;
        let sig_len =
            u16::try_from(place.padding + signature.len()).map_err(|_| layout_error(label))?;
        let mut at = place.offset;
        put(at, &label_len.to_ne_bytes(), label)?;
        at += 2;
        let file_label = spec.file_label();
        put(at, file_label.as_bytes(), label)?;
        at += file_label.len();
        put(at, &sig_len.to_ne_bytes(), label)?;
        at += 2;
        put(at, &vec![b' '; place.padding], label)?;
        at += place.padding;
        put(at, signature, label)?;
        put(
            place.write_buffer_offset,
            &[write_buffer_byte(&spec.ty)],
            label,
        )?;
        meta.push(spec.ty.kind.code());
        for text in [spec.unit, spec.help] {
            let len = u16::try_from(text.len()).map_err(|_| layout_error(label))?;
            meta.extend_from_slice(&len.to_ne_bytes());
            meta.extend_from_slice(text.as_bytes());
        }
    }
    let count = u16::try_from(model.fields.len()).map_err(|_| layout_error(""))?;
    let mut block = Vec::with_capacity(meta.len() + 16);
    block.extend_from_slice(META_MAGIC);
    block.push(META_VERSION);
    block.extend_from_slice(&count.to_ne_bytes());
    block.extend_from_slice(&meta);
    let fields_end = crate::format::fields_end(model.layout);
    // The terminator (two zero bytes) is already there: the region is zeroed.
    put(fields_end + TERMINATOR_BYTES, &block, "")?;
    Ok(())
}

fn write_defaults(places: &Places<'_>, vars: &Vars) -> Result<(), Error> {
    let first = places.model.own_fields;
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let uid = u64::from(rustix::process::getuid().as_raw());
    let gid = u64::from(rustix::process::getgid().as_raw());
    places.place(first)?.slot::<u32>()?.store(vars.pid);
    places
        .place(first + 1)?
        .slot::<u64>()?
        .store(vars.tid as u64);
    places.place(first + 2)?.slot::<u64>()?.store(uid);
    places.place(first + 3)?.slot::<u64>()?.store(gid);
    places
        .place(first + 4)?
        .slot::<u64>()?
        .store(created.to_bits());
    let version = crate::fields::fit_text(VERSION_TEXT, VERSION_TEXT_SIZE);
    places
        .place(first + 5)?
        .bytes()?
        .write_c_string(version.as_bytes());
    let cmd = crate::fields::fit_text(&vars.cmd, CMD_TEXT_SIZE);
    places
        .place(first + 6)?
        .bytes()?
        .write_c_string(cmd.as_bytes());
    let model = crate::fields::fit_text(places.model.short_name, MODEL_TEXT_SIZE);
    places
        .place(first + 7)?
        .bytes()?
        .write_c_string(model.as_bytes());
    Ok(())
}

/// Copies into a fresh file's `bytes`, before any handle is bound, the
/// values that a finished file of this process (`previous`) held, so that a
/// new thread given a finished thread's id continues its counts: every
/// counter, every field of a group that holds a counter (a `Summary`'s mean,
/// minimum, maximum and sequence number with its count and sum, so that the
/// group stays whole), and `sys.created`, so that tools see one file going
/// on. A field is copied only when the old file has the same label with the
/// same signature and kind; the rest keep their fresh values.
fn continue_from(bytes: &mut [u8], model: &Model, previous: &crate::reader::Snapshot) {
    let specs = model.fields.iter().zip(model.layout);
    // The fields of one member of one declared field share its label and
    // member index (a family's members are groups of their own).
    let grouped = |of: &crate::format::FieldSpec| {
        model.fields.iter().any(|spec| {
            spec.label == of.label && spec.member == of.member && spec.ty.kind == Kind::Counter
        })
    };
    for (index, (spec, place)) in specs.enumerate() {
        let default = index >= model.own_fields;
        let wanted = if default {
            spec.label.ends_with("sys.created")
        } else {
            spec.ty.kind == Kind::Counter || grouped(spec)
        };
        if !wanted {
            continue;
        }
        let label = spec.file_label();
        let signature = std::str::from_utf8(spec.ty.signature.as_bytes()).unwrap_or("");
        let Some(old) = previous.get(&label) else {
            continue;
        };
        if old.signature != signature || old.kind != spec.ty.kind {
            continue;
        }
        let encoded = match (spec.ty.kind, &old.value) {
            // A run-time family member's label value goes with its counts
            // (its sequence number is copied as the group's).
            (Kind::LabelValue, crate::reader::Value::Text(text))
                if text.len() < spec.ty.value_size =>
            {
                Some([text.as_bytes(), &[0]].concat())
            }
            _ => encode_number(spec.ty.signature.as_bytes(), &old.value),
        };
        let Some(value) = encoded else {
            continue;
        };
        let copies = if spec.ty.buffered { 2 } else { 1 };
        for copy in 0..copies {
            let at = place.value_offset + copy * value.len();
            if let Some(slot) = bytes.get_mut(at..at + value.len()) {
                slot.copy_from_slice(&value);
            }
        }
    }
}

/// A number read back as `value`, in the bytes of a field of `signature`
/// (one type letter); `None` if the value does not fit that type.
fn encode_number(signature: &[u8], value: &crate::reader::Value) -> Option<Vec<u8>> {
    use crate::reader::Value::{Bool, Float, Signed, Unsigned};
    Some(match (signature, value) {
        (b"Q", Unsigned(n)) => n.to_ne_bytes().to_vec(),
        (b"I", Unsigned(n)) => u32::try_from(*n).ok()?.to_ne_bytes().to_vec(),
        (b"H", Unsigned(n)) => u16::try_from(*n).ok()?.to_ne_bytes().to_vec(),
        (b"B", Unsigned(n)) => vec![u8::try_from(*n).ok()?],
        (b"q", Signed(n)) => n.to_ne_bytes().to_vec(),
        (b"i", Signed(n)) => i32::try_from(*n).ok()?.to_ne_bytes().to_vec(),
        (b"h", Signed(n)) => i16::try_from(*n).ok()?.to_ne_bytes().to_vec(),
        (b"b", Signed(n)) => i8::try_from(*n).ok()?.to_ne_bytes().to_vec(),
        (b"d", Float(x)) => x.to_ne_bytes().to_vec(),
        // A float32 is widened exactly when read, so narrowing is exact.
        (b"f", Float(x)) => (*x as f32).to_ne_bytes().to_vec(),
        (b"?", Bool(b)) => vec![u8::from(*b)],
        _ => return None,
    })
}

fn bind<T: MmStats>(region: &Region) -> Result<T, Error> {
    T::__bind(&Places {
        region,
        model: &T::MODEL,
    })
}

/// The fields of a model laid out in a region; the derive's generated code
/// asks it for each field's [`Place`].
#[doc(hidden)]
pub struct Places<'a> {
    pub(crate) region: &'a Region,
    pub(crate) model: &'a Model,
}

impl Places<'_> {
    /// The place of field `index`.
    pub fn place(&self, index: usize) -> Result<Place<'_>, Error> {
        match (self.model.fields.get(index), self.model.layout.get(index)) {
            (Some(spec), Some(layout)) => Ok(Place {
                region: self.region,
                spec,
                layout,
                rest: (
                    self.model.fields.get(index + 1..).unwrap_or(&[]),
                    self.model.layout.get(index + 1..).unwrap_or(&[]),
                ),
            }),
            _ => Err(Error::Layout {
                label: format!("#{index}"),
            }),
        }
    }
}

/// The file behind a stats object, and how it was named.
#[derive(Debug)]
pub(crate) struct Backing {
    /// Open for the object's whole life: it holds the shared lock that tells
    /// cleaners a live writer owns the file.
    file: File,
    path: PathBuf,
    dir: PathBuf,
    template: String,
    vars: Vars,
}

/// A live stats object: the model's field handles and the file they write.
///
/// Dereferences to the model, so `stats.requests.incr()` works directly.
/// It can be sent to another thread but not shared between threads: one
/// writer per file.
///
/// Dropping it unmaps the file and leaves it in place, with its last values,
/// for readers (see [`Stats::remove`]).
pub struct Stats<T: MmStats> {
    // Declared before `region`, so the handles are dropped before the memory
    // they point into is unmapped.
    model: T,
    region: Region,
    file: Option<Backing>,
    _not_sync: PhantomData<Cell<()>>,
}

impl<T: MmStats> Stats<T> {
    /// A stats object in plain memory, with no file: for tests, and for
    /// code that wants the same API when publishing is off.
    pub fn in_memory() -> Stats<T> {
        let vars = Vars::current();
        let mut region = Region::memory(T::MODEL.content_size);
        let model = initialize(&mut region, &T::MODEL, &T::__write_statics, &vars)
            .and_then(|()| bind::<T>(&region));
        match model {
            Ok(model) => Stats {
                model,
                region,
                file: None,
                _not_sync: PhantomData,
            },
            // The layout is checked at compile time and the region is sized
            // from it, so binding cannot fail.
            Err(e) => unreachable!("mmstats: in-memory layout failed: {e}"),
        }
    }

    /// The path of the file, or `None` for a stats object in memory.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|b| b.path.as_path())
    }

    /// Writes the mapping back to the file and waits for the disk (`msync`
    /// with `MS_SYNC`). Readers never need this; it is for keeping the last
    /// values across a machine crash.
    pub fn flush(&self) -> Result<(), Error> {
        self.flush_inner(true)
    }

    /// Starts writing the mapping back to the file without waiting
    /// (`msync` with `MS_ASYNC`).
    pub fn flush_async(&self) -> Result<(), Error> {
        self.flush_inner(false)
    }

    fn flush_inner(&self, sync: bool) -> Result<(), Error> {
        flush(&self.region, self.file.as_ref(), sync)
    }

    /// Unmaps and deletes the file, then deletes the files that this
    /// process's finished threads left under the same template (when it holds
    /// `{PID}` and `{TID}`). Returns every path deleted.
    ///
    /// The file is only deleted if it is still the one this object created;
    /// leftovers only if no live writer holds them.
    pub fn remove(self) -> Result<Vec<PathBuf>, Error> {
        let Stats {
            model,
            region,
            file: backing,
            ..
        } = self;
        drop(model);
        remove(region, backing)
    }
}

/// Writes a stats object's mapping back to its file (see [`Stats::flush`]).
pub(crate) fn flush(region: &Region, backing: Option<&Backing>, sync: bool) -> Result<(), Error> {
    match backing {
        Some(backing) => region
            .flush(sync)
            .map_err(|e| Error::io("flush", &backing.path, e)),
        None => Ok(()),
    }
}

impl Backing {
    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Unmaps `region` and deletes its file and this process's finished
/// threads' leftovers (see [`Stats::remove`]); the handles into the region
/// must be gone.
pub(crate) fn remove(region: Region, backing: Option<Backing>) -> Result<Vec<PathBuf>, Error> {
    {
        drop(region);
        let Some(backing) = backing else {
            return Ok(Vec::new());
        };
        let mut removed = Vec::new();
        if std::fs::symlink_metadata(&backing.path).is_ok() {
            file::remove_own(&backing.path, &backing.file)?;
            removed.push(backing.path.clone());
        }
        drop(backing.file);
        removed.extend(file::remove_thread_leftovers(
            &backing.dir,
            &backing.template,
            &backing.vars,
        )?);
        Ok(removed)
    }
}

impl<T: MmStats> std::fmt::Debug for Stats<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats")
            .field("model", &T::MODEL.name)
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

impl<T: MmStats> Deref for Stats<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.model
    }
}

/// One thread's stats object for a model, made on first use, and made anew
/// in a child process after `fork()`.
#[doc(hidden)]
pub struct ThreadSlot<T: MmStats> {
    /// The stats and the fork generation they were made in.
    stats: RefCell<Option<(u64, Stats<T>)>>,
}

impl<T: MmStats> Default for ThreadSlot<T> {
    fn default() -> Self {
        ThreadSlot::new()
    }
}

impl<T: MmStats> ThreadSlot<T> {
    /// An empty slot.
    pub const fn new() -> Self {
        ThreadSlot {
            stats: RefCell::new(None),
        }
    }

    /// Runs `f` with the thread's stats, creating them first if there are
    /// none yet or if they were made before a `fork()` (so belong to the
    /// parent). When the file cannot be created: with `fallback`, stats in
    /// memory (the reason printed once on standard error); without, the error.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> R, fallback: bool) -> Result<R, Error> {
        // The usual call: the stats exist and were made in this process.
        // One borrow, one load, one comparison. The fork handler was
        // registered when the stats were made (`with_new`), so the plain
        // load of the generation is enough here.
        let generation = crate::map::fork_generation_registered();
        if let Ok(slot) = self.stats.try_borrow() {
            if let Some((g, stats)) = slot.as_ref() {
                if *g == generation {
                    return Ok(f(stats));
                }
            }
        }
        self.with_new(f, fallback, crate::map::fork_generation())
    }

    /// The rest of [`ThreadSlot::with`]: the first call in a thread, or the
    /// first in a forked child, which creates the stats.
    #[cold]
    fn with_new<R>(
        &self,
        f: impl FnOnce(&T) -> R,
        fallback: bool,
        generation: u64,
    ) -> Result<R, Error> {
        {
            let Ok(mut slot) = self.stats.try_borrow_mut() else {
                // Called from inside `f` of an outer call that is using the
                // stale stats (a fork inside the closure): do not disturb it.
                return Ok(f(&Stats::in_memory()));
            };
            let stats = match T::builder().create() {
                Ok(stats) => stats,
                Err(e) if fallback => {
                    eprintln!(
                        "mmstats: {e}; the stats of {} in this thread are kept in memory only",
                        T::MODEL.name
                    );
                    Stats::in_memory()
                }
                Err(e) => return Err(e),
            };
            // Replacing drops the parent's stats in a forked child: that
            // unmaps and closes this process's copies only.
            *slot = Some((generation, stats));
        }
        match self.stats.try_borrow().as_deref() {
            Ok(Some((_, stats))) => Ok(f(stats)),
            _ => Ok(f(&Stats::in_memory())),
        }
    }
}
