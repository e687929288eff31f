//! The persistent code cache (issue 15 item 6): compiled objects kept on disk and reused by
//! the next process that runs the same code.
//!
//! **What is cached.** The relocatable ELF object ORC linked for one function. It carries no
//! process-specific value: the lowering reads every address and version from the function's
//! binding table ([`crate::hir::bind`]), which the JIT fills after linking, and calls helpers
//! and CPython by symbol. A cache hit skips every LLVM stage (lowering, optimisation, machine
//! code) and costs one file read plus JIT linking.
//!
//! **The key** ([`Key`]) is a BLAKE3 hash of everything the object is a function of: the split
//! HIR (bytecode, constants' identity pattern, names, the profile's specialisation kinds,
//! frame layout), the host identity the shim passes (CPython's `sys.version`, the shim's and
//! `libember.so`'s files), the helper bitcode, the opt level and LLVM pass options, and the
//! target triple, CPU and features. A change in any of them is a different key, so an entry
//! from another build is never even opened.
//!
//! **An entry** is one file `<key hex>.o` in the cache directory:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic [`MAGIC`] (format version in the last byte) |
//! | 32 | the key |
//! | 4 | number of binding slots (u32 LE) |
//! | 8 | object length in bytes (u64 LE) |
//! | 32 | BLAKE3 hash of the object |
//! | n | the object |
//!
//! [`Cache::load`] checks all of it (magic, key, slot count, length, hash), so a truncated,
//! corrupt or foreign entry is reported, deleted and never executed. Writes go to a temporary
//! file in the same directory and are renamed into place, so concurrent processes never see a
//! partial entry and two writers of one key both leave a whole one. Size cap: after a write,
//! least recently used entries (file modification time, refreshed on every hit) are removed
//! until the directory holds at most 90 % of the cap.

use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// First bytes of every entry; the last byte is the format version.
pub const MAGIC: [u8; 8] = *b"EMBERC\x00\x01";

/// Bytes before the object in an entry.
pub const HEADER_BYTES: usize = 8 + 32 + 4 + 8 + 32;

/// Cache key: the BLAKE3 hash of what an object is a function of (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 32]);

impl Key {
    /// Lower-case hex of the key (64 characters), the entry's file stem.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Feeds `std::hash::Hash` output into a BLAKE3 hasher, so derived `Hash` impls (the HIR's)
/// can be hashed with a strong 256-bit function. Only meaningful within one Ember build, which
/// the key also covers.
pub struct KeyHasher(pub blake3::Hasher);

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// Unused (the key is the full 32-byte hash); returns the first 8 bytes for completeness.
    fn finish(&self) -> u64 {
        let h = self.0.finalize();
        u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]))
    }
}

/// Why [`Cache::load`] did not return an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Miss {
    /// No entry for the key.
    Absent,
    /// An entry existed but failed a check (the reason); it was deleted.
    Rejected(String),
}

/// One cache directory with a size cap.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    max_bytes: u64,
    /// Bytes the directory's entries held at the last scan plus what this process wrote since;
    /// `None` until the first write scans the directory.
    approx_bytes: Option<u64>,
}

impl Cache {
    /// A cache in `dir` (created on the first write, mode 0700) holding at most `max_bytes`.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Cache {
        Cache { dir: dir.into(), max_bytes, approx_bytes: None }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `key`'s entry.
    pub fn path(&self, key: &Key) -> PathBuf {
        self.dir.join(format!("{}.o", key.hex()))
    }

    /// Reads and checks `key`'s entry; on success refreshes its modification time (LRU) and
    /// returns the object bytes. `nbindings` is the slot count the caller's split HIR has: an
    /// entry made for another count is rejected.
    ///
    /// Errors: [`Miss::Absent`] when there is no readable entry, [`Miss::Rejected`] (the entry
    /// is deleted) when it is truncated, corrupt or belongs to another key.
    pub fn load(&self, key: &Key, nbindings: usize) -> Result<Vec<u8>, Miss> {
        let path = self.path(key);
        let bytes = fs::read(&path).map_err(|_| Miss::Absent)?;
        match check(&bytes, key, nbindings) {
            Ok(()) => {
                if let Ok(f) = fs::File::options().append(true).open(&path) {
                    let _ = f.set_modified(SystemTime::now());
                }
                Ok(bytes[HEADER_BYTES..].to_vec())
            }
            Err(why) => {
                self.discard(key);
                Err(Miss::Rejected(why))
            }
        }
    }

    /// Deletes `key`'s entry (one that passed its checks but that LLVM could not link).
    pub fn discard(&self, key: &Key) {
        let _ = fs::remove_file(self.path(key));
    }

    /// Writes `key`'s entry atomically (temporary file, then rename), then evicts the least
    /// recently used entries if the directory exceeds the cap.
    ///
    /// Errors: the I/O error of creating the directory or writing the entry (nothing is left
    /// behind but possibly a temporary file, which `tempfile` removes).
    pub fn store(&mut self, key: &Key, nbindings: usize, object: &[u8]) -> std::io::Result<()> {
        if !self.dir.is_dir() {
            // Private (0700): cached code is executable input.
            fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        }
        let mut tmp = tempfile::Builder::new().prefix(".tmp-").suffix(".o").tempfile_in(&self.dir)?;
        tmp.write_all(&entry_bytes(key, nbindings, object))?;
        tmp.as_file().sync_data()?;
        tmp.persist(self.path(key)).map_err(|e| e.error)?;
        let written = (HEADER_BYTES + object.len()) as u64;
        let total = match self.approx_bytes {
            Some(n) => n + written,
            None => self.scan().iter().map(|e| e.1).sum(),
        };
        self.approx_bytes = Some(total);
        if total > self.max_bytes {
            self.evict();
        }
        Ok(())
    }

    /// Every entry `(path, bytes, modification time)` in the directory.
    fn scan(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        let Ok(rd) = fs::read_dir(&self.dir) else { return vec![] };
        rd.filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".o") && !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| {
                let md = e.metadata().ok()?;
                Some((e.path(), md.len(), md.modified().ok()?))
            })
            .collect()
    }

    /// Removes least recently used entries until at most 90 % of the cap is used.
    fn evict(&mut self) {
        let mut entries = self.scan();
        entries.sort_by_key(|e| e.2);
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        let target = self.max_bytes / 10 * 9;
        for (path, size, _) in entries {
            if total <= target {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= size;
            }
        }
        self.approx_bytes = Some(total);
    }
}

/// The bytes of an entry for `object` (see the module docs for the layout).
pub fn entry_bytes(key: &Key, nbindings: usize, object: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_BYTES + object.len());
    v.extend_from_slice(&MAGIC);
    v.extend_from_slice(&key.0);
    v.extend_from_slice(&(nbindings as u32).to_le_bytes());
    v.extend_from_slice(&(object.len() as u64).to_le_bytes());
    v.extend_from_slice(blake3::hash(object).as_bytes());
    v.extend_from_slice(object);
    v
}

/// Checks an entry's bytes against the key and slot count expected.
///
/// Errors: a short reason (`"truncated"`, `"bad magic"`, `"foreign key"`, `"binding count"`,
/// `"length"`, `"checksum"`).
pub fn check(bytes: &[u8], key: &Key, nbindings: usize) -> Result<(), String> {
    if bytes.len() < HEADER_BYTES {
        return Err("truncated".into());
    }
    if bytes[..8] != MAGIC {
        return Err("bad magic".into());
    }
    if bytes[8..40] != key.0 {
        return Err("foreign key".into());
    }
    let n = u32::from_le_bytes(bytes[40..44].try_into().unwrap_or_default());
    if n as usize != nbindings {
        return Err("binding count".into());
    }
    let len = u64::from_le_bytes(bytes[44..52].try_into().unwrap_or_default());
    if len != (bytes.len() - HEADER_BYTES) as u64 {
        return Err("length".into());
    }
    if bytes[52..84] != *blake3::hash(&bytes[HEADER_BYTES..]).as_bytes() {
        return Err("checksum".into());
    }
    Ok(())
}
