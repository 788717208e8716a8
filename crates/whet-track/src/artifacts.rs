//! Artifact files: written atomically (temp file, fsync, rename) with their sha256 computed
//! on the way, and verified against the recorded checksum on every read.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::{ArtifactInfo, ArtifactSource};

pub(crate) fn write_atomic(dest: &Path, source: ArtifactSource<'_>) -> Result<(u64, String)> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create folder", dir, e))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}",
        &uuid::Uuid::new_v4().as_simple().to_string()[..12]
    ));
    let result = (|| {
        let mut out = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        match source {
            ArtifactSource::Bytes(b) => {
                out.write_all(b).map_err(|e| Error::io("write", &tmp, e))?;
                hasher.update(b);
                size = b.len() as u64;
            }
            ArtifactSource::File(src) => {
                let mut input = File::open(src).map_err(|e| Error::io("open", src, e))?;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = input
                        .read(&mut buf)
                        .map_err(|e| Error::io("read", src, e))?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n])
                        .map_err(|e| Error::io("write", &tmp, e))?;
                    hasher.update(&buf[..n]);
                    size += n as u64;
                }
            }
        }
        out.sync_all().map_err(|e| Error::io("sync", &tmp, e))?;
        drop(out);
        std::fs::rename(&tmp, dest).map_err(|e| Error::io("rename into place", dest, e))?;
        // The rename itself must reach the disk before the database says the file exists.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok((size, hex::encode(hasher.finalize())))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads an artifact whole and checks it against its record.
pub(crate) fn read_verified(path: &Path, info: &ArtifactInfo) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read artifact", path, e))?;
    verify(path, &bytes, info)?;
    Ok(bytes)
}

pub(crate) fn verify(path: &Path, bytes: &[u8], info: &ArtifactInfo) -> Result<()> {
    let actual = hex::encode(Sha256::digest(bytes));
    if actual != info.sha256 || bytes.len() as u64 != info.size {
        return Err(Error::ArtifactChecksum {
            path: PathBuf::from(path),
            expected: info.sha256.clone(),
            actual,
            expected_size: info.size,
            actual_size: bytes.len() as u64,
        });
    }
    Ok(())
}

pub(crate) fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => total += dir_size(&e.path()),
                Ok(_) => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                Err(_) => {}
            }
        }
    }
    total
}
