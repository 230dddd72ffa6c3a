//! The console's pages: each reads through the store with the caller's [`Principal`], so a
//! user sees exactly what the APIs would show them.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use ferret_store::{
    Counts, Finding, FindingFilter, FindingKey, ImageOrder, ImageQuery, ImageSummary, Job, Scan,
    ScanFilter, ScanStatus, ScanStore,
};
use serde::Deserialize;

use super::session::{self, Console};
use crate::Hub;
use crate::api::error::{ApiError, Code};
use crate::auth::Principal;

/// Images per page.
const PAGE: i64 = 50;
/// Findings per page.
const FINDINGS_PAGE: i64 = 100;

/// What every page's frame shows.
pub(crate) struct Chrome {
    pub css: &'static str,
    pub js: &'static str,
    pub user: Option<String>,
    pub admin: bool,
    pub csrf: String,
    pub nav: &'static str,
    pub notice: Option<String>,
}

impl Chrome {
    fn of(c: &Console, nav: &'static str) -> Self {
        Self {
            css: super::assets::CSS.path(),
            js: super::assets::JS.path(),
            user: Some(c.principal.name.clone()),
            admin: c.principal.admin,
            csrf: c.csrf.clone(),
            nav,
            notice: None,
        }
    }

    fn anonymous() -> Self {
        Self {
            css: super::assets::CSS.path(),
            js: super::assets::JS.path(),
            user: None,
            admin: false,
            csrf: String::new(),
            nav: "",
            notice: None,
        }
    }
}

/// A rendered page with the console's headers.
fn page(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => ([(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    heading: &'a str,
    message: &'a str,
}

pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let heading = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Bad request",
        StatusCode::TOO_MANY_REQUESTS => "Too many tries",
        _ => "Something went wrong",
    };
    let mut r = page(&ErrorPage {
        chrome: Chrome::anonymous(),
        heading,
        message,
    });
    *r.status_mut() = status;
    r
}

/// An API error as a page: the same table decides the status.
fn failed(e: ApiError) -> Response {
    let status = match e.code {
        Code::InvalidArgument | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Unauthenticated | Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_page(status, &e.message)
}

fn store_failed(e: ferret_store::StoreError) -> Response {
    failed(ApiError::from(e))
}

/// `2026-12-03 15:20 UTC`.
fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn short_digest(d: &str) -> String {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    hex.get(..12).unwrap_or(hex).to_owned()
}

fn severity_class(s: &str) -> String {
    s.to_ascii_lowercase()
}

struct Badge {
    class: &'static str,
    label: &'static str,
    title: &'static str,
    count: u64,
}

/// Badges for the severities that have findings, most severe first.
fn badges(c: &Counts) -> Vec<Badge> {
    [
        ("critical", "C", "critical", c.critical),
        ("high", "H", "high", c.high),
        ("medium", "M", "medium", c.medium),
        ("low", "L", "low", c.low),
        ("negligible", "N", "negligible", c.negligible),
        ("unknown", "U", "unrated", c.unknown),
    ]
    .into_iter()
    .filter(|b| b.3 > 0)
    .map(|(class, label, title, count)| Badge {
        class,
        label,
        title,
        count,
    })
    .collect()
}

fn status_of(s: Option<ScanStatus>) -> (&'static str, &'static str) {
    match s {
        Some(ScanStatus::Ready) => ("READY", "ready"),
        Some(ScanStatus::Error) => ("ERROR", "error"),
        Some(ScanStatus::Running) => ("RUNNING", "running"),
        None => ("NOT SCANNED", "none"),
    }
}

/// A link is shown only when it is http(s): report text comes from advisories and images.
fn safe_link(l: Option<&str>) -> Option<String> {
    l.filter(|l| l.starts_with("https://") || l.starts_with("http://"))
        .map(str::to_owned)
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

// ---------------------------------------------------------------------------- sign in

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    token: String,
    next: String,
    name: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

/// Only a path of this console is a place to go back to after signing in.
fn local_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_owned()
        }
        _ => "/ui/images".to_owned(),
    }
}

fn login_form(tls: bool, next: String, name: String, error: Option<String>) -> Response {
    let (cookie, token) = session::login_token(tls);
    let mut r = page(&LoginPage {
        chrome: Chrome::anonymous(),
        token,
        next,
        name,
        error,
    });
    if let Ok(v) = cookie.parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub(crate) async fn login_page(
    State(hub): State<Arc<Hub>>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let tls = session::over_tls(&hub, &headers);
    login_form(tls, local_next(q.next.as_deref()), String::new(), None)
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn login(
    State(hub): State<Arc<Hub>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let tls = session::over_tls(&hub, &headers);
    let expected = session::read_cookie(&headers, session::LOGIN_COOKIE).unwrap_or_default();
    if !session::same_origin(&headers)
        || expected.is_empty()
        || !session::tokens_match(&form.csrf, &expected)
    {
        return session::forbidden(
            "the sign-in form's security token is missing or stale; reload the page and try again",
        );
    }
    let next = local_next(Some(&form.next));
    let account = match hub
        .login_from(Some(peer.ip()), &form.name, &form.password)
        .await
    {
        Ok(a) => a,
        Err(e) if e.code == Code::Unauthenticated => {
            let mut r = login_form(
                tls,
                next,
                form.name,
                Some("The name or the password is wrong.".to_owned()),
            );
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            return r;
        }
        Err(e) => return failed(e),
    };
    // A new session id on every sign-in: nothing set before it can be fixed on the victim.
    let (cookie, _) = match session::start(&hub, &account.id, tls).await {
        Ok(s) => s,
        Err(e) => return store_failed(e),
    };
    let mut r = Redirect::to(&next).into_response();
    let headers = r.headers_mut();
    for c in [
        cookie,
        session::set_cookie(session::LOGIN_COOKIE, String::new(), 0, tls),
    ] {
        if let Ok(v) = c.parse() {
            headers.append(header::SET_COOKIE, v);
        }
    }
    r
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn logout(
    State(hub): State<Arc<Hub>>,
    c: Console,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(r) = c.refused(&headers, &form.csrf) {
        return r;
    }
    if let Err(e) = hub.store.delete_console_session(&c.id_hash).await {
        return store_failed(e);
    }
    let mut r = Redirect::to("/ui/login").into_response();
    if let Ok(v) = session::set_cookie(session::cookie_name(c.tls), String::new(), 0, c.tls).parse()
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

// ---------------------------------------------------------------------------- images

struct ImageRow {
    id: String,
    name: String,
    tags: String,
    digest: String,
    short_digest: String,
    owner: String,
    status: &'static str,
    status_class: &'static str,
    scanned: String,
    badges: Vec<Badge>,
    kev: i64,
}

impl From<&ImageSummary> for ImageRow {
    fn from(s: &ImageSummary) -> Self {
        let i = &s.image;
        let (status, status_class) = status_of(s.last_status);
        Self {
            id: i.id.clone(),
            name: format!("{}/{}", i.registry, i.repository),
            tags: i.tags.join(", "),
            digest: i.digest.clone(),
            short_digest: short_digest(&i.digest),
            owner: i.owner.clone(),
            status,
            status_class,
            scanned: s.scanned_at.map(when).unwrap_or_default(),
            badges: badges(&s.counts),
            kev: s.kev,
        }
    }
}

#[derive(Template)]
#[template(path = "images.html")]
struct ImagesPage {
    chrome: Chrome,
    q: String,
    repository: String,
    severity: String,
    sort: String,
    severities: Vec<(&'static str, &'static str)>,
    sorts: Vec<(&'static str, &'static str)>,
    rows: Vec<ImageRow>,
    show_owner: bool,
    first: bool,
    first_link: String,
    next_link: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ImagesQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    repository: String,
    #[serde(default)]
    registry: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    sort: String,
    /// Admins: one owner's images.
    #[serde(default)]
    owner: String,
    /// The id of the last image of the page before.
    #[serde(default)]
    after: String,
}

const IMAGE_SEVERITIES: [(&str, &str); 6] = [
    ("", "any"),
    ("critical", "critical"),
    ("high", "high"),
    ("medium", "medium"),
    ("low", "low"),
    ("kev", "known exploited"),
];

pub(crate) async fn images(
    State(hub): State<Arc<Hub>>,
    c: Console,
    Query(q): Query<ImagesQuery>,
) -> Response {
    let p = &c.principal;
    let order = match q.sort.as_str() {
        "" | "name" => ImageOrder::Name,
        "risk" => ImageOrder::Risk,
        "recent" => ImageOrder::Recent,
        other => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &format!("sort: {other:?} is not name, risk or recent"),
            );
        }
    };
    let at_least = match q.severity.as_str() {
        "" | "kev" => None,
        "critical" => Some(0),
        "high" => Some(1),
        "medium" => Some(2),
        "low" => Some(3),
        other => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &format!("severity: {other:?} is not critical, high, medium, low or kev"),
            );
        }
    };
    // A user sees their own images whatever they ask; an admin may narrow to one owner.
    let owner = match p.scope() {
        Some(own) => Some(own.to_owned()),
        None => Some(q.owner.clone()).filter(|o| !o.is_empty()),
    };
    let query = ImageQuery {
        owner,
        registry: Some(q.registry.clone()).filter(|s| !s.is_empty()),
        repository: Some(q.repository.trim().to_owned()).filter(|s| !s.is_empty()),
        search: Some(q.q.trim().to_owned()).filter(|s| !s.is_empty()),
        at_least,
        kev: q.severity == "kev",
        order,
    };
    let after = if q.after.is_empty() {
        None
    } else {
        match hub.store.image_summary(&q.after).await {
            Ok(Some(s)) if p.may_see(&s.image.owner) => Some(s),
            Ok(_) => return error_page(StatusCode::BAD_REQUEST, "after: no such image"),
            Err(e) => return store_failed(e),
        }
    };
    let mut rows = match hub
        .store
        .image_summaries(&query, after.as_ref(), PAGE + 1)
        .await
    {
        Ok(r) => r,
        Err(e) => return store_failed(e),
    };
    let more = rows.len() > usize::try_from(PAGE).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(PAGE).unwrap_or(usize::MAX));
    let base = [
        ("q", q.q.as_str()),
        ("registry", q.registry.as_str()),
        ("repository", q.repository.as_str()),
        ("severity", q.severity.as_str()),
        ("sort", q.sort.as_str()),
        ("owner", q.owner.as_str()),
    ];
    let next_link = more.then(|| rows.last()).flatten().map(|last| {
        let mut pairs = base.to_vec();
        pairs.push(("after", last.image.id.as_str()));
        format!("/ui/images?{}", query_string(&pairs))
    });
    page(&ImagesPage {
        chrome: Chrome::of(&c, "images"),
        q: q.q.clone(),
        repository: q.repository.clone(),
        severity: q.severity.clone(),
        sort: if q.sort.is_empty() {
            "name".to_owned()
        } else {
            q.sort.clone()
        },
        severities: IMAGE_SEVERITIES.to_vec(),
        sorts: vec![
            ("name", "name"),
            ("risk", "risk"),
            ("recent", "last scanned"),
        ],
        rows: rows.iter().map(ImageRow::from).collect(),
        show_owner: p.admin,
        first: after.is_none(),
        first_link: format!("/ui/images?{}", query_string(&base)),
        next_link,
    })
}

// ---------------------------------------------------------------------------- one image

struct ScanFacts {
    id: String,
    when: String,
    reason: Option<String>,
    badges: Vec<Badge>,
    kev: i64,
}

struct FindingRow {
    id: String,
    link: Option<String>,
    package: String,
    kind: String,
    version: String,
    fixed: String,
    fix_state: String,
    severity: String,
    severity_class: String,
    source: String,
    kev: bool,
    epss: String,
    layer: String,
    short_layer: String,
}

impl From<&Finding> for FindingRow {
    fn from(f: &Finding) -> Self {
        let layer = f.layer.clone().unwrap_or_default();
        Self {
            id: f.vulnerability.clone(),
            link: safe_link(f.link.as_deref()),
            package: f.package.clone(),
            kind: f.kind.clone().unwrap_or_default(),
            version: f.version.clone(),
            fixed: f.fixed_by.clone().unwrap_or_else(|| "—".to_owned()),
            fix_state: f.fix_state.clone().unwrap_or_else(|| "—".to_owned()),
            severity: f.severity.clone(),
            severity_class: severity_class(&f.severity),
            source: f.severity_source.clone().unwrap_or_default(),
            kev: f.kev,
            epss: f
                .epss
                .map(|e| {
                    let pct = f.epss_percentile.unwrap_or(0) as f64 / 10_000.0;
                    format!("EPSS {:.2}% (p{pct:.0})", e as f64 / 10_000.0)
                })
                .unwrap_or_default(),
            short_layer: short_digest(&layer),
            layer,
        }
    }
}

struct SuppressedRow {
    id: String,
    package: String,
    version: String,
    severity: String,
    why: String,
}

struct HistoryRow {
    id: String,
    when: String,
    reason: String,
    status: &'static str,
    status_class: &'static str,
    error: String,
    badges: Vec<Badge>,
    previous: Option<String>,
}

#[derive(Template)]
#[template(path = "image.html")]
struct ImagePage {
    chrome: Chrome,
    id: String,
    name: String,
    digest: String,
    tags: String,
    owner: String,
    status: &'static str,
    status_class: &'static str,
    running: bool,
    scan: Option<ScanFacts>,
    severities: Vec<(&'static str, &'static str)>,
    fix_states: Vec<(&'static str, &'static str)>,
    severity: String,
    package: String,
    fix: String,
    kev: bool,
    sort: String,
    findings: Vec<FindingRow>,
    next_findings: Option<String>,
    suppressed: Vec<SuppressedRow>,
    history: Vec<HistoryRow>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ImageQueryString {
    #[serde(default)]
    scan: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    fix: String,
    #[serde(default)]
    kev: String,
    #[serde(default)]
    sort: String,
    /// `rank.ord` of the last finding of the page before.
    #[serde(default)]
    after: String,
}

const FINDING_SEVERITIES: [(&str, &str); 7] = [
    ("", "any"),
    ("CRITICAL", "critical"),
    ("HIGH", "high"),
    ("MEDIUM", "medium"),
    ("LOW", "low"),
    ("NEGLIGIBLE", "negligible"),
    ("UNDEFINED", "unrated"),
];

const FIX_STATES: [(&str, &str); 5] = [
    ("", "any"),
    ("fixed", "fixed"),
    ("not-fixed", "not fixed"),
    ("wont-fix", "won't fix"),
    ("unknown", "unknown"),
];

/// The image `id` when the caller may see it.
async fn visible_image(hub: &Hub, p: &Principal, id: &str) -> Result<ImageSummary, Response> {
    match hub.store.image_summary(id).await {
        Ok(Some(s)) if p.may_see(&s.image.owner) => Ok(s),
        Ok(_) => Err(error_page(
            StatusCode::NOT_FOUND,
            &format!("image {id:?} was not found"),
        )),
        Err(e) => Err(store_failed(e)),
    }
}

pub(crate) async fn image(
    State(hub): State<Arc<Hub>>,
    c: Console,
    Path(id): Path<String>,
    Query(q): Query<ImageQueryString>,
) -> Response {
    let p = &c.principal;
    let summary = match visible_image(&hub, p, &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let image = &summary.image;
    if !q.severity.is_empty() && !FINDING_SEVERITIES.iter().any(|(v, _)| *v == q.severity) {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("severity: {:?} is not a severity", q.severity),
        );
    }
    if !q.fix.is_empty() && !FIX_STATES.iter().any(|(v, _)| *v == q.fix) {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("fix: {:?} is not a fix state", q.fix),
        );
    }
    let by_severity = match q.sort.as_str() {
        "" | "severity" => true,
        "report" => false,
        other => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &format!("sort: {other:?} is not severity or report"),
            );
        }
    };
    let after = if q.after.is_empty() {
        FindingKey::default()
    } else {
        match q.after.split_once('.').and_then(|(r, o)| {
            Some(FindingKey {
                rank: r.parse().ok()?,
                ord: o.parse().ok()?,
            })
        }) {
            Some(k) => k,
            None => return error_page(StatusCode::BAD_REQUEST, "after: expected RANK.ORD"),
        }
    };
    // History: the newest 20 scans, each with the one before it to diff against.
    let history = match hub
        .store
        .scans(
            &ScanFilter {
                image_id: Some(image.id.clone()),
                ..ScanFilter::default()
            },
            None,
            21,
        )
        .await
    {
        Ok(h) => h,
        Err(e) => return store_failed(e),
    };
    let scan_id = if q.scan.is_empty() {
        summary.ready_scan_id.clone()
    } else {
        Some(q.scan.clone())
    };
    let scan: Option<Scan> = match &scan_id {
        Some(sid) => match hub.store.scan(sid).await {
            Ok(Some(s)) if s.image_id.as_deref() == Some(image.id.as_str()) => Some(s),
            Ok(_) => {
                return error_page(
                    StatusCode::NOT_FOUND,
                    &format!("scan {sid:?} of this image was not found"),
                );
            }
            Err(e) => return store_failed(e),
        },
        None => None,
    };
    let mut findings = Vec::new();
    let mut suppressed = Vec::new();
    let mut next_findings = None;
    if let Some(s) = &scan {
        let filter = FindingFilter {
            severity: Some(q.severity.clone()).filter(|s| !s.is_empty()),
            package: Some(q.package.trim().to_owned()).filter(|s| !s.is_empty()),
            fix_state: Some(q.fix.clone()).filter(|s| !s.is_empty()),
            kev: !q.kev.is_empty(),
            by_severity,
            ..FindingFilter::default()
        };
        let rows = match hub
            .store
            .findings(&s.id, &filter, after, FINDINGS_PAGE + 1)
            .await
        {
            Ok(r) => r,
            Err(e) => return store_failed(e),
        };
        let more = rows.len() > usize::try_from(FINDINGS_PAGE).unwrap_or(usize::MAX);
        let rows = &rows[..rows
            .len()
            .min(usize::try_from(FINDINGS_PAGE).unwrap_or(usize::MAX))];
        if more && let Some((k, _)) = rows.last() {
            let after = format!("{}.{}", k.rank, k.ord);
            next_findings = Some(format!(
                "/ui/images/{}?{}#findings",
                image.id,
                query_string(&[
                    ("scan", s.id.as_str()),
                    ("severity", q.severity.as_str()),
                    ("package", q.package.as_str()),
                    ("fix", q.fix.as_str()),
                    ("kev", q.kev.as_str()),
                    ("sort", q.sort.as_str()),
                    ("after", after.as_str()),
                ])
            ));
        }
        findings = rows.iter().map(|(_, f)| FindingRow::from(f)).collect();
        if after == FindingKey::default() {
            let filter = FindingFilter {
                suppressed: true,
                ..FindingFilter::default()
            };
            match hub
                .store
                .findings(&s.id, &filter, FindingKey::default(), FINDINGS_PAGE)
                .await
            {
                Ok(rows) => {
                    suppressed = rows
                        .iter()
                        .map(|(_, f)| SuppressedRow {
                            id: f.vulnerability.clone(),
                            package: f.package.clone(),
                            version: f.version.clone(),
                            severity: f.severity.clone(),
                            why: f.suppressed.clone().unwrap_or_default(),
                        })
                        .collect();
                }
                Err(e) => return store_failed(e),
            }
        }
    }
    let history_rows = history
        .iter()
        .take(20)
        .enumerate()
        .map(|(i, s)| {
            let (status, status_class) = status_of(Some(s.status));
            HistoryRow {
                id: s.id.clone(),
                when: when(s.scanned_at.unwrap_or(s.created_at)),
                reason: s.reason.map_or("request", |r| r.as_str()).to_owned(),
                status,
                status_class,
                error: s.error.clone().unwrap_or_default(),
                badges: badges(&s.counts),
                previous: (s.status == ScanStatus::Ready)
                    .then(|| {
                        history[i + 1..]
                            .iter()
                            .find(|o| o.status == ScanStatus::Ready)
                            .map(|o| o.id.clone())
                    })
                    .flatten(),
            }
        })
        .collect();
    let (status, status_class) = status_of(summary.last_status);
    page(&ImagePage {
        chrome: Chrome::of(&c, "images"),
        id: image.id.clone(),
        name: format!("{}/{}", image.registry, image.repository),
        digest: image.digest.clone(),
        tags: if image.tags.is_empty() {
            "—".to_owned()
        } else {
            image.tags.join(", ")
        },
        owner: image.owner.clone(),
        status,
        status_class,
        running: summary.last_status == Some(ScanStatus::Running),
        scan: scan.as_ref().map(|s| ScanFacts {
            id: s.id.clone(),
            when: when(s.scanned_at.unwrap_or(s.created_at)),
            reason: s.reason.map(|r| r.as_str().to_owned()),
            badges: badges(&s.counts),
            kev: if Some(&s.id) == summary.ready_scan_id.as_ref() {
                summary.kev
            } else {
                0
            },
        }),
        severities: FINDING_SEVERITIES.to_vec(),
        fix_states: FIX_STATES.to_vec(),
        severity: q.severity.clone(),
        package: q.package.clone(),
        fix: q.fix.clone(),
        kev: !q.kev.is_empty(),
        sort: if by_severity {
            "severity".to_owned()
        } else {
            "report".to_owned()
        },
        findings,
        next_findings,
        suppressed,
        history: history_rows,
    })
}

/// The newest scan's status as text, for the refresh script.
pub(crate) async fn image_status(
    State(hub): State<Arc<Hub>>,
    c: Console,
    Path(id): Path<String>,
) -> Response {
    match visible_image(&hub, &c.principal, &id).await {
        Ok(s) => (
            [(header::CACHE_CONTROL, "no-store")],
            status_of(s.last_status).0,
        )
            .into_response(),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------- scans

#[derive(Debug, Deserialize)]
pub(crate) struct DiffQuery {
    from: String,
}

struct ChangeRow {
    id: String,
    package: String,
    version: String,
    severity: String,
    class: String,
    kev: bool,
}

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    chrome: Chrome,
    image_id: String,
    name: String,
    from: String,
    from_when: String,
    to: String,
    to_when: String,
    added: Vec<ChangeRow>,
    gone: Vec<ChangeRow>,
    regraded: Vec<(String, String, String, String)>,
}

/// Every finding of a scan, by vulnerability then package (as `rescan::diff` wants them).
async fn all_findings(hub: &Hub, scan_id: &str) -> Result<Vec<Finding>, ferret_store::StoreError> {
    let mut out = Vec::new();
    let mut after = FindingKey::default();
    loop {
        let page = hub
            .store
            .findings(scan_id, &FindingFilter::default(), after, 2000)
            .await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        let n = page.len();
        out.extend(page.into_iter().map(|(_, f)| f));
        if n < 2000 {
            break;
        }
    }
    out.sort_by(|a, b| (&a.vulnerability, &a.package).cmp(&(&b.vulnerability, &b.package)));
    Ok(out)
}

pub(crate) async fn diff(
    State(hub): State<Arc<Hub>>,
    c: Console,
    Path(id): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Response {
    let p = &c.principal;
    let (to, from) = match (
        hub.visible_scan(p, &id).await,
        hub.visible_scan(p, &q.from).await,
    ) {
        (Ok(t), Ok(f)) => (t, f),
        (Err(e), _) | (_, Err(e)) => return failed(e),
    };
    if to.image_id.is_none() || to.image_id != from.image_id {
        return error_page(
            StatusCode::BAD_REQUEST,
            "from: the scans are not of the same image",
        );
    }
    let (old, new) = match (
        all_findings(&hub, &from.id).await,
        all_findings(&hub, &to.id).await,
    ) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => return store_failed(e),
    };
    let (added, gone, regraded) = crate::service::rescan::diff(&old, &new);
    let row = |c: &crate::service::rescan::Changed| ChangeRow {
        id: c.vulnerability.clone(),
        package: c.package.clone(),
        version: c.version.clone(),
        class: severity_class(&c.severity),
        severity: c.severity.clone(),
        kev: c.kev,
    };
    page(&DiffPage {
        chrome: Chrome::of(&c, "images"),
        image_id: to.image_id.clone().unwrap_or_default(),
        name: format!("{}/{}", to.registry, to.repository),
        from_when: when(from.scanned_at.unwrap_or(from.created_at)),
        to_when: when(to.scanned_at.unwrap_or(to.created_at)),
        from: from.id,
        to: to.id,
        added: added.iter().map(row).collect(),
        gone: gone.iter().map(row).collect(),
        regraded: regraded
            .into_iter()
            .map(|r| {
                (
                    r.vulnerability,
                    format!("{} {}", r.package, r.version),
                    r.from,
                    r.to,
                )
            })
            .collect(),
    })
}

/// A scan's SBOM or report as a file, with the API's ownership check.
pub(crate) async fn download(
    State(hub): State<Arc<Hub>>,
    c: Console,
    Path((id, format)): Path<(String, String)>,
) -> Response {
    let format = match format.as_str() {
        "spdx" | "cyclonedx" => crate::api::native::Download::sbom(Some(&format)),
        _ => crate::api::native::Download::report(Some(&format)),
    };
    let format = match format {
        Ok(f) => f,
        Err(e) => return failed(e),
    };
    let scan = match hub.visible_scan(&c.principal, &id).await {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    match crate::api::native::download(&hub, &scan, format, true).await {
        Ok(r) => r,
        Err(e) => failed(e),
    }
}

// ---------------------------------------------------------------------------- queue

struct JobRow {
    image: String,
    tier: &'static str,
    holder: String,
    when: String,
    error: String,
}

fn tier(priority: i64) -> &'static str {
    match priority {
        0 => "on demand",
        1 => "push",
        _ => "rescan",
    }
}

impl From<&Job> for JobRow {
    fn from(j: &Job) -> Self {
        Self {
            image: format!(
                "{}/{}{} ({})",
                j.registry,
                j.repository,
                j.tag
                    .as_deref()
                    .map(|t| format!(":{t}"))
                    .unwrap_or_default(),
                short_digest(&j.digest)
            ),
            tier: tier(j.priority),
            holder: j.lease_holder.clone().unwrap_or_default(),
            when: when(j.updated_at),
            error: j.last_error.clone().unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    chrome: Chrome,
    tiers: Vec<(&'static str, i64, i64)>,
    running: Vec<JobRow>,
    pending: Vec<JobRow>,
    failures: Vec<JobRow>,
    admin: bool,
    embedded: bool,
    scanners: Vec<(String, usize, String)>,
}

pub(crate) async fn queue(State(hub): State<Arc<Hub>>, c: Console) -> Response {
    let scope = c.principal.scope();
    let (counts, running, pending, failures) = match tokio::try_join!(
        hub.store.job_counts(scope),
        hub.store.jobs_in("leased", scope, 100),
        hub.store.jobs_in("queued", scope, 100),
        hub.store.recent_failures(scope, 50),
    ) {
        Ok(r) => r,
        Err(e) => return store_failed(e),
    };
    let tiers = (0..=2)
        .map(|p| {
            let n = |leased: bool| {
                counts
                    .iter()
                    .filter(|c| c.priority == p && c.leased == leased)
                    .map(|c| c.count)
                    .sum::<i64>()
            };
            (tier(p), n(false), n(true))
        })
        .collect();
    page(&QueuePage {
        chrome: Chrome::of(&c, "queue"),
        tiers,
        running: running.iter().map(JobRow::from).collect(),
        pending: pending.iter().map(JobRow::from).collect(),
        failures: failures.iter().map(JobRow::from).collect(),
        admin: c.principal.admin,
        embedded: hub.config.embedded_scanner,
        scanners: hub
            .connected_scanners()
            .into_iter()
            .map(|(holder, slots, since)| (holder, slots, when(since)))
            .collect(),
    })
}

// ---------------------------------------------------------------------------- tokens

struct TokenRow {
    id: String,
    name: String,
    when: String,
    used: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenRow>,
    created: Option<String>,
}

async fn tokens_page(
    hub: &Hub,
    c: &Console,
    created: Option<String>,
    notice: Option<String>,
) -> Response {
    let tokens = match hub.tokens(&c.principal, false).await {
        Ok(t) => t,
        Err(e) => return failed(e),
    };
    let mut chrome = Chrome::of(c, "tokens");
    chrome.notice = notice;
    page(&TokensPage {
        chrome,
        tokens: tokens
            .iter()
            .map(|t| TokenRow {
                id: t.id.clone(),
                name: t.name.clone(),
                when: when(t.created_at),
                used: t.last_used_at.map_or_else(|| "never".to_owned(), when),
            })
            .collect(),
        created,
    })
}

pub(crate) async fn tokens(State(hub): State<Arc<Hub>>, c: Console) -> Response {
    tokens_page(&hub, &c, None, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub(crate) async fn create_token(
    State(hub): State<Arc<Hub>>,
    c: Console,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Some(r) = c.refused(&headers, &form.csrf) {
        return r;
    }
    match hub.create_token(&c.principal, &form.name).await {
        // Shown in this answer only; a reload does not show it again.
        Ok((secret, t)) => {
            tokens_page(
                &hub,
                &c,
                Some(secret),
                Some(format!("Token {:?} created.", t.name)),
            )
            .await
        }
        Err(e) => failed(e),
    }
}

pub(crate) async fn revoke_token(
    State(hub): State<Arc<Hub>>,
    c: Console,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(r) = c.refused(&headers, &form.csrf) {
        return r;
    }
    match hub.revoke_token(&c.principal, &id).await {
        Ok(()) => Redirect::to("/ui/tokens").into_response(),
        Err(e) => failed(e),
    }
}

// ---------------------------------------------------------------------------- accounts

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    name: String,
    owner: String,
    error: Option<String>,
}

fn account_page(c: &Console, error: Option<String>, notice: Option<String>) -> Response {
    let mut chrome = Chrome::of(c, "account");
    chrome.notice = notice;
    page(&AccountPage {
        chrome,
        name: c.principal.name.clone(),
        owner: c.principal.owner.clone(),
        error,
    })
}

pub(crate) async fn account(c: Console) -> Response {
    account_page(&c, None, None)
}

#[derive(Debug, Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn change_password(
    State(hub): State<Arc<Hub>>,
    c: Console,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Some(r) = c.refused(&headers, &form.csrf) {
        return r;
    }
    let p = &c.principal;
    if let Err(e) = hub
        .set_password(p, &p.account_id, Some(&form.current), &form.password)
        .await
    {
        let mut r = account_page(&c, Some(e.message), None);
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    }
    // Every session of the account ended with the change; this browser gets a new one.
    match session::start(&hub, &p.account_id, c.tls).await {
        Ok((cookie, csrf)) => {
            let c = Console { csrf, ..c.clone() };
            let mut r = account_page(
                &c,
                None,
                Some("Your password was changed; other sessions were signed out.".to_owned()),
            );
            if let Ok(v) = cookie.parse() {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => store_failed(e),
    }
}

struct AccountRow {
    id: String,
    name: String,
    admin: bool,
    owner: String,
    when: String,
    me: bool,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct AccountsPage {
    chrome: Chrome,
    accounts: Vec<AccountRow>,
    error: Option<String>,
}

async fn accounts_page(
    hub: &Hub,
    c: &Console,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let accounts = match hub.accounts(&c.principal).await {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    let mut chrome = Chrome::of(c, "accounts");
    chrome.notice = notice;
    let mut r = page(&AccountsPage {
        chrome,
        accounts: accounts
            .iter()
            .map(|a| AccountRow {
                id: a.id.clone(),
                name: a.name.clone(),
                admin: a.admin,
                owner: crate::auth::owner_did(&a.id),
                when: when(a.created_at),
                me: a.id == c.principal.account_id,
            })
            .collect(),
        error: error.clone(),
    });
    if error.is_some() {
        *r.status_mut() = StatusCode::BAD_REQUEST;
    }
    r
}

pub(crate) async fn accounts(State(hub): State<Arc<Hub>>, c: Console) -> Response {
    accounts_page(&hub, &c, None, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewAccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    admin: String,
}

pub(crate) async fn create_account(
    State(hub): State<Arc<Hub>>,
    c: Console,
    headers: HeaderMap,
    Form(form): Form<NewAccountForm>,
) -> Response {
    if let Some(r) = c.refused(&headers, &form.csrf) {
        return r;
    }
    match hub
        .create_account(
            &c.principal,
            form.name.trim(),
            &form.password,
            !form.admin.is_empty(),
        )
        .await
    {
        Ok(a) => {
            accounts_page(
                &hub,
                &c,
                None,
                Some(format!("Account {:?} created.", a.name)),
            )
            .await
        }
        Err(e) if e.code == Code::PermissionDenied => failed(e),
        Err(e) => accounts_page(&hub, &c, Some(e.message), None).await,
    }
}

pub(crate) async fn delete_account(
    State(hub): State<Arc<Hub>>,
    c: Console,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(r) = c.refused(&headers, &form.csrf) {
        return r;
    }
    match hub.delete_account(&c.principal, &id).await {
        Ok(()) => accounts_page(&hub, &c, None, Some("Account deleted.".to_owned())).await,
        Err(e) => failed(e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn reset_password(
    State(hub): State<Arc<Hub>>,
    c: Console,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ResetForm>,
) -> Response {
    if let Some(r) = c.refused(&headers, &form.csrf) {
        return r;
    }
    if id == c.principal.account_id {
        return error_page(
            StatusCode::BAD_REQUEST,
            "change your own password on the Account page",
        );
    }
    match hub
        .set_password(&c.principal, &id, None, &form.password)
        .await
    {
        Ok(()) => {
            accounts_page(
                &hub,
                &c,
                None,
                Some("Password set; that account's sessions were signed out.".to_owned()),
            )
            .await
        }
        Err(e) if e.code == Code::InvalidArgument => {
            accounts_page(&hub, &c, Some(e.message), None).await
        }
        Err(e) => failed(e),
    }
}
