//! A running hub for the service tests: a config with free ports and the test registry,
//! `ferret serve` as a child process, the Debian fixture image pushed to a real registry,
//! and small HTTP helpers.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::*;

pub fn have(tool: &str) -> bool {
    tool_available(
        Command::new("sh").args(["-c", &format!("command -v {tool}")]),
        tool,
    )
}

pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP/1.1 GET on loopback: status and body.
pub fn http_get(addr: &str, path: &str, headers: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

pub fn wait_for(addr: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing listens on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn spawn(args: &[&str], log: &Path) -> Killed {
    let log = std::fs::File::create(log).unwrap();
    Killed(
        ferret()
            .args(args)
            .env("FERRET_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

/// A hub's config file with free ports and the test registry as `local`.
pub struct Conf {
    pub path: std::path::PathBuf,
    pub http: String,
    pub grpc: String,
}

pub fn hub_config(d: &Path, name: &str, registry: &Registry, extra: &str) -> Conf {
    let http = format!("127.0.0.1:{}", free_port());
    let grpc = format!("127.0.0.1:{}", free_port());
    let path = d.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "data_dir = {:?}\nhttp = {http:?}\ngrpc = {grpc:?}\nadmin_password = \"admin-pw\"\n{extra}\n[[registries]]\nname = \"local\"\nurl = \"http://{}\"\n",
            d.join(name).display().to_string(),
            registry.addr
        ),
    )
    .unwrap();
    Conf { path, http, grpc }
}

/// An API token for the hub's first admin (`ferret token create`).
pub fn admin_token(conf: &Conf, database: Option<&str>) -> String {
    let mut args = vec![
        "token",
        "create",
        "admin",
        "--config",
        conf.path.to_str().unwrap(),
    ];
    if let Some(url) = database {
        args.extend(["--database-url", url]);
    }
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    out.trim().to_owned()
}

/// `ferret serve --config CONF ARGS…`, logging to `log`, once it listens.
pub fn serve(conf: &Conf, args: &[&str], log: &Path) -> Killed {
    let mut all = vec!["serve", "--config", conf.path.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut hub = spawn(&all, log);
    let started = Instant::now();
    while std::net::TcpStream::connect(&conf.http).is_err() {
        // A hub that stopped will never listen: say why at once.
        if let Ok(Some(status)) = hub.0.try_wait() {
            panic!(
                "the hub exited ({status}) before listening on {}:\n{}",
                conf.http,
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing listens on {}:\n{}",
            conf.http,
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    hub
}

/// The Debian fixture image, as an OCI layout (`d/layout`, tag `root`) and pushed to a
/// fresh registry as `app:TAG`.
pub fn pushed_fixture(d: &Path, tag: &str) -> Registry {
    let root = d.join("root");
    debian_fixture_root(&root);
    let layout = d.join("layout");
    image_of_root(&root, &layout);
    let registry = start_registry(None);
    push(
        &layout,
        "root",
        &format!("{}/app:{tag}", registry.addr),
        None,
        false,
    );
    registry
}

/// The Debian fixture image pushed to a fresh registry as `app:1.0`, an advisory database
/// with its tracker records, and `ferret scan`'s JSON report of the same image.
pub fn fixture(d: &Path) -> (Registry, std::path::PathBuf, Value) {
    let registry = pushed_fixture(d, "1.0");
    let feed = d.join("tracker.json");
    debian_fixture_tracker(&feed);
    let db = d.join("db");
    import(&db, "debian-tracker", &[feed]);
    let local = scan_json(&db, &format!("oci:{}:root", d.join("layout").display()));
    (registry, db, local)
}

/// A fresh schema on the test PostgreSQL, as a URL; `None` (said loudly) without one.
pub fn postgres_schema_url(label: &str) -> Option<String> {
    let Ok(base) = std::env::var("FERRET_TEST_POSTGRES_URL") else {
        eprintln!("\n*** SKIPPED (PostgreSQL half): FERRET_TEST_POSTGRES_URL is not set ***\n");
        return None;
    };
    let schema = format!("ferret_{label}_{}", std::process::id());
    let out = Command::new("psql")
        .arg(&base)
        .args([
            "-c",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
        ])
        .output()
        .expect("psql (postgresql-client) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-csearch_path%3D{schema}"))
}

/// `ferret user add NAME --password-stdin` on the hub's database.
pub fn add_user(conf: &Conf, name: &str, password: &str) {
    let mut child = ferret()
        .args(["user", "add", name, "--password-stdin", "--config"])
        .arg(&conf.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
