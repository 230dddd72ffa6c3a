//! The hub's management front doors against a running `ferret serve` with a real registry:
//! the official Yandex Cloud SDK's generated stubs (PyPI `yandexcloud`) over gRPC, the same
//! sequence over REST, isolation between users and bad input on every parameter
//! (`yandex/sdk_flow.py`), our `.proto` files against the SDK's descriptors
//! (`yandex/compare_protos.py`), the published Aqua workflow under Redocly Respect, and
//! Schemathesis fuzzing every REST operation of the OpenAPI document for server errors.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use ferret_testsupport::service::*;
use ferret_testsupport::*;
use serde_json::{Value, json};

fn user_token(conf: &Conf, name: &str) -> String {
    let (code, out, err) = run(&[
        "token",
        "create",
        name,
        "--config",
        conf.path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    out.trim().to_owned()
}

/// A JSON request to the hub: status and body.
fn call(
    http: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut args = vec![
        "-s".to_owned(),
        "-X".to_owned(),
        method.to_owned(),
        "-w".to_owned(),
        "\n%{http_code}".to_owned(),
        format!("http://{http}{path}"),
    ];
    if let Some(t) = token {
        args.extend(["-H".to_owned(), format!("Authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        args.extend([
            "-H".to_owned(),
            "Content-Type: application/json".to_owned(),
            "--data".to_owned(),
            b.to_string(),
        ]);
    }
    let out = Command::new("curl").args(&args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// The fixture with forty more openssl advisories in its database (every urgency, open
/// and fixed), so that lists span many pages; `ferret scan`'s report of it.
fn rich_fixture(d: &Path) -> (Registry, std::path::PathBuf, Value) {
    let (registry, db, _) = fixture(d);
    let feed = d.join("tracker.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&feed).unwrap()).unwrap();
    let urgencies = ["high", "medium", "low", "unimportant", "not yet assigned"];
    for n in 0..40 {
        let fixed = (n % 2 == 0).then_some("3.0.13-1~deb12u1");
        let status = if fixed.is_some() { "resolved" } else { "open" };
        doc["openssl"][format!("CVE-2025-{n:04}")] = json!({"releases": {"bookworm": release(status, fixed, urgencies[n % urgencies.len()])}});
    }
    std::fs::write(&feed, doc.to_string()).unwrap();
    std::fs::remove_dir_all(&db).unwrap();
    import(&db, "debian-tracker", &[feed]);
    let local = scan_json(&db, &format!("oci:{}:root", d.join("layout").display()));
    assert!(
        local["summary"]["total"].as_u64().unwrap() > 40,
        "{}",
        local["summary"]
    );
    (registry, db, local)
}

/// The severity counts of `ferret scan`'s JSON report, named as the Yandex stats are.
fn expected_stats(local: &Value) -> Value {
    let s = &local["summary"];
    json!({
        "critical": s["critical"], "high": s["high"], "medium": s["medium"],
        "low": s["low"], "negligible": s["negligible"], "undefined": s["unknown"],
    })
}

/// Waits until alice's registered image has finished scanning (Aqua's read).
fn wait_scanned(http: &str, token: &str, path: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let (status, body) = call(http, "GET", path, Some(token), None);
        assert_eq!(status, 200, "{body}");
        if body["scan_status"] == "completed" || body["scan_status"] == "failed" {
            return body;
        }
        assert!(started.elapsed().as_secs() < 300, "still scanning: {body}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// Whether `python` has the Yandex Cloud SDK; in CI it must.
fn has_sdk(python: &str) -> bool {
    let sdk = Command::new(python)
        .args([
            "-c",
            "import yandex.cloud.containerregistry.v1.scanner_service_pb2_grpc",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !sdk {
        assert!(
            std::env::var_os("CI").is_none(),
            "{python} lacks the Yandex Cloud SDK (pip install yandexcloud); .ci/run installs it"
        );
        eprintln!("skipped: {python} lacks the Yandex Cloud SDK");
    }
    sdk
}

/// The wire contract: Ferret's `.proto` files declare exactly the SDK's packages,
/// messages, field names, numbers and types, and method signatures.
#[test]
fn our_protos_are_the_sdks() {
    let python = python();
    if !has_sdk(&python) {
        return;
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(&python)
        .arg(manifest.join("tests/yandex/compare_protos.py"))
        .arg(manifest.join("../hub/proto"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("match the SDK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_yandex_sdk_and_rest_clients_scan_list_and_page() {
    if !have("docker-registry") || !have("skopeo") || !have("curl") {
        eprintln!("skipped: docker-registry, skopeo and curl are needed");
        return;
    }
    let python = python();
    if !has_sdk(&python) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (registry, db, local) = rich_fixture(d);
    let mut backends = vec![None];
    backends.extend(postgres_schema_url("front").map(Some));
    for (i, database) in backends.into_iter().enumerate() {
        let extra = database
            .map(|url| format!("database_url = {url:?}"))
            .unwrap_or_default();
        sdk_flow(
            d,
            &format!("hub{i}"),
            &registry,
            &db,
            &local,
            &python,
            &extra,
        );
    }
}

/// One hub (SQLite or PostgreSQL, as `extra` configures it): alice registers the fixture
/// image the Aqua way, then `yandex/sdk_flow.py` runs every check against it.
fn sdk_flow(
    d: &Path,
    name: &str,
    registry: &Registry,
    db: &Path,
    local: &Value,
    python: &str,
    extra: &str,
) {
    let ttl = 3;
    let conf = hub_config(d, name, registry, &format!("session_ttl = {ttl}\n{extra}"));
    let log_path = d.join(format!("{name}.log"));
    let _hub = serve(&conf, &["--db-dir", db.to_str().unwrap()], &log_path);
    add_user(&conf, "alice", "alice-pw");
    add_user(&conf, "bob", "bob-password");
    let (alice, bob) = (user_token(&conf, "alice"), user_token(&conf, "bob"));

    // Alice registers the image the Aqua way (it is scanned once), so the SDK finds it.
    let (status, body) = call(
        &conf.http,
        "POST",
        "/api/v2/images",
        Some(&alice),
        Some(&json!({"registry": "local", "image": "app:1.0"})),
    );
    assert_eq!(status, 200, "{body}");
    let first = wait_scanned(&conf.http, &alice, "/api/v2/images/local/app/1.0");
    assert_eq!(first["scan_status"], "completed", "{first}");

    let out = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/yandex/sdk_flow.py"))
        .env("FERRET_GRPC", &conf.grpc)
        .env("FERRET_HTTP", &conf.http)
        .env("ALICE_TOKEN", &alice)
        .env("BOB_TOKEN", &bob)
        .env("BOB_NAME", "bob")
        .env("BOB_PASSWORD", "bob-password")
        .env("SESSION_TTL", ttl.to_string())
        .env("EXPECTED", expected_stats(local).to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "{name}: {stdout}\n{}\nhub:\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!log.contains("panicked"), "{log}");
    eprintln!("{name}:\n{stdout}");
}

#[test]
fn the_published_aqua_workflow_runs_under_redocly_respect() {
    if !have("docker-registry") || !have("skopeo") || !have("curl") {
        eprintln!("skipped: docker-registry, skopeo and curl are needed");
        return;
    }
    if !have("redocly") {
        assert!(
            std::env::var_os("CI").is_none(),
            "redocly (npm @redocly/cli@2) is missing; .ci/run installs it"
        );
        eprintln!("skipped: redocly (npm @redocly/cli@2) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (registry, db, local) = fixture(d);
    // A repository name with a slash, which Redocly puts in the path as it is.
    push(
        &d.join("layout"),
        "root",
        &format!("{}/team/app:1.0", registry.addr),
        None,
        false,
    );
    let conf = hub_config(d, "hub", &registry, "");
    let _hub = serve(
        &conf,
        &["--db-dir", db.to_str().unwrap()],
        &d.join("hub.log"),
    );
    add_user(&conf, "ci", "ci-password");

    // The hub's OpenAPI document, and the published workflow with only its source
    // description pointed at it.
    let (status, openapi) = call(&conf.http, "GET", "/openapi.json", None, None);
    assert_eq!(status, 200);
    assert!(
        openapi["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        openapi["openapi"]
    );
    let spec = d.join("ferret-openapi.json");
    std::fs::write(&spec, openapi.to_string()).unwrap();
    let workflow = std::fs::read_to_string(
        testdata()
            .parent()
            .unwrap()
            .join("workflows/aqua-scan-image-on-demand.rfc9535.arazzo.yaml"),
    )
    .unwrap();
    let original = "  url: ../openapi/aqua-security-api.yaml\n";
    assert!(workflow.contains(original));
    let workflow = workflow.replace(original, &format!("  url: {}\n", spec.display()));
    let wf = d.join("scan-image-on-demand.arazzo.yaml");
    std::fs::write(&wf, workflow).unwrap();

    let result = d.join("respect.json");
    let out = Command::new("redocly")
        .current_dir(d)
        .args(["respect", wf.to_str().unwrap()])
        .args([
            "-i",
            "id=ci",
            "-i",
            "password=ci-password",
            "-i",
            "registry=local",
        ])
        .args([
            "-i",
            "image=team/app:1.0",
            "-i",
            "image_name=team/app",
            "-i",
            "image_tag=1.0",
        ])
        .args(["--max-steps", "100000", "-J", result.to_str().unwrap()])
        .env("REDOCLY_TELEMETRY", "off")
        .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "respect failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = std::fs::read_to_string(&result).unwrap();
    let digest = local["source"]["digest"].as_str().unwrap();
    assert!(
        log.contains(digest),
        "the log shows the scan's digest {digest}"
    );
    let report: Value = serde_json::from_str(&log).unwrap();
    // The last poll's answer: the scan completed, with its counts.
    let last = find_key(&report, "body")
        .into_iter()
        .rfind(|b| b["scan_status"] == "completed")
        .unwrap_or_else(|| panic!("no completed scan in {log}"));
    assert_eq!(last["digest"], digest);
    let outputs = &last["vulnerabilities"];
    let s = &local["summary"];
    for (ours, theirs) in [
        ("critical", "critical"),
        ("high", "high"),
        ("medium", "medium"),
        ("low", "low"),
        ("negligible", "negligible"),
        ("unknown", "unknown"),
    ] {
        assert_eq!(outputs[ours], s[theirs], "{ours}: {outputs} against {s}");
    }
    // It polled: a pending or running answer came before the completed one.
    let statuses: Vec<&Value> = find_key(&report, "scan_status");
    assert!(statuses.len() >= 2, "{log}");

    // The same image, its slash sent raw or %2F-encoded, read by an admin: admins see
    // every user's images here as at the other doors.
    let admin = admin_token(&conf, None);
    for path in [
        "/api/v2/images/local/team/app/1.0",
        "/api/v2/images/local/team%2Fapp/1.0",
    ] {
        let (status, body) = call(&conf.http, "GET", path, Some(&admin), None);
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["digest"], digest, "{path}");
        assert_eq!(body["name"], "team/app", "{path}");
        assert_eq!(body["scan_status"], "completed", "{path}");
    }
    // A path no door serves: the one error table, not an empty 404.
    let (status, body) = call(&conf.http, "GET", "/api/v9/nothing", Some(&admin), None);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], 5, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("/api/v9/nothing"),
        "{body}"
    );
    assert_eq!(body["details"], json!([]));
}

/// Every value under `key` anywhere in `v`.
fn find_key<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    let mut found = Vec::new();
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    found.push(x);
                }
                found.extend(find_key(x, key));
            }
        }
        Value::Array(a) => a.iter().for_each(|x| found.extend(find_key(x, key))),
        _ => {}
    }
    found
}

/// Schemathesis (PyPI) generates requests for every operation in the hub's OpenAPI
/// document, valid and not, with and without a token: none may get a 5xx.
#[test]
fn no_generated_request_gets_a_server_error() {
    let python = python();
    let has = Command::new(&python)
        .args(["-m", "schemathesis.cli", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        assert!(
            std::env::var_os("CI").is_none(),
            "{python} lacks schemathesis; .ci/run installs it"
        );
        eprintln!("skipped: {python} lacks schemathesis");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let http = format!("127.0.0.1:{}", free_port());
    let grpc = format!("127.0.0.1:{}", free_port());
    let conf = d.join("hub.toml");
    std::fs::write(
        &conf,
        format!(
            "data_dir = {:?}\nhttp = {http:?}\ngrpc = {grpc:?}\nadmin_password = \"pw\"\nembedded_scanner = false\n[[registries]]\nname = \"local\"\nurl = \"http://127.0.0.1:9\"\n",
            d.join("data").display().to_string()
        ),
    )
    .unwrap();
    let conf = Conf {
        path: conf,
        http: http.clone(),
        grpc,
    };
    let log = d.join("hub.log");
    let _hub = serve(&conf, &[], &log);
    let token = admin_token(&conf, None);
    for auth in [Some(token.as_str()), None] {
        let mut cmd = Command::new(&python);
        cmd.args(["-m", "schemathesis.cli", "run"])
            .arg(format!("http://{http}/openapi.json"))
            .args([
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "30",
                "--seed",
                "1",
            ])
            .args(["--no-color"])
            .current_dir(d);
        if let Some(t) = auth {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let hub_log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            out.status.success(),
            "schemathesis found server errors (token: {})\n{stdout}\n{}\nhub:\n{hub_log}",
            auth.is_some(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!hub_log.contains("panicked"), "{hub_log}");
    }
}
