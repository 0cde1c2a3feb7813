//! Durable file writes: temp file in the same directory, fsync, rename, fsync the directory.
//!
//! A reader sees either the old file or the new one, never a torn mix, whatever happens to the
//! process or the machine in between. Files are created mode 0600: plans and states describe
//! infrastructure and are nobody else's business.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The largest YAML file stackform reads (a template, a var file, an integration manifest, the
/// home's config): the biggest shipped template is a few tens of kilobytes.
pub const MAX_YAML_BYTES: u64 = 8 << 20;

/// The largest JSON document stackform reads from a user (a saved plan, a stack export, a
/// Terraform state, a secret's value): plans of thousands of resources stay well below it.
pub const MAX_DATA_BYTES: u64 = 128 << 20;

/// Why an input file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{} is larger than the {} stackform reads from one {what}", path.display(), size(*limit))]
    TooLarge {
        path: PathBuf,
        what: &'static str,
        limit: u64,
    },
    #[error("{source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ReadError {
    pub fn help(&self) -> String {
        match self {
            ReadError::TooLarge { what, .. } => format!(
                "check that this is the {what} you meant; a file this large is almost always a \
                 mistake (or a file made to exhaust memory)"
            ),
            ReadError::Io { .. } => "check the path and its permissions".to_owned(),
        }
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// The largest state snapshot or journal stackform reads: a stack of 10,000 resources takes
/// tens of megabytes; a file past this was not written by stackform.
pub const MAX_STATE_BYTES: u64 = 1 << 30;

/// Reads the text of `path`, a `what` ("template", "var file") given by a user, refusing more
/// than `limit` bytes. The file is never read past the limit, whatever its metadata says (a
/// pipe or a file still growing).
pub fn read_input(path: &Path, what: &'static str, limit: u64) -> Result<String, ReadError> {
    let bytes = read_bounded(path, what, limit)?;
    String::from_utf8(bytes).map_err(|e| ReadError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text ({e})"),
        ),
    })
}

/// Reads the bytes of `path`, refusing more than `limit` (as [`read_input`], without asking for
/// text).
pub fn read_bounded(path: &Path, what: &'static str, limit: u64) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let too_large = || ReadError::TooLarge {
        path: path.to_owned(),
        what,
        limit,
    };
    if file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() > limit)
    {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Replaces `path` with `bytes` atomically and durably, mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Creates `dir` and any missing parent, each mode 0700: stack, secret and connector
/// directories' names say what a user runs and keeps, which is nobody else's business.
/// Directories that exist are left as they are.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    tighten_dir(dir)
}

/// Takes group and other access away from an existing directory (one made 0755 by an older
/// version, or by hand): stack and secret names are nobody else's business either. A missing
/// directory is left missing.
pub fn tighten_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() && m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_read_up_to_their_limit() {
        let dir = std::env::temp_dir().join(format!("sf-fsio-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.yaml");
        std::fs::write(&path, "a: 1\n").unwrap();
        assert_eq!(read_input(&path, "template", 5).unwrap(), "a: 1\n");
        let err = read_input(&path, "template", 4).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { .. }));
        let message = err.to_string();
        assert!(
            message.contains("t.yaml") && message.contains("template"),
            "{message}"
        );
        assert!(matches!(
            read_input(&dir.join("missing"), "template", 4),
            Err(ReadError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replaces_content_with_private_mode() {
        let dir = std::env::temp_dir().join(format!("sf-fsio-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temp file is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
