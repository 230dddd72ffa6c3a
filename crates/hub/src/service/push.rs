//! Scan on push: the CNCF distribution registry's notifications, taken once per event id.
//! A pushed image manifest or index is resolved (an index to its default platform's image)
//! and queued at tier 1 for the repository's owner, as the registry's scan policy says;
//! a deleted manifest marks the image deleted; anything else (blobs, pulls, mounts) is
//! passed over.

use ferret_store::{AccountStore, ImageStore, MonitorStore, ScanFilter, ScanStore};
use serde::{Deserialize, Serialize};

use crate::api::error::{ApiError, Code};
use crate::service::submit::{Why, register, resolve};
use crate::{Hub, RegistryConfig};

/// The media types of what a scan can start from.
const MANIFESTS: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// `application/vnd.docker.distribution.events.v1+json`: what the registry posts.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
pub struct Event {
    /// Unique per event; the registry sends it again until it hears 2xx.
    #[serde(default)]
    pub id: String,
    /// `push`, `pull`, `delete`, `mount`.
    pub action: String,
    #[serde(default)]
    pub target: Target,
}

#[derive(Debug, Default, Deserialize)]
pub struct Target {
    #[serde(default, rename = "mediaType")]
    pub media_type: String,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub repository: String,
    #[serde(default)]
    pub tag: Option<String>,
}

/// What became of a delivery's events, by outcome.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Taken {
    /// Scans queued.
    pub queued: u64,
    /// Tags added to images already scanned.
    pub tagged: u64,
    /// Images marked deleted, or tags taken off.
    pub deleted: u64,
    /// Events seen before (redeliveries).
    pub repeated: u64,
    /// Pushes the scan policy does not scan.
    pub policy: u64,
    /// Blobs, pulls, mounts, and manifests that are not images.
    pub ignored: u64,
}

impl Taken {
    fn count(&self) {
        for (outcome, n) in [
            ("queued", self.queued),
            ("tagged", self.tagged),
            ("deleted", self.deleted),
            ("repeated", self.repeated),
            ("policy", self.policy),
            ("ignored", self.ignored),
        ] {
            if n > 0 {
                metrics::counter!("ferret_registry_events_total", "outcome" => outcome)
                    .increment(n);
            }
        }
    }
}

/// Takes a delivery from `registry`. An error leaves the failed event untaken, so the
/// registry's redelivery tries it again (events before it are not repeated).
pub(crate) async fn take(
    hub: &Hub,
    registry: &RegistryConfig,
    envelope: Envelope,
) -> Result<Taken, ApiError> {
    let mut taken = Taken::default();
    let result = take_all(hub, registry, envelope, &mut taken).await;
    taken.count();
    result.map(|()| taken)
}

async fn take_all(
    hub: &Hub,
    registry: &RegistryConfig,
    envelope: Envelope,
    taken: &mut Taken,
) -> Result<(), ApiError> {
    for event in envelope.events {
        let key = (!event.id.is_empty()).then(|| format!("{}/{}", registry.name, event.id));
        if let Some(k) = &key
            && !hub.store.first_delivery(k).await?
        {
            taken.repeated += 1;
            continue;
        }
        if let Err(e) = take_one(hub, registry, &event, taken).await {
            if let Some(k) = &key {
                // Untaken: the redelivery runs it again.
                let _ = hub.store.forget_delivery(k).await;
            }
            tracing::warn!(registry = %registry.name, repository = %event.target.repository, digest = %event.target.digest, error = %e, "registry event not taken");
            return Err(e);
        }
    }
    Ok(())
}

async fn take_one(
    hub: &Hub,
    registry: &RegistryConfig,
    event: &Event,
    taken: &mut Taken,
) -> Result<(), ApiError> {
    let t = &event.target;
    match event.action.as_str() {
        "push" if MANIFESTS.contains(&t.media_type.as_str()) && !t.digest.is_empty() => {
            if !registry.scan_policy.scans_push(&t.repository) {
                taken.policy += 1;
                return Ok(());
            }
            let Some(name) = registry.owner_of(&t.repository) else {
                // Checked at start; kept for a config changed under a running hub.
                return Err(ApiError::new(
                    Code::FailedPrecondition,
                    format!(
                        "registry {}: no owner for repository {} (set owner or owners)",
                        registry.name, t.repository
                    ),
                ));
            };
            let Some(account) = hub.store.account_by_name(name).await? else {
                return Err(ApiError::new(
                    Code::FailedPrecondition,
                    format!(
                        "registry {}: the owner {name:?} of repository {} has no account",
                        registry.name, t.repository
                    ),
                ));
            };
            let owner = crate::auth::owner_did(&account.id);
            let resolved = resolve(
                hub,
                &registry.name,
                &t.repository,
                t.tag.as_deref(),
                Some(&t.digest),
            )
            .await?;
            // An image already scanned (a new tag for it) only gains the tag.
            let image = hub
                .store
                .upsert_image(
                    &owner,
                    &registry.name,
                    &t.repository,
                    &resolved.digest,
                    t.tag.as_deref(),
                    resolved.size,
                )
                .await?;
            let filter = ScanFilter {
                image_id: Some(image.id.clone()),
                ..ScanFilter::default()
            };
            if !hub.store.scans(&filter, None, 1).await?.is_empty() {
                taken.tagged += 1;
                return Ok(());
            }
            register(
                hub,
                &owner,
                &resolved,
                &t.repository,
                t.tag.as_deref(),
                Why::PUSH,
            )
            .await?;
            tracing::info!(registry = %registry.name, repository = %t.repository, digest = %resolved.digest, "push: scan queued");
            taken.queued += 1;
        }
        "delete" if !t.repository.is_empty() => {
            let n = if !t.digest.is_empty() {
                hub.store
                    .delete_images(&registry.name, &t.repository, &t.digest)
                    .await?
            } else if let Some(tag) = &t.tag {
                hub.store
                    .untag_images(&registry.name, &t.repository, tag)
                    .await?
            } else {
                0
            };
            taken.deleted += n;
            if n == 0 {
                taken.ignored += 1;
            }
        }
        _ => taken.ignored += 1,
    }
    Ok(())
}
