//! The console's pages under a large store (`cargo bench -p ferret-hub --bench console`):
//! 100,000 images over 50 owners, each with a scan history of one or two scans, and one
//! image whose newest scan has 5,000 findings. Every page is fetched whole over HTTP on
//! loopback with a signed-in session (so the figures include routing, the session lookup,
//! the queries and rendering the HTML), and timed p50 / p99 / max; walks of "next" links
//! go three times. Target: p99 ≤ 50 ms
//! for the image list and the image page.
//!
//! SQLite always; PostgreSQL too when `FERRET_TEST_POSTGRES_URL` is set (a fresh schema).
//! The 100,000 images are written with plain SQL in large transactions (scans first
//! inserted as rows, so the store's own triggers fill each image's summary, as in service).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_addr, latency};

use ferret_hub::auth::{Principal, random_hex, token_hash};
use ferret_hub::{Hub, HubConfig, RegistryConfig};
use ferret_store::{
    AccountStore, Counts, Finding, FindingFilter, FindingKey, ImageStore, JobStore, Lessee,
    ScanResult, ScanStore, now_ms,
};

const IMAGES: u64 = 100_000;
const OWNERS: u64 = 50;
const FINDINGS: usize = 5_000;
const ROUNDS: usize = 200;
const SEVERITIES: [&str; 6] = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "NEGLIGIBLE", "UNKNOWN"];

fn stats(label: &str, v: Vec<Duration>) {
    let l = latency(v);
    println!(
        "  {label:<52} {:>5} req  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms",
        l.n, l.p50, l.p99, l.max
    );
}

/// A reproducible spread of numbers (Knuth's multiplicative hash).
fn mix(n: u64) -> u64 {
    n.wrapping_mul(2_654_435_761) % (1 << 32)
}

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Writes `IMAGES` images and their scans in transactions of 1,000 rows.
async fn seed(url: &str, owners: &[String]) {
    sqlx::any::install_default_drivers();
    let url = match url.strip_prefix("sqlite:") {
        Some(path) => format!("sqlite://{}", path.trim_start_matches("//")),
        None => url.to_owned(),
    };
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let base = now_ms() - 90 * 86_400_000;
    let t = Instant::now();
    for chunk in (0..IMAGES).collect::<Vec<_>>().chunks(1000) {
        let mut images = Vec::new();
        let mut scans = Vec::new();
        for &n in chunk {
            let h = mix(n);
            let owner = &owners[(n % OWNERS) as usize];
            let registry = if n % 7 == 0 { "mirror" } else { "local" };
            let repository = format!("team-{:02}/service-{:03}", n % OWNERS, (n / OWNERS) % 200);
            let id = format!("img{n:032x}");
            let digest = format!("sha256:{:064x}", h ^ (n << 32));
            let tags = format!("[\"v{}.{}\"]", n / 1000, n % 1000);
            let created = base + (n as i64) * 50;
            images.push(format!(
                "({}, {}, {}, {}, {}, {}, {}, {created})",
                sql_str(&id),
                sql_str(owner),
                sql_str(registry),
                sql_str(&repository),
                sql_str(&digest),
                sql_str(&tags),
                10_000_000 + h % 100_000_000,
            ));
            // One in ten was never scanned; one in ten failed after an earlier good scan.
            if n % 10 == 9 {
                continue;
            }
            let critical = if h.is_multiple_of(5) { h % 4 } else { 0 };
            let high = (h / 7) % 12;
            let medium = (h / 11) % 30;
            let low = (h / 13) % 20;
            let negligible = (h / 17) % 9;
            let unknown = (h / 19) % 5;
            let kev = u64::from(critical > 0 && h.is_multiple_of(3));
            let total = critical + high + medium + low + negligible + unknown;
            let at = created + (h % 3_600_000) as i64;
            scans.push(format!(
                "('scn{n:032x}', {}, 'job{n:032x}', {}, {}, {}, {}, 'READY', 'bench', \
                 {critical}, {high}, {medium}, {low}, {negligible}, {unknown}, {total}, {kev}, \
                 {at}, {at})",
                sql_str(&id),
                sql_str(owner),
                sql_str(registry),
                sql_str(&repository),
                sql_str(&digest),
            ));
            if n % 10 == 8 {
                scans.push(format!(
                    "('scm{n:032x}', {}, 'jom{n:032x}', {}, {}, {}, {}, 'ERROR', 'bench', \
                     0, 0, 0, 0, 0, 0, 0, 0, {}, NULL)",
                    sql_str(&id),
                    sql_str(owner),
                    sql_str(registry),
                    sql_str(&repository),
                    sql_str(&digest),
                    at + 60_000,
                ));
            }
        }
        let mut tx = pool.begin().await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO images (id, owner, registry, repository, digest, tags, size, created_at) \
             VALUES {}",
            images.join(", ")
        )))
        .execute(&mut *tx)
        .await
        .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "INSERT INTO scans (id, image_id, job_id, owner, registry, repository, digest, status, \
             scanner_version, critical, high, medium, low, negligible, undefined, total, kev, \
             created_at, scanned_at) VALUES {}",
            scans.join(", ")
        )))
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    // A long-running service's state: statistics gathered, and on PostgreSQL the bulk load
    // vacuumed (else autovacuum would start on it in the middle of the timings).
    if url.starts_with("sqlite:") {
        sqlx::raw_sql("ANALYZE").execute(&pool).await.unwrap();
    } else {
        for table in ["images", "scans"] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    pool.close().await;
    println!(
        "  seeded {IMAGES} images over {OWNERS} owners in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

/// An image of `principal` registered and scanned through the service's own path: its scan
/// queued, leased and finished with `counts` and `findings` (four commits). Its id and the
/// scan's.
async fn scanned_image(
    hub: &Hub,
    principal: &Principal,
    repository: &str,
    digest: &str,
    counts: Counts,
    findings: Vec<Finding>,
) -> (String, String) {
    let image = hub
        .store
        .upsert_image(
            &principal.owner,
            "local",
            repository,
            digest,
            Some("latest"),
            1,
        )
        .await
        .unwrap();
    let op = hub.yc_scan(principal, &image.id).await.unwrap();
    let bench = Lessee {
        hub: "bench",
        holder: "bench:0",
    };
    let job = hub
        .store
        .claim(bench, None, 1, 600_000)
        .await
        .unwrap()
        .remove(0);
    let result = ScanResult {
        scanner_version: "bench".to_owned(),
        sbom_blob: None,
        report_blob: None,
        counts,
        findings,
        record: serde_json::json!({}),
        inline_blobs: Vec::new(),
    };
    hub.store
        .complete(&job.id, "bench:0", &result)
        .await
        .unwrap();
    (image.id, op.scan.id)
}

/// A scanned image of `principal` with 5,000 findings.
async fn big_image(hub: &Hub, principal: &Principal) -> (String, String) {
    let findings: Vec<Finding> = (0..FINDINGS)
        .map(|i| Finding {
            vulnerability: format!("CVE-2024-{i:05}"),
            severity: SEVERITIES[i % 6].to_owned(),
            package: format!("package-{}", i / 3),
            version: "1.0.0".to_owned(),
            fixed_by: (i % 4 != 0).then(|| "1.0.1".to_owned()),
            source: "dpkg".to_owned(),
            link: Some(format!(
                "https://security-tracker.debian.org/tracker/CVE-2024-{i:05}"
            )),
            origin: Some(format!("package-{}", i / 3)),
            kind: Some("deb".to_owned()),
            kev: i % 50 == 0,
            fix_state: Some(if i % 4 == 0 { "not-fixed" } else { "fixed" }.to_owned()),
            severity_source: Some("debian".to_owned()),
            epss: Some((i as i64 * 7919) % 1_000_000),
            epss_percentile: Some((i as i64 * 104_729) % 1_000_000),
            layer: Some(format!("sha256:{:064x}", i % 12)),
            suppressed: (i % 500 == 7).then(|| "not reachable".to_owned()),
        })
        .collect();
    let counts = Counts {
        critical: (FINDINGS / 6) as u64,
        ..Counts::default()
    };
    let digest = format!("sha256:{:064x}", u64::MAX);
    scanned_image(hub, principal, "big/monolith", &digest, counts, findings).await
}

/// Scans landing while a page is timed, ten a second, each on an image of its own. After
/// any commit SQLite's readers read their pages afresh.
fn land_scans(hub: Arc<Hub>, principal: Principal) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        for n in 0u64.. {
            tick.tick().await;
            let counts = Counts {
                high: n % 5,
                ..Counts::default()
            };
            let digest = format!("sha256:{:064x}", u64::MAX - 1 - n);
            scanned_image(&hub, &principal, "landing/app", &digest, counts, Vec::new()).await;
        }
    })
}

struct Client {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Client {
    /// A signed-in session of `account_id`, made as the login form makes one.
    async fn signed_in(hub: &Hub, base: String, account_id: &str) -> Self {
        let id = random_hex();
        let now = now_ms();
        hub.store
            .create_console_session(
                &token_hash(&id),
                account_id,
                &random_hex(),
                now,
                now + 86_400_000,
            )
            .await
            .unwrap();
        Self {
            http: reqwest::Client::new(),
            base,
            cookie: format!("ferret_session={id}"),
        }
    }

    /// GETs `path` and returns the time to the last byte and the page.
    async fn get(&self, path: &str) -> (Duration, String) {
        let t = Instant::now();
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        let took = t.elapsed();
        assert!(status.is_success(), "{path}: {status}\n{body}");
        (took, body)
    }

    async fn time(&self, label: &str, path: &str) {
        let mut v = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            v.push(self.get(path).await.0);
        }
        stats(label, v);
    }

    /// Follows "next" links from `path` for `pages` pages, timing each; three times.
    async fn walk(&self, label: &str, path: &str, pages: usize) {
        let mut v = Vec::new();
        for _ in 0..3 {
            let mut next = Some(path.to_owned());
            let mut n = 0;
            while let Some(p) = next.take() {
                let (took, body) = self.get(&p).await;
                v.push(took);
                n += 1;
                if n == pages {
                    break;
                }
                next = next_link(&body);
            }
        }
        stats(label, v);
    }
}

/// The page's `rel="next"` link, unescaped.
fn next_link(html: &str) -> Option<String> {
    let at = html.find("rel=\"next\"")?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..html[at..].find('>')? + at];
    let href = tag.split("href=\"").nth(1)?.split('"').next()?;
    Some(href.replace("&amp;", "&"))
}

async fn run(label: &str, database_url: Option<String>) {
    println!("{label}:");
    let dir = tempfile::tempdir().unwrap();
    let mut config = HubConfig::new(dir.path().to_path_buf());
    config.http = free_addr();
    config.grpc = free_addr();
    config.embedded_scanner = false;
    config.secrets = vec!["bench".to_owned()];
    config.admin_password = Some("bench-password".to_owned());
    config.database_url = database_url;
    config.registries = vec![RegistryConfig {
        name: "local".to_owned(),
        url: "http://127.0.0.1:9".to_owned(),
        ..RegistryConfig::default()
    }];
    let url = config.store_url();
    let http = config.http;
    let hub = Hub::open(config).await.unwrap();
    let admin = hub.store.account_by_name("admin").await.unwrap().unwrap();
    let mut owners = vec![Principal::of(&admin).owner];
    let mut user = None;
    for k in 1..OWNERS {
        let a = hub
            .store
            .create_account(&format!("user{k:02}"), "unused", false)
            .await
            .unwrap();
        owners.push(Principal::of(&a).owner);
        user.get_or_insert(a);
    }
    let user = user.unwrap();
    seed(&url, &owners).await;
    let (big, scan) = big_image(&hub, &Principal::of(&admin)).await;
    tokio::spawn(ferret_hub::serve(hub.clone()));
    while tokio::net::TcpStream::connect(http).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let base = format!("http://{http}");
    let admin_c = Client::signed_in(&hub, base.clone(), &admin.id).await;
    let user_c = Client::signed_in(&hub, base, &user.id).await;
    // Warm the connection pool and the database's caches.
    for _ in 0..20 {
        admin_c.get("/ui/images").await;
    }

    println!(" image list, admin (100,000 images), pages of 50:");
    admin_c.time("by name, first page", "/ui/images").await;
    admin_c.time("by risk", "/ui/images?sort=risk").await;
    admin_c
        .time("last scanned first", "/ui/images?sort=recent")
        .await;
    admin_c
        .time("critical or worse, by name", "/ui/images?severity=critical")
        .await;
    admin_c
        .time(
            "high or worse, by risk",
            "/ui/images?severity=high&sort=risk",
        )
        .await;
    admin_c
        .time("known exploited, by name", "/ui/images?severity=kev")
        .await;
    admin_c
        .time(
            "one repository",
            "/ui/images?repository=team-07%2Fservice-123",
        )
        .await;
    admin_c
        .time("search, 10 hits (service-123)", "/ui/images?q=service-123")
        .await;
    admin_c
        .time("search, 1 hit (tag v42.170)", "/ui/images?q=v42.170")
        .await;
    admin_c
        .time("search, no hit", "/ui/images?q=nothing-like-this")
        .await;
    admin_c
        .time("search, every image matches (team-)", "/ui/images?q=team-")
        .await;
    admin_c
        .time(
            "search, 14,286 hits, all after the rest (mirror/)",
            "/ui/images?q=mirror%2F",
        )
        .await;
    admin_c
        .time(
            "search, 14,286 hits, by risk (mirror/)",
            "/ui/images?q=mirror%2F&sort=risk",
        )
        .await;
    admin_c
        .time("search, 85,714 hits (local/)", "/ui/images?q=local%2F")
        .await;
    admin_c
        .walk(
            "search, 14,286 hits, 100 pages deep",
            "/ui/images?q=mirror%2F",
            100,
        )
        .await;
    admin_c
        .time(
            "one owner (2,000 images)",
            &format!("/ui/images?owner={}", owners[3]),
        )
        .await;
    admin_c
        .walk("200 pages deep, by name", "/ui/images", 200)
        .await;
    admin_c
        .walk("200 pages deep, by risk", "/ui/images?sort=risk", 200)
        .await;
    admin_c
        .walk(
            "200 pages deep, critical or worse",
            "/ui/images?severity=critical",
            200,
        )
        .await;
    let landing = land_scans(hub.clone(), Principal::of(&admin));
    admin_c
        .time(
            "search, 14,286 hits, while 10 scans/s land",
            "/ui/images?q=mirror%2F",
        )
        .await;
    landing.abort();

    println!(" image list, one user (2,000 of the 100,000 images):");
    user_c.time("by name", "/ui/images").await;
    user_c.time("by risk", "/ui/images?sort=risk").await;
    user_c
        .time("critical or worse", "/ui/images?severity=critical")
        .await;
    user_c
        .time("search (service-12)", "/ui/images?q=service-12")
        .await;
    user_c
        .time("search, all of theirs match (team-)", "/ui/images?q=team-")
        .await;
    user_c.walk("every page, by name", "/ui/images", 100).await;

    println!(" image page, 5,000 findings, pages of 100:");
    admin_c
        .time("first page, by severity", &format!("/ui/images/{big}"))
        .await;
    admin_c
        .time(
            "first page, report order",
            &format!("/ui/images/{big}?sort=report"),
        )
        .await;
    admin_c
        .time("HIGH only", &format!("/ui/images/{big}?severity=HIGH"))
        .await;
    admin_c
        .time("known exploited only", &format!("/ui/images/{big}?kev=1"))
        .await;
    admin_c
        .time(
            "one package",
            &format!("/ui/images/{big}?package=package-1000"),
        )
        .await;
    // The last page: its key from the store, as the page before it links to it.
    let mut after = FindingKey::default();
    let filter = FindingFilter {
        by_severity: true,
        ..FindingFilter::default()
    };
    let mut last = after;
    loop {
        let rows = hub
            .store
            .findings(&scan, &filter, after, 100)
            .await
            .unwrap();
        if rows.is_empty() {
            break;
        }
        last = after;
        if rows.len() < 100 {
            break;
        }
        after = rows.last().unwrap().0;
    }
    admin_c
        .time(
            "last page, by severity",
            &format!("/ui/images/{big}?after={}.{}", last.rank, last.ord),
        )
        .await;
    admin_c
        .walk("every page, by severity", &format!("/ui/images/{big}"), 60)
        .await;
    drop(dir);
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    run("SQLite", None).await;
    match ferret_testsupport::service::postgres_schema_url("console_bench") {
        Some(url) => run("PostgreSQL", Some(url)).await,
        None => println!("PostgreSQL: skipped (FERRET_TEST_POSTGRES_URL is not set)"),
    }
}
