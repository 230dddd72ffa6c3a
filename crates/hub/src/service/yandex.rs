//! The Yandex-shaped ScannerService, ImageService and OperationService, once for both
//! transports: requests are checked here (every bad field is INVALID_ARGUMENT naming it),
//! ownership is enforced here (what a caller does not own is NOT_FOUND, as if it did not
//! exist), and `grpc.rs` and `rest.rs` only translate.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ferret_store::{
    Finding, FindingFilter, FindingKey, Image, ImageFilter, ImageStore, Operation, OperationStore,
    Scan, ScanFilter, ScanKey, ScanStatus, ScanStore,
};
use sha2::{Digest, Sha256};

use crate::Hub;
use crate::api::error::{ApiError, Code};
use crate::auth::Principal;

pub const DEFAULT_PAGE_SIZE: i64 = 100;
pub const MAX_PAGE_SIZE: i64 = 1000;
const MAX_ID: usize = 50;
const MAX_PAGE_TOKEN: usize = 100;
const MAX_FILTER: usize = 1000;
const MAX_ORDER_BY: usize = 100;
/// How stale a running operation's status may be when polled.
const RUNNING_FRESH: std::time::Duration = std::time::Duration::from_millis(250);

/// A list request's common part, as both transports receive it.
#[derive(Debug, Clone, Default)]
pub struct Paging {
    pub page_size: i64,
    pub page_token: String,
    pub filter: String,
    pub order_by: String,
}

#[derive(Debug, Clone, Default)]
pub struct ListScans {
    pub image_id: String,
    pub repository_id: String,
    pub paging: Paging,
}

#[derive(Debug, Clone, Default)]
pub struct ListImages {
    pub registry_id: String,
    pub repository_name: String,
    pub folder_id: String,
    pub paging: Paging,
}

/// An operation and the scan it runs.
#[derive(Debug, Clone)]
pub struct OperationView {
    pub operation: Operation,
    pub scan: Scan,
}

impl OperationView {
    pub fn done(&self) -> bool {
        self.scan.status != ScanStatus::Running
    }

    pub fn modified_at(&self) -> i64 {
        self.scan.scanned_at.unwrap_or(self.operation.created_at)
    }
}

/// The id of a repository: stable, derived from the registry's name and the repository.
pub fn repository_id(registry: &str, repository: &str) -> String {
    let digest = Sha256::digest(format!("{registry}/{repository}").as_bytes());
    format!("rep{}", hex::encode(&digest[..16]))
}

/// Checks an id of one kind: present, short enough, with the kind's prefix and 32 hex
/// digits after it.
fn check_id(field: &str, value: &str, prefix: &str, kind: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid(field, "required"));
    }
    if value.len() > MAX_ID {
        return Err(ApiError::invalid(
            field,
            format!("at most {MAX_ID} characters"),
        ));
    }
    let ok = value
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(ApiError::invalid(
            field,
            format!("{value:?} is not {kind} id (they look like {prefix}…)"),
        ));
    }
    Ok(())
}

fn page_size(size: i64) -> Result<i64, ApiError> {
    match size {
        0 => Ok(DEFAULT_PAGE_SIZE),
        1..=MAX_PAGE_SIZE => Ok(size),
        _ => Err(ApiError::invalid(
            "page_size",
            format!("{size} is out of range: expected 0 to {MAX_PAGE_SIZE}"),
        )),
    }
}

/// Parses `field="value"` terms joined by `AND`, each field one of `fields`.
fn parse_filter(filter: &str, fields: &[&str]) -> Result<Vec<(String, String)>, ApiError> {
    if filter.len() > MAX_FILTER {
        return Err(ApiError::invalid(
            "filter",
            format!("at most {MAX_FILTER} characters"),
        ));
    }
    let mut terms = Vec::new();
    if filter.trim().is_empty() {
        return Ok(terms);
    }
    for term in filter.split(" AND ") {
        let term = term.trim();
        let expected = || {
            ApiError::invalid(
                "filter",
                format!(
                    "{term:?}: expected FIELD=\"VALUE\" with FIELD one of {}",
                    fields.join(", ")
                ),
            )
        };
        let (field, value) = term.split_once('=').ok_or_else(expected)?;
        let (field, value) = (field.trim(), value.trim());
        if !fields.contains(&field) {
            return Err(ApiError::invalid(
                "filter",
                format!(
                    "cannot filter on {field:?}: expected one of {}",
                    fields.join(", ")
                ),
            ));
        }
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .filter(|v| !v.contains('"'))
            .ok_or_else(|| {
                ApiError::invalid(
                    "filter",
                    format!("{field}: the value must be in double quotes"),
                )
            })?;
        terms.push((field.to_owned(), value.to_owned()));
    }
    Ok(terms)
}

/// Parses `order_by`: empty, or `FIELD [asc]` with FIELD the one field allowed.
fn parse_order_by(order_by: &str, field: &str) -> Result<bool, ApiError> {
    if order_by.len() > MAX_ORDER_BY {
        return Err(ApiError::invalid(
            "order_by",
            format!("at most {MAX_ORDER_BY} characters"),
        ));
    }
    let words: Vec<&str> = order_by.split_whitespace().collect();
    match words.as_slice() {
        [] => Ok(false),
        [f] | [f, "asc"] if *f == field => Ok(true),
        _ => Err(ApiError::invalid(
            "order_by",
            format!("{order_by:?}: only {field:?} is supported"),
        )),
    }
}

/// Opaque page tokens: the last item's sort key, bound by a MAC to the query it continues,
/// so a forged token, or one from another query, is refused.
struct PageTokens<'a> {
    hub: &'a Hub,
    query: String,
}

impl<'a> PageTokens<'a> {
    fn new(hub: &'a Hub, query: String) -> Self {
        Self { hub, query }
    }

    fn mac(&self, key: &str) -> [u8; 32] {
        self.hub
            .auth
            .keys
            .page_mac(format!("{}\n{key}", self.query).as_bytes())
    }

    fn encode(&self, key: &str) -> String {
        let mut bytes = key.as_bytes().to_vec();
        bytes.extend_from_slice(&self.mac(key)[..12]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn decode(&self, token: &str) -> Result<Option<String>, ApiError> {
        if token.is_empty() {
            return Ok(None);
        }
        let bad = || {
            ApiError::invalid(
                "page_token",
                "not a token this list returned (pass next_page_token unchanged, with the same filter and order)",
            )
        };
        if token.len() > MAX_PAGE_TOKEN {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        if bytes.len() < 12 {
            return Err(bad());
        }
        let (key, mac) = bytes.split_at(bytes.len() - 12);
        let key = std::str::from_utf8(key).map_err(|_| bad())?;
        let expected = self.mac(key);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..12], mac)) {
            return Err(bad());
        }
        Ok(Some(key.to_owned()))
    }
}

impl Hub {
    /// Splits an image name as images show it, `registry/repository`, when its first part
    /// names a configured registry; otherwise it is all repository.
    fn split_name(&self, name: &str) -> (Option<String>, String) {
        match name.split_once('/') {
            Some((registry, repository))
                if self.config.registries.iter().any(|r| r.name == registry) =>
            {
                (Some(registry.to_owned()), repository.to_owned())
            }
            _ => (None, name.to_owned()),
        }
    }

    async fn owned_image(&self, p: &Principal, field: &str, id: &str) -> Result<Image, ApiError> {
        check_id(field, id, "img", "an image")?;
        match self.store.image(id).await? {
            Some(i) if p.may_see(&i.owner) => Ok(i),
            _ => Err(ApiError::not_found("image", id)),
        }
    }

    async fn owned_scan(&self, p: &Principal, field: &str, id: &str) -> Result<Scan, ApiError> {
        check_id(field, id, "scn", "a scan result")?;
        match self.store.scan(id).await? {
            Some(s) if p.may_see(&s.owner) => Ok(s),
            _ => Err(ApiError::not_found("scan result", id)),
        }
    }

    /// Queues a scan of an image the caller owns and returns its operation.
    pub async fn yc_scan(&self, p: &Principal, image_id: &str) -> Result<OperationView, ApiError> {
        let image = self.owned_image(p, "image_id", image_id).await?;
        let registry = self
            .config
            .registries
            .iter()
            .find(|r| r.name == image.registry)
            .ok_or_else(|| {
                ApiError::new(
                    Code::FailedPrecondition,
                    format!(
                        "image {image_id}: its registry {:?} is no longer configured",
                        image.registry
                    ),
                )
            })?;
        let submitted = super::submit::queue_scan(
            self,
            &image.owner,
            registry,
            &image.repository,
            &image.digest,
            image.tags.first().map(String::as_str),
            super::submit::Why::REQUEST,
        )
        .await?;
        let operation = self
            .store
            .create_operation(
                &image.owner,
                &format!("Scan image {image_id}"),
                &submitted.scan_id,
            )
            .await?;
        let scan = self
            .store
            .scan(&submitted.scan_id)
            .await?
            .ok_or_else(|| ApiError::internal("a submitted job has no scan"))?;
        Ok(OperationView { operation, scan })
    }

    pub async fn yc_get_scan(&self, p: &Principal, id: &str) -> Result<Scan, ApiError> {
        self.owned_scan(p, "scan_result_id", id).await
    }

    pub async fn yc_get_last(&self, p: &Principal, image_id: &str) -> Result<Scan, ApiError> {
        let image = self.owned_image(p, "image_id", image_id).await?;
        self.store
            .last_finished_scan(&image.id)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    Code::NotFound,
                    format!("image {image_id:?} has no finished scan result"),
                )
            })
    }

    pub async fn yc_list_scans(
        &self,
        p: &Principal,
        req: &ListScans,
    ) -> Result<(Vec<Scan>, String), ApiError> {
        let limit = page_size(req.paging.page_size)?;
        let mut filter = ScanFilter {
            owner: p.scope().map(str::to_owned),
            ..ScanFilter::default()
        };
        match (req.image_id.is_empty(), req.repository_id.is_empty()) {
            (false, true) => {
                let image = self.owned_image(p, "image_id", &req.image_id).await?;
                filter.image_id = Some(image.id);
            }
            (true, false) => {
                // A repository is named by its id (rep…) or, as images show it, by
                // `registry/repository`.
                let id = &req.repository_id;
                let image = if id.contains('/') {
                    if id.len() > 512 {
                        return Err(ApiError::invalid("repository_id", "at most 512 characters"));
                    }
                    let (registry, repository) = self.split_name(id);
                    let named = ImageFilter {
                        owner: p.scope().map(str::to_owned),
                        registry,
                        repository: Some(repository),
                    };
                    self.store.find_images(&named, None, 1).await?.pop()
                } else {
                    // An id is a hash of the name: look among the caller's images.
                    check_id("repository_id", id, "rep", "a repository")?;
                    self.store
                        .images(p.scope())
                        .await?
                        .into_iter()
                        .find(|i| repository_id(&i.registry, &i.repository) == *id)
                };
                let image = image.ok_or_else(|| ApiError::not_found("repository", id))?;
                filter.registry = Some(image.registry);
                filter.repository = Some(image.repository);
            }
            (true, true) => {
                return Err(ApiError::invalid(
                    "image_id",
                    "one of image_id or repository_id is required",
                ));
            }
            (false, false) => {
                return Err(ApiError::invalid(
                    "repository_id",
                    "give image_id or repository_id, not both",
                ));
            }
        }
        for (_, value) in parse_filter(&req.paging.filter, &["status"])? {
            filter.status = Some(ScanStatus::parse(&value).ok_or_else(|| {
                ApiError::invalid(
                    "filter",
                    format!("status: {value:?} is not one of RUNNING, READY, ERROR"),
                )
            })?);
        }
        filter.by_status = parse_order_by(&req.paging.order_by, "status")?;
        let tokens = PageTokens::new(
            self,
            format!(
                "scans\n{}\n{}\n{}\n{}\n{}",
                p.account_id,
                req.image_id,
                req.repository_id,
                req.paging.filter,
                req.paging.order_by
            ),
        );
        let after = match tokens.decode(&req.paging.page_token)? {
            Some(key) => Some(decode_scan_key(&key).ok_or_else(|| {
                ApiError::invalid("page_token", "not a token this list returned")
            })?),
            None => None,
        };
        let mut scans = self.store.scans(&filter, after.as_ref(), limit + 1).await?;
        let next = next_token(&mut scans, limit, |s| {
            let k = ScanKey::of(s);
            tokens.encode(&format!("{}|{}|{}", k.status.as_str(), k.created_at, k.id))
        });
        Ok((scans, next))
    }

    pub async fn yc_list_vulnerabilities(
        &self,
        p: &Principal,
        scan_result_id: &str,
        paging: &Paging,
    ) -> Result<(Vec<Finding>, String), ApiError> {
        let scan = self.owned_scan(p, "scan_result_id", scan_result_id).await?;
        let limit = page_size(paging.page_size)?;
        let mut filter = FindingFilter::default();
        for (field, value) in parse_filter(&paging.filter, &["severity", "name", "package"])? {
            match field.as_str() {
                "severity" => {
                    if ferret_model::Severity::from_yandex_name(&value).is_none() {
                        let names: Vec<&str> = ferret_model::Severity::DESCENDING
                            .iter()
                            .map(|s| s.yandex_name())
                            .collect();
                        return Err(ApiError::invalid(
                            "filter",
                            format!("severity: {value:?} is not one of {}", names.join(", ")),
                        ));
                    }
                    filter.severity = Some(value);
                }
                "name" => filter.vulnerability = Some(value),
                _ => filter.package = Some(value),
            }
        }
        filter.by_severity = parse_order_by(&paging.order_by, "severity")?;
        let tokens = PageTokens::new(
            self,
            format!(
                "vulnerabilities\n{}\n{}\n{}\n{}",
                p.account_id, scan.id, paging.filter, paging.order_by
            ),
        );
        let after = match tokens.decode(&paging.page_token)? {
            Some(key) => key
                .split_once('|')
                .and_then(|(r, o)| {
                    Some(FindingKey {
                        rank: r.parse().ok()?,
                        ord: o.parse().ok()?,
                    })
                })
                .ok_or_else(|| ApiError::invalid("page_token", "not a token this list returned"))?,
            None => FindingKey::default(),
        };
        let mut rows = self
            .store
            .findings(&scan.id, &filter, after, limit + 1)
            .await?;
        let next = next_token(&mut rows, limit, |(k, _)| {
            tokens.encode(&format!("{}|{}", k.rank, k.ord))
        });
        Ok((rows.into_iter().map(|(_, f)| f).collect(), next))
    }

    pub async fn yc_list_images(
        &self,
        p: &Principal,
        req: &ListImages,
    ) -> Result<(Vec<Image>, String), ApiError> {
        let limit = page_size(req.paging.page_size)?;
        // Ferret has no folders: a folder id narrows nothing, so it is accepted and ignored.
        let _ = &req.folder_id;
        let non_empty = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        let mut filter = ImageFilter {
            owner: p.scope().map(str::to_owned),
            registry: non_empty(&req.registry_id),
            repository: non_empty(&req.repository_name),
        };
        // The name an Image reports (`local/team/app`, with its registry) names the same
        // repository as `team/app` does, as ScannerService.List's repository_id accepts.
        if let (Some(registry), repository) = self.split_name(&req.repository_name)
            && filter.registry.as_ref().is_none_or(|r| *r == registry)
        {
            filter.registry = Some(registry);
            filter.repository = Some(repository);
        }
        for (_, value) in parse_filter(&req.paging.filter, &["name"])? {
            let (registry, repository) = self.split_name(&value);
            if registry.is_some() {
                filter.registry = registry;
            }
            filter.repository = Some(repository);
        }
        if !req.paging.order_by.is_empty() {
            parse_order_by(&req.paging.order_by, "name")?;
        }
        let tokens = PageTokens::new(
            self,
            format!(
                "images\n{}\n{}\n{}\n{}\n{}",
                p.account_id,
                req.registry_id,
                req.repository_name,
                req.paging.filter,
                req.paging.order_by
            ),
        );
        // Listed by name (registry/repository), digest, then id, continuing after the
        // image the token names (images are never deleted).
        let after = match tokens.decode(&req.paging.page_token)? {
            Some(id) => Some(self.store.image(&id).await?.ok_or_else(|| {
                ApiError::invalid("page_token", "not a token this list returned")
            })?),
            None => None,
        };
        let mut images = self
            .store
            .find_images(&filter, after.as_ref(), limit + 1)
            .await?;
        let next = next_token(&mut images, limit, |i| tokens.encode(&i.id));
        Ok((images, next))
    }

    pub async fn yc_get_image(&self, p: &Principal, id: &str) -> Result<Image, ApiError> {
        self.owned_image(p, "image_id", id).await
    }

    pub async fn yc_get_operation(
        &self,
        p: &Principal,
        id: &str,
    ) -> Result<OperationView, ApiError> {
        check_id("operation_id", id, "op", "an operation")?;
        // An operation's row never changes, and once its scan is done neither does the
        // scan. While it runs, its status is read again at most every RUNNING_FRESH, so
        // many pollers of one operation cost the store one read per interval.
        let cached = self.operations.get(&id.to_owned());
        let operation = match cached {
            Some((at, v)) if v.done() || at.elapsed() < RUNNING_FRESH => {
                return if p.may_see(&v.operation.owner) {
                    Ok(v)
                } else {
                    Err(ApiError::not_found("operation", id))
                };
            }
            Some((_, v)) => v.operation,
            None => self
                .store
                .operation(id)
                .await?
                .ok_or_else(|| ApiError::not_found("operation", id))?,
        };
        if !p.may_see(&operation.owner) {
            return Err(ApiError::not_found("operation", id));
        }
        let scan = self
            .store
            .scan(&operation.scan_id)
            .await?
            .ok_or_else(|| ApiError::internal(format!("operation {id} lost its scan")))?;
        let view = OperationView { operation, scan };
        self.operations
            .put(id.to_owned(), (std::time::Instant::now(), view.clone()));
        Ok(view)
    }
}

fn decode_scan_key(key: &str) -> Option<ScanKey> {
    let mut parts = key.splitn(3, '|');
    Some(ScanKey {
        status: ScanStatus::parse(parts.next()?)?,
        created_at: parts.next()?.parse().ok()?,
        id: parts.next()?.to_owned(),
    })
}

/// Trims a page fetched with one extra row to `limit`, returning the next page's token
/// when the extra row showed there is more.
fn next_token<T>(rows: &mut Vec<T>, limit: i64, token: impl Fn(&T) -> String) -> String {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(token).unwrap_or_default()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_and_name_what_is_wrong() {
        assert_eq!(
            parse_filter(r#"severity="HIGH" AND name="CVE-1""#, &["severity", "name"]),
            Ok(vec![
                ("severity".to_owned(), "HIGH".to_owned()),
                ("name".to_owned(), "CVE-1".to_owned())
            ])
        );
        assert_eq!(parse_filter("  ", &["status"]), Ok(vec![]));
        for bad in [r#"nope="x""#, "status=READY", "status", r#"status="a"b""#] {
            let e = parse_filter(bad, &["status"]).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument);
            assert!(e.message.starts_with("filter:"), "{}", e.message);
        }
    }

    #[test]
    fn ids_are_checked_by_kind() {
        let img = format!("img{}", "a".repeat(32));
        assert!(check_id("image_id", &img, "img", "an image").is_ok());
        let scan = format!("scn{}", "a".repeat(32));
        let e = check_id("image_id", &scan, "img", "an image").unwrap_err();
        assert!(e.message.starts_with("image_id:"));
        assert!(check_id("image_id", "", "img", "an image").is_err());
        assert!(check_id("image_id", &"x".repeat(51), "img", "an image").is_err());
    }

    #[test]
    fn page_sizes_and_orders() {
        assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(1000), Ok(1000));
        assert!(page_size(1001).is_err_and(|e| e.message.starts_with("page_size:")));
        assert!(page_size(-1).is_err());
        assert_eq!(parse_order_by("severity", "severity"), Ok(true));
        assert_eq!(parse_order_by("", "severity"), Ok(false));
        assert!(parse_order_by("name desc", "severity").is_err());
    }
}
