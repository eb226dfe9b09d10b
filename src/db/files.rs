//! The files mana-auth writes hold key material (signing keys, two-factor
//! secrets, session and token hashes), so nobody but the server's own user
//! may read them: every process starts with `umask 0o077`, the data
//! directory is created 0700 and the database file 0600 before SQLite opens
//! it (SQLite gives its `-wal`, `-shm` and `-journal` files the mode of the
//! database file). An existing database file that others can read is
//! tightened to 0600, with a warning.
//!
//! Backups are written under a fresh temporary name opened with
//! `O_CREAT | O_EXCL | O_NOFOLLOW` and published with a hard link, which
//! fails when the target name exists in any form — a file, or a symlink,
//! dangling or not — so a backup never writes through a link and never
//! replaces anything.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Makes everything this process creates private to its user. Called first
/// thing by the binary, for the server and every CLI command.
pub fn restrict_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Creates `dir` and any missing parents, each 0700. An existing directory
/// is left as it is (an operator may have set it up on purpose).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Opens a new file for writing, 0600; fails when the name exists, as a
/// file or as a symlink (dangling or not).
pub fn create_new_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
    }
    options.open(path)
}

/// Makes sure the database file exists as a private file before SQLite
/// opens it: created 0600 when missing; group or other bits of an existing
/// file (and of its `-wal` and `-shm`) are removed, with a warning.
pub fn prepare_database_file(path: &Path) -> io::Result<()> {
    match create_new_private(path) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let file = with_suffix(path, suffix);
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700))?;
            tracing::warn!(
                file = %file.display(),
                was = format!("{:o}", mode & 0o777),
                "the database file was readable by other users; it holds key material, now 0600"
            );
        }
    }
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A fresh hidden name in the directory of `dest`, for writing a file that
/// is published under `dest` once complete.
pub fn temp_beside(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    let tmp = format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple());
    match dest.parent() {
        Some(dir) => dir.join(tmp),
        None => PathBuf::from(tmp),
    }
}

/// Publishes the finished file `tmp` as `dest` without ever replacing an
/// existing name: a hard link (refused when `dest` exists, even as a
/// dangling symlink), then `tmp` is removed and the directory synced.
pub fn publish(tmp: &Path, dest: &Path) -> io::Result<()> {
    File::open(tmp)?.sync_all()?;
    std::fs::hard_link(tmp, dest)?;
    std::fs::remove_file(tmp)?;
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_stay_in_the_target_directory() {
        let t = temp_beside(Path::new("/backups/auth.db"));
        assert_eq!(t.parent(), Some(Path::new("/backups")));
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with(".auth.db.") && name.ends_with(".tmp"));
        assert_ne!(t, temp_beside(Path::new("/backups/auth.db")));
    }
}
