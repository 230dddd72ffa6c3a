//! Submitting scans, once for every door: resolve an image in a configured registry,
//! record it for its owner, and queue its scan (joining a job already waiting for the
//! digest).

use ferret_image::{ImageSource, ResolveOptions};
use ferret_store::{ImageStore, JobRequest, JobStore, ScanReason, Submitted};

use crate::api::error::{ApiError, Code};
use crate::{Hub, RegistryConfig};

/// Why a scan is queued, and so at which tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Why {
    /// Lower is more urgent.
    pub priority: i64,
    pub reason: ScanReason,
}

impl Why {
    /// Someone asked: on-demand, unless the request says otherwise.
    pub const REQUEST: Self = Self::request(0);
    /// The registry said it was pushed: tier 1.
    pub const PUSH: Self = Self {
        priority: 1,
        reason: ScanReason::Push,
    };
    /// A schedule rule: tier 2.
    pub const SCHEDULE: Self = Self {
        priority: 2,
        reason: ScanReason::Schedule,
    };

    pub const fn request(priority: i64) -> Self {
        Self {
            priority,
            reason: ScanReason::Request,
        }
    }
}

/// An image resolved in a configured registry, ready to register and queue.
pub(crate) struct Resolved {
    pub registry: RegistryConfig,
    pub digest: String,
    /// The layers' stored (compressed) size.
    pub size: i64,
}

/// Resolves `repository` at `tag` or `digest` in the configured registry `registry_name`.
pub(crate) async fn resolve(
    hub: &Hub,
    registry_name: &str,
    repository: &str,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Result<Resolved, ApiError> {
    let Some(registry) = hub
        .config
        .registries
        .iter()
        .find(|r| r.name == registry_name)
        .cloned()
    else {
        return Err(ApiError::invalid(
            "registry",
            format!("{registry_name:?} is not configured"),
        ));
    };
    if repository.is_empty() || repository.len() > 256 {
        return Err(ApiError::invalid(
            "repository",
            "expected 1 to 256 characters",
        ));
    }
    let (host, registry_options) = registry
        .reach(&hub.registry_http)
        .map_err(ApiError::internal)?;
    let selector = match (digest, tag) {
        (Some(d), _) => format!("@{d}"),
        (None, Some(t)) => format!(":{t}"),
        (None, None) => ":latest".to_owned(),
    };
    let reference = format!("{host}/{repository}{selector}");
    let source = match ImageSource::parse(&reference) {
        Ok(ImageSource::Registry(r)) => ImageSource::Registry(r),
        Ok(_) | Err(_) => {
            return Err(ApiError::invalid(
                "image",
                format!("{repository}{selector} is not an image reference"),
            ));
        }
    };
    let options = ResolveOptions {
        platform: None,
        registry: registry_options,
    };
    let image =
        tokio::task::spawn_blocking(move || ferret_image::Image::resolve(&source, &options))
            .await
            .map_err(ApiError::internal)?
            .map_err(|e| {
                ApiError::new(
                    Code::NotFound,
                    format!("image {repository}{selector} in registry {registry_name}: {e}"),
                )
            })?;
    let size = image.layers.iter().filter_map(|l| l.size).sum::<u64>();
    Ok(Resolved {
        registry,
        digest: image.manifest_digest.to_string(),
        size: i64::try_from(size).unwrap_or(i64::MAX),
    })
}

/// Queues a scan of `digest` in the configured registry `registry` for `owner`.
pub(crate) async fn queue_scan(
    hub: &Hub,
    owner: &str,
    registry: &RegistryConfig,
    repository: &str,
    digest: &str,
    tag: Option<&str>,
    why: Why,
) -> Result<Submitted, ApiError> {
    let submitted = hub
        .store
        .submit(&JobRequest {
            digest: digest.to_owned(),
            registry: registry.name.clone(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            owner: owner.to_owned(),
            hold_did: hub.config.hub_did.clone(),
            // Where the embedded scanner pulls from; remote scanners get the hub itself.
            hold_endpoint: registry.url.trim_end_matches('/').to_owned(),
            priority: why.priority,
            reason: why.reason,
        })
        .await?;
    if submitted.created {
        hub.queued();
    }
    Ok(submitted)
}

/// Records the image for `owner` and queues its scan.
pub(crate) async fn register(
    hub: &Hub,
    owner: &str,
    resolved: &Resolved,
    repository: &str,
    tag: Option<&str>,
    why: Why,
) -> Result<Submitted, ApiError> {
    hub.store
        .upsert_image(
            owner,
            &resolved.registry.name,
            repository,
            &resolved.digest,
            tag,
            resolved.size,
        )
        .await?;
    queue_scan(
        hub,
        owner,
        &resolved.registry,
        repository,
        &resolved.digest,
        tag,
        why,
    )
    .await
}
