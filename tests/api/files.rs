//! Files on disk: the data directory is 0700 and every file in it 0600
//! whatever the umask, for the server and every CLI command; `backup` never
//! follows a symlink and never overwrites.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::binary;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The binary under `umask 022` (the usual default), as an operator runs it.
fn run_022(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATA_DIR", data_dir)
        .env("ARGON2_MEMORY_KIB", "64")
        .env("ARGON2_ITERATIONS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn assert_private(data: &Path) {
    assert_eq!(mode(data), 0o700, "data directory {}", data.display());
    let mut seen = 0;
    for entry in std::fs::read_dir(data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 1, "the database file exists");
}

#[test]
fn the_data_directory_and_its_files_are_private_under_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run_022(
        &data,
        &["admin", "create", "--email", "files@example.com"],
        "a-long-password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_private(&data);

    // The server too: start it, let it write, look while it runs (the -wal
    // and -shm files exist then).
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\"")
        .arg(binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATA_DIR", &data)
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("server exited").unwrap();
        if line.contains("listening on http://") {
            break;
        }
    }
    assert!(data.join("mana-auth.db-wal").exists());
    assert_private(&data);
    child.kill().unwrap();
    child.wait().unwrap();

    // A backup holds key material: 0600 as well.
    let out = run_022(
        &data,
        &["backup", dir.path().join("copy.db").to_str().unwrap()],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&dir.path().join("copy.db")), 0o600);
}

#[test]
fn backup_refuses_symlinks_and_existing_files_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run_022(&data, &["keys", "rotate"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A dangling symlink: the copy must not land where it points.
    let victim = dir.path().join("elsewhere.db");
    let link = dir.path().join("link.db");
    symlink(&victim, &link).unwrap();
    let out = run_022(&data, &["backup", link.to_str().unwrap()], "");
    assert!(!out.status.success(), "backup through a dangling symlink");
    assert!(!victim.exists(), "the backup followed the symlink");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());

    // A symlink to an existing file is not overwritten either.
    std::fs::write(&victim, b"precious").unwrap();
    let out = run_022(&data, &["backup", link.to_str().unwrap()], "");
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");

    // An existing file is not overwritten.
    let existing = dir.path().join("existing.db");
    std::fs::write(&existing, b"keep").unwrap();
    let out = run_022(&data, &["backup", existing.to_str().unwrap()], "");
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep");

    // No temporary file is left in the target directory by the refusals.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut expected = vec!["data", "elsewhere.db", "existing.db", "link.db"];
    expected.sort_unstable();
    let mut names_sorted = names.clone();
    names_sorted.sort_unstable();
    assert_eq!(names_sorted, expected, "{names:?}");
}
