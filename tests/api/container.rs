//! The container image, built without Docker and run with a real OCI
//! runtime: `packaging/image/rootfs.sh` and `packaging/image/oci.py` make
//! the OCI image (its configuration read from `packaging/Dockerfile`),
//! `umoci` unpacks it into a runtime bundle as any OCI tool would, and
//! `runc` runs it as `docker run --network host --read-only -v VOL:/data
//! -e PORT=0` would: the image's user, entrypoint, environment and stop
//! signal as configured, the data volume a host directory. `./test`
//! installs umoci and runc; running containers needs root.
//!
//! The binary in the image is the test build unless `MANA_IMAGE_BINARY`
//! names another (`.ci/run` passes the release build, whose image size the
//! README reports).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{binary, PASSWORD};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Builds the image from `bin` into `dir/image`; returns oci.py's summary.
fn build_image(bin: &Path, dir: &Path) -> Value {
    let rootfs = dir.join("rootfs");
    run(Command::new(repo().join("packaging/image/rootfs.sh"))
        .arg(bin)
        .arg(&rootfs));
    let summary = run(Command::new("python3")
        .arg(repo().join("packaging/image/oci.py"))
        .arg("--rootfs")
        .arg(&rootfs)
        .arg("--out")
        .arg(dir.join("image"))
        .arg("--archive")
        .arg(dir.join("image.tar"))
        .args(["--version", env!("CARGO_PKG_VERSION")]));
    serde_json::from_str(&summary).unwrap()
}

/// A running container; deleted on drop.
struct Container {
    id: String,
    runc: Child,
    log: Arc<Mutex<String>>,
}

impl Container {
    /// `runc run` of `bundle` with its output collected; waits for the
    /// server's "listening" line and returns the port.
    fn start(bundle: &Path, id: &str) -> (Self, u16) {
        let mut runc = Command::new("runc")
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runc did not start");
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(runc.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(runc.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let mut c = Self {
            id: id.to_owned(),
            runc,
            log,
        };
        let started = Instant::now();
        let port = loop {
            let text = c.log.lock().unwrap().clone();
            if let Some(rest) = text.split("listening on http://").nth(1) {
                let addr: String = rest.chars().take_while(|ch| !ch.is_whitespace()).collect();
                break addr.rsplit(':').next().unwrap().parse().unwrap();
            }
            if let Some(status) = c.runc.try_wait().unwrap() {
                panic!("the container exited ({status}) before listening:\n{text}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "not listening after 30 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        (c, port)
    }

    /// The host pid of the container's process.
    fn pid(&self) -> u32 {
        let state: Value =
            serde_json::from_str(&run(Command::new("runc").args(["state", &self.id]))).unwrap();
        state["pid"].as_u64().unwrap() as u32
    }

    /// `runc kill ID TERM`, as a runtime stops a container with the image's
    /// STOPSIGNAL; waits for the exit (5 s hang guard).
    fn stop(&mut self) -> (std::process::ExitStatus, Duration, String) {
        let started = Instant::now();
        run(Command::new("runc").args(["kill", &self.id, "TERM"]));
        loop {
            if let Some(status) = self.runc.try_wait().unwrap() {
                let took = started.elapsed();
                return (status, took, self.log.lock().unwrap().clone());
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the container did not stop 5 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .args(["delete", "--force", &self.id])
            .output();
        let _ = self.runc.kill();
        let _ = self.runc.wait();
    }
}

/// The runtime configuration umoci derived from the image, adjusted as a
/// `docker run --network host --read-only -v VOLUME:/data -e PORT=0` would:
/// host network (no network namespace), read-only root, the image's
/// volume a host directory, the port picked by the kernel, no terminal.
fn adjust_bundle(bundle: &Path, volume: &Path) {
    let path = bundle.join("config.json");
    let mut c: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    c["process"]["terminal"] = json!(false);
    let env = c["process"]["env"].as_array_mut().unwrap();
    env.retain(|e| !e.as_str().unwrap().starts_with("PORT="));
    env.push(json!("PORT=0"));
    c["root"]["readonly"] = json!(true);
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "network");
    let mounts = c["mounts"].as_array_mut().unwrap();
    let data = mounts
        .iter_mut()
        .find(|m| m["destination"] == "/data")
        .expect("umoci mounts the image's VOLUME /data");
    *data = json!({
        "destination": "/data", "type": "bind", "source": volume,
        "options": ["rbind", "rw", "nosuid", "nodev", "noexec"],
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_serves_as_a_non_root_user_keeps_data_in_its_volume_and_stops_on_sigterm() {
    assert!(
        is_root(),
        "running the image needs root (runc, umoci unpack with ownership); run ./test as root"
    );
    let tmp = tempfile::tempdir().unwrap();
    let bin = match std::env::var("MANA_IMAGE_BINARY") {
        Ok(release) => PathBuf::from(release),
        // The test build without its debug sections (the release profile
        // strips too): a quarter of the size to pack and unpack.
        Err(_) => {
            let stripped = tmp.path().join("mana-auth");
            run(Command::new("strip").arg("-o").arg(&stripped).arg(binary()));
            stripped
        }
    };
    let dir = tmp.path().to_owned();
    let bin2 = bin.clone();
    let summary = tokio::task::spawn_blocking(move || build_image(&bin2, &dir))
        .await
        .unwrap();
    let archive = std::fs::metadata(tmp.path().join("image.tar"))
        .unwrap()
        .len();
    println!(
        "image from {}: {} bytes unpacked, {} bytes compressed (layer + config + manifest), \
         oci-archive {archive} bytes, {}",
        bin.display(),
        summary["uncompressedBytes"],
        summary["compressedBytes"],
        summary["manifestDigest"]
    );
    // What the Dockerfile says, in the image.
    let config = &summary["config"];
    assert_eq!(config["User"], "10001:10001");
    assert!(config["Volumes"].get("/data").is_some());
    assert_eq!(config["StopSignal"], "SIGTERM");
    assert_eq!(config["Entrypoint"], json!(["/usr/local/bin/mana-auth"]));

    // umoci, an independent OCI implementation, unpacks it into a bundle.
    let bundle = tmp.path().join("bundle");
    let layout = format!("{}:latest", tmp.path().join("image").display());
    let b = bundle.clone();
    tokio::task::spawn_blocking(move || {
        run(Command::new("umoci")
            .args(["unpack", "--image", &layout])
            .arg(&b))
    })
    .await
    .unwrap();
    let rootfs = bundle.join("rootfs");
    assert!(!rootfs.join("bin/sh").exists(), "no shell in the image");
    // A named volume starts as the image's /data: owned by the mana user.
    let volume = tmp.path().join("volume");
    std::fs::create_dir(&volume).unwrap();
    let data = std::fs::metadata(rootfs.join("data")).unwrap();
    std::os::unix::fs::chown(&volume, Some(data.uid()), Some(data.gid())).unwrap();
    adjust_bundle(&bundle, &volume);

    let id = format!("mana-auth-test-{}", std::process::id());
    let b = bundle.clone();
    let id2 = id.clone();
    let (mut c, port) = tokio::task::spawn_blocking(move || Container::start(&b, &id2))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let health: Value = client
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "mana-auth");
    // Non-root: the process runs as 10001:10001 and so do its files.
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.pid())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().collect::<Vec<_>>()[1..],
        ["10001"; 4]
    );
    let r = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({ "email": "boxed@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let db = std::fs::metadata(volume.join("mana-auth.db")).unwrap();
    assert_eq!((db.uid(), db.gid()), (10001, 10001));

    let (status, took, log) = tokio::task::spawn_blocking(move || {
        let out = c.stop();
        drop(c);
        out
    })
    .await
    .unwrap();
    assert!(status.success(), "{status}\n{log}");
    assert!(
        log.contains(r#""message":"stopped","checkpoint":"truncated""#),
        "{log}"
    );
    println!(
        "container stop: runc kill TERM -> exit {:.0} ms",
        took.as_secs_f64() * 1e3
    );

    // The data outlives the container: a new one on the same volume has it.
    let b = bundle.clone();
    let id2 = format!("{id}-again");
    let (c, port) = tokio::task::spawn_blocking(move || Container::start(&b, &id2))
        .await
        .unwrap();
    let r = client
        .post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
        .json(&json!({ "email": "boxed@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    // Known but unverified (the image requires verification): it survived.
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "EMAIL_NOT_VERIFIED");
    drop(c);
}
