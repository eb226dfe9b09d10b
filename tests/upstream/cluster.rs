//! A throw-away PostgreSQL cluster for the import tests and benchmark:
//! `initdb` + `pg_ctl` on a temporary directory and a free port, trust
//! authentication on 127.0.0.1 only, fsync off. initdb refuses to run as
//! root, so as root (tests in CI) the cluster runs as `nobody` through
//! `runuser`. The binaries come from `PG_BINDIR`, else the newest Debian
//! `/usr/lib/postgresql/*/bin` (apt package `postgresql`, installed by
//! `./test`). Dropping the cluster stops it and removes its directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Cluster {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
    run_as: Option<String>,
}

fn newest_bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let version = e.file_name().to_str()?.parse::<u32>().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").exists().then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL server binaries not found: apt-get install postgresql \
             (./test does), or set PG_BINDIR"
        ),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn check(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Cluster {
    /// Creates and starts a cluster whose superuser is `postgres`.
    pub fn start() -> Cluster {
        Self::start_with(None)
    }

    /// The same, with TLS on from this PEM certificate and key.
    pub fn start_with(tls: Option<(&[u8], &[u8])>) -> Cluster {
        let bin = newest_bindir();
        let dir = tempfile::Builder::new()
            .prefix("mana-auth-pg-")
            .tempdir()
            .unwrap();
        let root = dir.path().to_owned();
        let run_as = is_root().then(|| "nobody".to_owned());
        if run_as.is_some() {
            // The cluster's user must own its directory.
            check(
                "chown",
                Command::new("chown")
                    .args(["nobody:", root.to_str().unwrap()])
                    .output()
                    .unwrap(),
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster {
            port,
            bin,
            dir,
            run_as,
        };
        let data = cluster.data();
        check(
            "initdb",
            cluster
                .command("initdb")
                .args([
                    "-D",
                    &data,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ])
                .output()
                .unwrap(),
        );
        let mut options = format!(
            "-p {port} -h 127.0.0.1 -k {} -F -c max_connections=20 -c shared_buffers=32MB",
            cluster.root().display()
        );
        if let Some((cert, key)) = tls {
            let (cert_path, key_path) = (
                cluster.root().join("server.crt"),
                cluster.root().join("server.key"),
            );
            std::fs::write(&cert_path, cert).unwrap();
            std::fs::write(&key_path, key).unwrap();
            std::fs::set_permissions(
                &key_path,
                std::os::unix::fs::PermissionsExt::from_mode(0o600),
            )
            .unwrap();
            if let Some(user) = &cluster.run_as {
                for file in [&cert_path, &key_path] {
                    check(
                        "chown",
                        Command::new("chown")
                            .args([&format!("{user}:"), file.to_str().unwrap()])
                            .output()
                            .unwrap(),
                    );
                }
            }
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert_path.display(),
                key_path.display()
            ));
        }
        check(
            "pg_ctl start",
            cluster
                .command("pg_ctl")
                .args([
                    "-D",
                    &data,
                    "-l",
                    &cluster.log(),
                    "-o",
                    &options,
                    "-w",
                    "start",
                ])
                .output()
                .unwrap(),
        );
        cluster
    }

    fn data(&self) -> String {
        self.root().join("data").display().to_string()
    }

    fn log(&self) -> String {
        self.root().join("postgres.log").display().to_string()
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c.current_dir(self.root());
                c
            }
            None => Command::new(path),
        }
    }

    /// `postgres://user:password@127.0.0.1:port/db`.
    pub fn url(&self, user: &str, password: Option<&str>, db: &str) -> String {
        let auth = match password {
            Some(p) => format!("{user}:{p}"),
            None => user.to_owned(),
        };
        format!("postgres://{auth}@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs `sql` with psql as the superuser on `db`; stops at the first error.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = check(
            "psql",
            Command::new(self.bin.join("psql"))
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
                .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
                .args(["-c", sql])
                .output()
                .unwrap(),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The cluster's directory (data, log, socket).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .output();
    }
}
