//! Reading a contract file (`.api` or `.proto`) that may be hostile: a regular file of bounded
//! size, inside a given root after following symlinks. Both front ends read through this, so a
//! FIFO, a device, `/proc` or a link out of the project is refused the same way everywhere.

use std::io::Read;
use std::path::Path;

/// The largest contract file rustctl reads.
pub const MAX_CONTRACT_BYTES: u64 = 4 << 20;

/// Reads a contract file: a regular file of bounded size, inside `root` when one is given.
pub fn read_contract(path: &Path, root: Option<&Path>) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    // `metadata` follows symlinks: what counts is the file that would be read.
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if let Some(root) = root {
        let real = path.canonicalize()?;
        if !real.starts_with(root) {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!("outside {}", crate::diagnostic::display_path(root)),
            ));
        }
    }
    let too_big = || {
        Error::new(
            ErrorKind::InvalidData,
            format!("larger than {} MiB", MAX_CONTRACT_BYTES >> 20),
        )
    };
    if meta.len() > MAX_CONTRACT_BYTES {
        return Err(too_big());
    }
    // The size is checked again while reading: the file may have grown since.
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_CONTRACT_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONTRACT_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::InvalidData, "not UTF-8 text"))
}
