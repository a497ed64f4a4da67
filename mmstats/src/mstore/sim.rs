//! An in-memory file system that can lose power (tests only).
//!
//! It keeps, for every file, what has been made durable by a sync apart
//! from what has only been written, and for every directory its durable
//! entries apart from creations, renames and removals not yet synced. A
//! power cut keeps the durable state and an arbitrary part of the rest:
//!
//! * each 512-byte sector of a file ends up as it was after some prefix of
//!   the writes and truncations made to it since its last sync (a write
//!   spanning sectors can be torn between them; an aligned sector is never
//!   torn in itself), and the file's length after some prefix, chosen
//!   apart from the sectors;
//! * each directory keeps its durable entries plus any subset of the
//!   changes made since its last sync, applied in order (a rename is one
//!   change: it happens or not);
//! * a file's content does not depend on which names reach it.
//!
//! [`SimFs::arm`] makes the power fail at a chosen call: that call and
//! every later one fail, until [`SimFs::power_cut`] settles the state and
//! the store can be opened again on what survived.

use std::collections::{BTreeMap, HashMap};

type Nodes = BTreeMap<u64, Node>;
use std::ffi::OsString;
use std::io;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::vfs::{Kind, Mode, Stat, VFile, Vfs};

const SECTOR: usize = 512;

#[derive(Clone, Debug)]
enum FileOp {
    Write { off: usize, bytes: Vec<u8> },
    SetLen(usize),
}

#[derive(Default)]
struct FileNode {
    data: Vec<u8>,
    durable: Vec<u8>,
    log: Vec<FileOp>,
}

#[derive(Clone, Debug)]
enum DirOp {
    Link(OsString, u64),
    Unlink(OsString),
    Rename(OsString, OsString, u64),
}

#[derive(Default)]
struct DirNode {
    entries: BTreeMap<OsString, u64>,
    durable: BTreeMap<OsString, u64>,
    log: Vec<DirOp>,
}

enum Node {
    File(FileNode),
    Dir(DirNode),
}

struct State {
    nodes: Nodes,
    next: u64,
    /// Bumped at each power cut: handles from before fail.
    epoch: u64,
    locks: HashMap<u64, u64>,
    calls: u64,
    fail_at: Option<u64>,
    dead: bool,
    syncs: u64,
}

const ROOT: u64 = 1;

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("simulated: {what}"))
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

/// A small deterministic generator for the cut's choices.
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    pub fn next(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn trace(what: &str, detail: &dyn std::fmt::Debug) {
    if std::env::var_os("MSTORE_TRACE").is_some() {
        eprintln!("  sim {what} {detail:?}");
    }
}

impl State {
    fn tick(&mut self) -> io::Result<()> {
        if self.dead {
            return Err(eio("the power is off"));
        }
        self.calls += 1;
        if self.fail_at == Some(self.calls) {
            self.dead = true;
            return Err(eio("the power failed"));
        }
        Ok(())
    }

    fn dir(&mut self, ino: u64) -> io::Result<&mut DirNode> {
        match self.nodes.get_mut(&ino) {
            Some(Node::Dir(d)) => Ok(d),
            Some(Node::File(_)) => Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
            None => Err(not_found()),
        }
    }

    fn file(&mut self, ino: u64) -> io::Result<&mut FileNode> {
        match self.nodes.get_mut(&ino) {
            Some(Node::File(f)) => Ok(f),
            Some(Node::Dir(_)) => Err(io::Error::from_raw_os_error(libc::EISDIR)),
            None => Err(eio("no such inode")),
        }
    }

    /// The inode of `path`'s parent directory and the last name.
    fn parent(&mut self, path: &Path) -> io::Result<(u64, OsString)> {
        let mut comps: Vec<OsString> = Vec::new();
        for c in path.components() {
            match c {
                Component::RootDir | Component::CurDir => {}
                Component::Normal(n) => comps.push(n.to_owned()),
                _ => return Err(eio("unsupported path")),
            }
        }
        let last = comps.pop().ok_or_else(|| eio("the root has no parent"))?;
        let mut at = ROOT;
        for c in comps {
            at = *self.dir(at)?.entries.get(&c).ok_or_else(not_found)?;
        }
        self.dir(at)?;
        Ok((at, last))
    }

    fn lookup(&mut self, path: &Path) -> io::Result<u64> {
        if path.components().all(|c| matches!(c, Component::RootDir)) {
            return Ok(ROOT);
        }
        let (d, name) = self.parent(path)?;
        self.dir(d)?
            .entries
            .get(&name)
            .copied()
            .ok_or_else(not_found)
    }

    fn new_node(&mut self, node: Node) -> u64 {
        self.next += 1;
        self.nodes.insert(self.next, node);
        self.next
    }

    fn nlink(&self, ino: u64) -> u64 {
        self.nodes
            .values()
            .filter_map(|n| match n {
                Node::Dir(d) => Some(d.entries.values().filter(|i| **i == ino).count() as u64),
                Node::File(_) => None,
            })
            .sum()
    }

    fn stat(&self, ino: u64) -> io::Result<Stat> {
        let (len, kind) = match self.nodes.get(&ino) {
            Some(Node::File(f)) => (f.data.len() as u64, Kind::File),
            Some(Node::Dir(_)) => (0, Kind::Dir),
            None => return Err(not_found()),
        };
        Ok(Stat {
            len,
            id: (1, ino),
            nlink: self.nlink(ino),
            kind,
        })
    }
}

/// The simulated file system; clones share it.
#[derive(Clone)]
pub(crate) struct SimFs {
    st: Arc<Mutex<State>>,
}

impl SimFs {
    pub fn new() -> SimFs {
        let mut nodes = Nodes::new();
        nodes.insert(ROOT, Node::Dir(DirNode::default()));
        SimFs {
            st: Arc::new(Mutex::new(State {
                nodes,
                next: ROOT,
                epoch: 0,
                locks: HashMap::new(),
                calls: 0,
                fail_at: None,
                dead: false,
                syncs: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock fails anyway.
        match self.st.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// File-system calls made so far.
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    /// Sync calls (of files and directories) made so far.
    #[allow(dead_code)]
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// Makes the power fail at the `n`-th call from now (1 = the next).
    pub fn arm(&self, n: u64) {
        let mut st = self.lock();
        st.fail_at = Some(st.calls + n.max(1));
    }

    /// Whether the power has failed (and no cut has settled it yet).
    pub fn is_dead(&self) -> bool {
        self.lock().dead
    }

    /// Loses the power now: keeps what was synced and, chosen by `rng`, a
    /// part of the rest; every handle open before becomes unusable.
    pub fn power_cut(&self, rng: &mut Rng) {
        self.cut(rng, None);
    }

    /// Loses the power now, keeping every unsynced write to files, and of
    /// the unsynced directory changes those for which `keep(name)` holds
    /// (`name` is the name a change creates, renames to or removes).
    pub fn power_cut_keeping(&self, keep: &dyn Fn(&str) -> bool) {
        self.cut(&mut Rng::new(0), Some(keep));
    }

    fn cut(&self, rng: &mut Rng, policy: Option<&dyn Fn(&str) -> bool>) {
        let mut st = self.lock();
        for node in st.nodes.values_mut() {
            match node {
                Node::File(f) => {
                    let kept = match policy {
                        Some(_) => f.data.clone(),
                        None => settle_file(f, rng),
                    };
                    f.durable = kept.clone();
                    f.data = kept;
                    f.log.clear();
                }
                Node::Dir(d) => {
                    let mode = rng.below(4);
                    let mut kept = d.durable.clone();
                    for op in &d.log {
                        let name = match op {
                            DirOp::Link(n, _) | DirOp::Unlink(n) | DirOp::Rename(_, n, _) => n,
                        };
                        let keep = match (policy, mode) {
                            (Some(p), _) => p(&name.to_string_lossy()),
                            (None, 0) => true,
                            (None, 1) => false,
                            (None, _) => rng.below(2) == 0,
                        };
                        if !keep {
                            continue;
                        }
                        match op {
                            DirOp::Link(n, i) => {
                                kept.insert(n.clone(), *i);
                            }
                            DirOp::Unlink(n) => {
                                kept.remove(n);
                            }
                            DirOp::Rename(from, to, i) => {
                                if kept.get(from) == Some(i) {
                                    kept.remove(from);
                                }
                                kept.insert(to.clone(), *i);
                            }
                        }
                    }
                    d.durable = kept.clone();
                    d.entries = kept;
                    d.log.clear();
                }
            }
        }
        st.epoch += 1;
        st.locks.clear();
        st.fail_at = None;
        st.dead = false;
    }

    /// Overwrites a file's current and durable content (for tests that
    /// damage or plant files).
    #[allow(dead_code)]
    pub fn put_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut st = self.lock();
        let ino = st.lookup(path)?;
        let f = st.file(ino)?;
        f.data = bytes.to_vec();
        f.durable = bytes.to_vec();
        f.log.clear();
        Ok(())
    }
}

/// What survives of a file: per sector the state after a random prefix of
/// its unsynced changes, the length after another.
fn settle_file(f: &FileNode, rng: &mut Rng) -> Vec<u8> {
    let n = f.log.len();
    if n == 0 {
        return f.durable.clone();
    }
    let mode = rng.below(4);
    let pick = |rng: &mut Rng| match mode {
        0 => n,
        1 => 0,
        _ => rng.below(n as u64 + 1) as usize,
    };
    let mut sizes = vec![f.durable.len()];
    for op in &f.log {
        let last = sizes.last().copied().unwrap_or(0);
        sizes.push(match op {
            FileOp::Write { off, bytes } => last.max(off + bytes.len()),
            FileOp::SetLen(l) => *l,
        });
    }
    let max = sizes.iter().copied().max().unwrap_or(0);
    let mut buf = f.durable.clone();
    buf.resize(max, 0);
    let sectors = max.div_ceil(SECTOR);
    let ks: Vec<usize> = (0..sectors).map(|_| pick(rng)).collect();
    for (i, op) in f.log.iter().enumerate() {
        match op {
            FileOp::Write { off, bytes } => {
                for (j, b) in bytes.iter().enumerate() {
                    let at = off + j;
                    if ks.get(at / SECTOR).is_some_and(|k| i < *k) {
                        buf[at] = *b;
                    }
                }
            }
            FileOp::SetLen(l) => {
                for (j, b) in buf.iter_mut().enumerate().skip(*l) {
                    if ks.get(j / SECTOR).is_some_and(|k| i < *k) {
                        *b = 0;
                    }
                }
            }
        }
    }
    let len = sizes[pick(rng)];
    buf.truncate(len);
    buf
}

struct SimFile {
    st: Arc<Mutex<State>>,
    ino: u64,
    epoch: u64,
    write: bool,
    locked: AtomicBool,
}

impl SimFile {
    fn state(&self) -> io::Result<MutexGuard<'_, State>> {
        let mut st = match self.st.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if st.epoch != self.epoch {
            return Err(eio("handle from before a power cut"));
        }
        st.tick()?;
        Ok(st)
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        if self.locked.load(Ordering::Relaxed) {
            let mut st = match self.st.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if st.epoch == self.epoch {
                st.locks.remove(&self.ino);
            }
        }
    }
}

impl VFile for SimFile {
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<usize> {
        let mut st = self.state()?;
        let f = st.file(self.ino)?;
        let off = off as usize;
        if off >= f.data.len() {
            return Ok(0);
        }
        let n = buf.len().min(f.data.len() - off);
        buf[..n].copy_from_slice(&f.data[off..off + n]);
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], off: u64) -> io::Result<()> {
        if !self.write {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let mut st = self.state()?;
        trace("write", &(self.ino, off, buf.len()));
        let f = st.file(self.ino)?;
        let off = off as usize;
        if f.data.len() < off + buf.len() {
            f.data.resize(off + buf.len(), 0);
        }
        f.data[off..off + buf.len()].copy_from_slice(buf);
        f.log.push(FileOp::Write {
            off,
            bytes: buf.to_vec(),
        });
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if !self.write {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut st = self.state()?;
        let f = st.file(self.ino)?;
        f.data.resize(len as usize, 0);
        f.log.push(FileOp::SetLen(len as usize));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        trace("sync", &self.ino);
        let mut st = self.state()?;
        st.syncs += 1;
        if let Ok(f) = st.file(self.ino) {
            f.durable = f.data.clone();
            f.log.clear();
        }
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn stat(&self) -> io::Result<Stat> {
        let st = self.state()?;
        st.stat(self.ino)
    }

    fn try_lock(&self) -> io::Result<bool> {
        let mut st = self.state()?;
        match st.locks.get(&self.ino) {
            Some(_) => Ok(false),
            None => {
                st.locks.insert(self.ino, self.epoch);
                self.locked.store(true, Ordering::Relaxed);
                Ok(true)
            }
        }
    }
}

impl Vfs for SimFs {
    fn open(&self, path: &Path, mode: Mode) -> io::Result<Box<dyn VFile>> {
        let mut st = self.lock();
        trace("open", &(path, mode, st.calls + 1));
        st.tick()?;
        let (d, name) = st.parent(path)?;
        let found = st.dir(d)?.entries.get(&name).copied();
        let write = mode != Mode::Read;
        let ino = match found {
            Some(ino) => {
                if matches!(st.nodes.get(&ino), Some(Node::Dir(_))) && write {
                    return Err(io::Error::from_raw_os_error(libc::EISDIR));
                }
                if mode == Mode::Truncate {
                    let f = st.file(ino)?;
                    f.data.clear();
                    f.log.push(FileOp::SetLen(0));
                }
                ino
            }
            None if matches!(mode, Mode::Create | Mode::Truncate) => {
                let ino = st.new_node(Node::File(FileNode::default()));
                let dir = st.dir(d)?;
                dir.entries.insert(name.clone(), ino);
                dir.log.push(DirOp::Link(name, ino));
                ino
            }
            None => return Err(not_found()),
        };
        trace("  -> ino", &ino);
        Ok(Box::new(SimFile {
            st: self.st.clone(),
            ino,
            epoch: st.epoch,
            write,
            locked: AtomicBool::new(false),
        }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.tick()?;
        let mut at = ROOT;
        for c in path.components() {
            let Component::Normal(n) = c else { continue };
            let next = st.dir(at)?.entries.get(n).copied();
            at = match next {
                Some(i) => {
                    st.dir(i)?;
                    i
                }
                None => {
                    let i = st.new_node(Node::Dir(DirNode::default()));
                    let d = st.dir(at)?;
                    d.entries.insert(n.to_owned(), i);
                    d.log.push(DirOp::Link(n.to_owned(), i));
                    i
                }
            };
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let mut st = self.lock();
        st.tick()?;
        let ino = st.lookup(path)?;
        Ok(st.dir(ino)?.entries.keys().cloned().collect())
    }

    fn stat(&self, path: &Path) -> io::Result<Stat> {
        let mut st = self.lock();
        st.tick()?;
        let ino = st.lookup(path)?;
        st.stat(ino)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.lock();
        trace("rename", &(from, to, st.calls + 1));
        st.tick()?;
        let (d1, n1) = st.parent(from)?;
        let (d2, n2) = st.parent(to)?;
        if d1 != d2 {
            return Err(eio("rename across directories"));
        }
        let dir = st.dir(d1)?;
        let ino = dir.entries.remove(&n1).ok_or_else(not_found)?;
        dir.entries.insert(n2.clone(), ino);
        dir.log.push(DirOp::Rename(n1, n2, ino));
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        trace("remove", &(path, st.calls + 1));
        st.tick()?;
        let (d, name) = st.parent(path)?;
        let dir = st.dir(d)?;
        dir.entries.remove(&name).ok_or_else(not_found)?;
        dir.log.push(DirOp::Unlink(name));
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        trace("sync_dir", &(path, st.calls + 1));
        st.tick()?;
        st.syncs += 1;
        let ino = st.lookup(path)?;
        let d = st.dir(ino)?;
        d.durable = d.entries.clone();
        d.log.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synced_survives_and_unsynced_may_not() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        fs.sync_dir(Path::new("/")).unwrap();
        let mut dropped_name = false;
        let mut torn = false;
        for seed in 0..200 {
            let f = fs.open(Path::new("/d/f"), Mode::Truncate).unwrap();
            f.write_all_at(&[1u8; 1024], 0).unwrap();
            f.sync_data().unwrap();
            fs.sync_dir(Path::new("/d")).unwrap();
            f.write_all_at(&[2u8; 1024], 0).unwrap();
            let g = fs.open(Path::new("/d/g"), Mode::Create).unwrap();
            g.write_all_at(b"x", 0).unwrap();
            g.sync_data().unwrap();
            drop((f, g));
            fs.power_cut(&mut Rng::new(seed));
            let b = {
                let f = fs.open(Path::new("/d/f"), Mode::Read).unwrap();
                let mut b = vec![0u8; 2048];
                let n = f.read_at(&mut b, 0).unwrap();
                b.truncate(n);
                b
            };
            assert_eq!(b.len(), 1024);
            // Each sector is old or new, never a mix.
            for s in b.chunks(SECTOR) {
                assert!(s.iter().all(|x| *x == s[0]) && (s[0] == 1 || s[0] == 2));
            }
            torn |= b[0] != b[1023];
            match fs.stat(Path::new("/d/g")) {
                Ok(_) => {
                    let _ = fs.remove_file(Path::new("/d/g"));
                    fs.sync_dir(Path::new("/d")).unwrap();
                }
                Err(_) => dropped_name = true,
            }
        }
        assert!(dropped_name && torn);
    }

    #[test]
    fn the_power_fails_at_the_armed_call_and_handles_die_with_it() {
        let fs = SimFs::new();
        let f = fs.open(Path::new("/f"), Mode::Create).unwrap();
        fs.arm(2);
        assert!(f.write_all_at(b"a", 0).is_ok());
        assert!(f.sync_data().is_err());
        assert!(fs.is_dead() && f.read_at(&mut [0u8; 1], 0).is_err());
        fs.power_cut(&mut Rng::new(1));
        assert!(f.read_at(&mut [0u8; 1], 0).is_err(), "a handle from before");
    }
}
