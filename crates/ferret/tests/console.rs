//! The operator's console in a real browser: Debian's headless Chromium driven over
//! WebDriver (`chromedriver`) against a hub that scanned the Debian fixture image from a
//! real registry. Screenshots of each page land in `target/test-artifacts/console/`.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use ferret_testsupport::service::*;
use ferret_testsupport::*;
use serde_json::{Value, json};

/// Whether Chromium, its driver and the registry are here (said loudly when not; CI has them).
fn browser_tools() -> bool {
    let here = have("chromium") && have("chromedriver") && have("docker-registry");
    if !here {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium, chromedriver and docker-registry are needed (.ci/run installs them)"
        );
        eprintln!("\n*** SKIPPED: chromium, chromedriver and docker-registry are needed ***\n");
    }
    here
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/console");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves a screenshot of the page and checks it is not blank: several colours, and more
/// than 1% of the pixels unlike the background.
async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join(format!("{name}.png")), &png).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(&png));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let background = pixels[pixels.len() - 1];
    let other = pixels.iter().filter(|p| *p != &background).count();
    let colours: std::collections::BTreeSet<&[u8]> = pixels.iter().copied().collect();
    assert!(
        colours.len() > 8 && other * 100 > pixels.len(),
        "the screenshot of {name} looks blank ({} colours, {other} of {} pixels differ)",
        colours.len(),
        pixels.len()
    );
}

/// `chromedriver` on a free loopback port, once it answers.
fn chromedriver(log: &Path) -> (Killed, String) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    wait_for(&addr);
    (Killed(child), format!("http://{addr}"))
}

async fn browser(driver: &str, downloads: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1024"],
            "prefs": {
                "download.default_directory": downloads.to_str().unwrap(),
                "download.prompt_for_download": false,
            },
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(driver)
        .await
        .unwrap()
}

/// Signs in and waits for the page the form leads to: one with `expect` in it (a submit
/// returns before the browser has loaded the next page).
async fn sign_in(c: &Client, base: &str, name: &str, password: &str, expect: &str) {
    c.goto(&format!("{base}/ui/login")).await.unwrap();
    let form = c.form(Locator::Css("form.login")).await.unwrap();
    form.set_by_name("name", name).await.unwrap();
    form.set_by_name("password", password).await.unwrap();
    submit_to_next(c, &form).await;
    wait_for_css(c, expect).await;
}

async fn sign_out(c: &Client) {
    click_to_next(c, "form.signout button").await;
    wait_for_css(c, "form.login").await;
}

/// Clicks what `css` finds and waits until the page it leads to has replaced this one.
async fn click_to_next(c: &Client, css: &str) {
    let old = page(c).await;
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    gone(old).await;
}

/// Submits `form` and waits until the page it leads to has replaced this one.
async fn submit_to_next(c: &Client, form: &fantoccini::elements::Form) {
    let old = page(c).await;
    form.submit().await.unwrap();
    gone(old).await;
}

/// The current document's root: once it goes stale, a click or submit has replaced the page
/// (WebDriver returns from both before the next page has loaded).
async fn page(c: &Client) -> fantoccini::elements::Element {
    c.find(Locator::Css("html")).await.unwrap()
}

async fn gone(old: fantoccini::elements::Element) {
    let started = Instant::now();
    while old.tag_name().await.is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the page was not replaced"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for_css(c: &Client, css: &str) {
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"));
}

async fn texts(c: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in c.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap());
    }
    out
}

/// The file the browser downloaded whose name ends with `suffix`, once complete.
fn downloaded(dir: &Path, suffix: &str) -> PathBuf {
    let started = Instant::now();
    loop {
        if let Some(p) = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
        {
            return p;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no download ending {suffix} in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Submits a scan of the fixture as the token's user and waits until it is READY.
fn scan_as(http: &str, token: &str) -> Value {
    let client = reqwest::blocking::Client::new();
    let submitted: Value = client
        .post(format!("http://{http}/api/ferret/v1/scans"))
        .bearer_auth(token)
        .json(&json!({"registry": "local", "repository": "app", "tag": "1.0"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = submitted["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let scan: Value = client
            .get(format!("http://{http}/api/ferret/v1/scans/{id}"))
            .bearer_auth(token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if scan["status"] == "READY" {
            return scan;
        }
        assert_ne!(scan["status"], "ERROR", "{scan}");
        assert!(started.elapsed() < Duration::from_secs(120), "{scan}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn api_status(http: &str, token: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(format!("http://{http}/api/ferret/v1/scans"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// A raw HTTP request (no cookie jar, no redirects followed): status, headers, body.
fn raw(http: &str, method: &str, path: &str, headers: &str, body: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(http).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (status, head.to_owned(), body.to_owned())
}

fn set_cookie<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .filter_map(|c| c.split(';').next())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
}

fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = body.find(&marker).unwrap() + marker.len();
    body[at..].split('"').next().unwrap().to_owned()
}

/// A session over raw HTTP: the login form's token and cookie, then the session cookie
/// and the CSRF token of its pages.
fn raw_session(http: &str, name: &str, password: &str) -> (String, String) {
    let (_, head, body) = raw(http, "GET", "/ui/login", "", "");
    let login = set_cookie(&head, "ferret_login").unwrap().to_owned();
    let token = hidden(&body, "csrf");
    let (status, head, _) = raw(
        http,
        "POST",
        "/ui/login",
        &format!("Cookie: ferret_login={login}\r\n"),
        &format!("csrf={token}&next=%2Fui%2Ftokens&name={name}&password={password}"),
    );
    assert_eq!(status, 303, "{head}");
    let session = set_cookie(&head, "ferret_session").unwrap().to_owned();
    assert!(head.to_ascii_lowercase().contains("httponly"), "{head}");
    assert!(head.contains("SameSite=Strict"), "{head}");
    let (status, _, body) = raw(
        http,
        "GET",
        "/ui/tokens",
        &format!("Cookie: ferret_session={session}\r\n"),
        "",
    );
    assert_eq!(status, 200);
    (session, hidden(&body, "csrf"))
}

/// Sign-in, the images an admin and a user see, an image's findings filtered by severity,
/// SBOM and report downloads validated, a token created, used, revoked and refused, the
/// queue and accounts pages; wrong passwords, forged cookies, missing or wrong CSRF tokens
/// and cross-site posts refused.
#[test]
fn the_console_in_a_real_browser() {
    if !browser_tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let registry = pushed_fixture(d, "1.0");
    let feed = d.join("tracker.json");
    debian_fixture_tracker(&feed);
    let db = d.join("db");
    import(&db, "debian-tracker", &[feed]);
    let conf = hub_config(d, "hub", &registry, "");
    let _hub = serve(
        &conf,
        &["--db-dir", db.to_str().unwrap()],
        &d.join("hub.log"),
    );
    let http = conf.http.clone();
    let base = format!("http://{http}");
    add_user(&conf, "alice", "alice-password");
    let admin = admin_token(&conf, None);
    let (code, alice_token, err) = run(&[
        "token",
        "create",
        "alice",
        "--config",
        conf.path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let admin_scan = scan_as(&http, &admin);
    let alice_scan = scan_as(&http, alice_token.trim());
    assert!(
        admin_scan["counts"]["total"].as_u64().unwrap() > 0,
        "{admin_scan}"
    );

    // Over raw HTTP: what a browser would not show.
    let (status, head, _) = raw(
        &http,
        "GET",
        "/ui/images",
        "Cookie: ferret_session=forged\r\n",
        "",
    );
    assert_eq!(
        status, 303,
        "a forged cookie goes to the sign-in page: {head}"
    );
    assert!(
        head.contains("location: /ui/login") || head.contains("Location: /ui/login"),
        "{head}"
    );
    let (status, _, _) = raw(&http, "GET", "/", "", "");
    assert_eq!(status, 303);
    let (session, csrf) = raw_session(&http, "alice", "alice-password");
    let cookie = format!("Cookie: ferret_session={session}\r\n");
    let (status, _, body) = raw(&http, "POST", "/ui/tokens", &cookie, "name=x");
    assert_eq!(status, 403, "no CSRF token: {body}");
    let (status, _, _) = raw(
        &http,
        "POST",
        "/ui/tokens",
        &cookie,
        &format!("name=x&csrf={}", "0".repeat(csrf.len())),
    );
    assert_eq!(status, 403, "a wrong CSRF token");
    let (status, _, _) = raw(
        &http,
        "POST",
        "/ui/tokens",
        &format!("{cookie}Origin: http://evil.example\r\n"),
        &format!("name=x&csrf={csrf}"),
    );
    assert_eq!(status, 403, "a cross-site post");
    let (status, _, body) = raw(
        &http,
        "POST",
        "/ui/tokens",
        &format!("{cookie}Origin: {base}\r\n"),
        &format!("name=raw&csrf={csrf}"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("fer_"), "the new token is shown once");
    let (status, _, _) = raw(
        &http,
        "POST",
        "/ui/login",
        "",
        "name=alice&password=alice-password",
    );
    assert_eq!(status, 403, "a sign-in without the form's token");
    let (status, head, _) = raw(&http, "GET", "/ui/images", &cookie, "");
    assert_eq!(status, 200);
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(lower.contains("cache-control: no-store"), "{head}");
    let (status, _, _) = raw(&http, "GET", "/ui/admin/accounts", &cookie, "");
    assert_eq!(status, 403, "accounts are for admins");

    let (_driver, driver_url) = chromedriver(&d.join("chromedriver.log"));
    let downloads = d.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    rt().block_on(async {
        let c = browser(&driver_url, &downloads).await;

        // A wrong password is refused, and says so.
        c.goto(&format!("{base}/ui/images")).await.unwrap();
        assert!(
            c.current_url()
                .await
                .unwrap()
                .path()
                .starts_with("/ui/login")
        );
        screenshot(&c, "login").await;
        sign_in(&c, &base, "admin", "wrong-password", "#login-error").await;
        let error = c.find(Locator::Id("login-error")).await.unwrap();
        assert!(error.text().await.unwrap().contains("wrong"));

        // The admin sees both images: theirs and alice's.
        sign_in(&c, &base, "admin", "admin-pw", "form.signout").await;
        assert_eq!(c.current_url().await.unwrap().path(), "/ui/images");
        let rows = c
            .find_all(Locator::Css("table.images tbody tr"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 2, "{}", c.source().await.unwrap());
        screenshot(&c, "images-admin").await;

        // An image: its findings, filtered by one severity.
        click_to_next(
            &c,
            &format!(
                "a[href='/ui/images/{}']",
                admin_scan["imageId"].as_str().unwrap()
            ),
        )
        .await;
        let all = c.find_all(Locator::Css("tr.finding")).await.unwrap();
        assert!(!all.is_empty(), "{}", c.source().await.unwrap());
        let severities: Vec<String> = {
            let mut v = Vec::new();
            for r in &all {
                v.push(r.attr("data-severity").await.unwrap().unwrap());
            }
            v
        };
        screenshot(&c, "image").await;
        let pick = severities.last().unwrap().clone();
        let form = c.form(Locator::Css("form.filters")).await.unwrap();
        c.find(Locator::Id("severity"))
            .await
            .unwrap()
            .select_by_value(&pick)
            .await
            .unwrap();
        submit_to_next(&c, &form).await;
        let filtered = c.find_all(Locator::Css("tr.finding")).await.unwrap();
        let expected = severities.iter().filter(|s| **s == pick).count();
        assert_eq!(filtered.len(), expected, "{pick}");
        for r in &filtered {
            assert_eq!(
                r.attr("data-severity").await.unwrap().as_deref(),
                Some(pick.as_str())
            );
        }
        screenshot(&c, "image-filtered").await;

        // Downloads: both SBOMs and both reports.
        for (link, suffix) in [
            ("spdx", ".spdx.json"),
            ("cyclonedx", ".cdx.json"),
            ("grype", ".grype.json"),
            ("sarif", ".sarif"),
        ] {
            c.find(Locator::Css(&format!("a[href$='/download/{link}']")))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            let file = downloaded(&downloads, suffix);
            let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            match link {
                "spdx" => validate_spdx(&file),
                "cyclonedx" => validate_cyclonedx(&file),
                "grype" => assert_eq!(
                    doc["matches"].as_array().unwrap().len() as u64,
                    admin_scan["counts"]["total"].as_u64().unwrap()
                ),
                _ => validate_sarif(&file),
            }
        }

        // A token: created (shown once), used, revoked, refused.
        c.goto(&format!("{base}/ui/tokens")).await.unwrap();
        let form = c.form(Locator::Css("form.inline")).await.unwrap();
        form.set_by_name("name", "browser").await.unwrap();
        submit_to_next(&c, &form).await;
        let token = c
            .find(Locator::Id("new-token"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(token.starts_with("fer_"), "{token}");
        screenshot(&c, "tokens").await;
        let http2 = http.clone();
        let t2 = token.clone();
        let ok = tokio::task::spawn_blocking(move || api_status(&http2, &t2))
            .await
            .unwrap();
        assert_eq!(ok, 200);
        c.goto(&format!("{base}/ui/tokens")).await.unwrap();
        assert!(
            !c.source().await.unwrap().contains(&token),
            "a token is shown only once"
        );
        let names = texts(&c, "tr[data-token] td:nth-child(1)").await;
        let used = texts(&c, "tr[data-token] td:nth-child(4)").await;
        let at = names.iter().position(|n| n == "browser").unwrap();
        assert_ne!(used[at], "never", "the token's use is recorded");
        click_to_next(&c, "button[aria-label='Revoke browser']").await;
        let http2 = http.clone();
        let refused = tokio::task::spawn_blocking(move || api_status(&http2, &token))
            .await
            .unwrap();
        assert_eq!(refused, 401, "a revoked token is refused at once");

        // The queue and the accounts pages.
        c.goto(&format!("{base}/ui/queue")).await.unwrap();
        assert!(!texts(&c, "h1").await.is_empty());
        screenshot(&c, "queue").await;
        c.goto(&format!("{base}/ui/admin/accounts")).await.unwrap();
        let names = texts(&c, "tr[data-account] td:first-child").await;
        assert_eq!(names, ["admin", "alice"]);
        screenshot(&c, "accounts").await;

        // Alice sees her own image only.
        sign_out(&c).await;
        assert!(
            c.current_url()
                .await
                .unwrap()
                .path()
                .starts_with("/ui/login")
        );
        sign_in(&c, &base, "alice", "alice-password", "form.signout").await;
        let links = c
            .find_all(Locator::Css("table.images tbody tr a"))
            .await
            .unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(
            links[0].attr("href").await.unwrap().unwrap(),
            format!("/ui/images/{}", alice_scan["imageId"].as_str().unwrap())
        );
        screenshot(&c, "images-user").await;
        c.goto(&format!(
            "{base}/ui/images/{}",
            admin_scan["imageId"].as_str().unwrap()
        ))
        .await
        .unwrap();
        assert!(
            c.source().await.unwrap().contains("was not found"),
            "another user's image"
        );
        c.close().await.unwrap();
    });
}
