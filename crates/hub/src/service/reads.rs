//! The reads the native API and the Aqua flow make: a scan by id, recent scans, and an
//! image's newest scan by tag or digest. What a caller does not own is NOT_FOUND, as at
//! the Yandex doors; admins see every owner's.

use ferret_store::{
    Image, ImageFilter, ImageStore, JobState, JobStore, Scan, ScanFilter, ScanStore,
};

use crate::Hub;
use crate::api::error::{ApiError, Code};
use crate::auth::Principal;

/// Where a running scan's job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Queued,
    Scanning,
}

impl Hub {
    /// A scan the caller may see.
    pub async fn visible_scan(&self, p: &Principal, id: &str) -> Result<Scan, ApiError> {
        match self.store.scan(id).await? {
            Some(s) if p.may_see(&s.owner) => Ok(s),
            _ => Err(ApiError::not_found("scan", id)),
        }
    }

    /// The caller's newest scans (an admin's: everyone's), of one repository if named.
    pub async fn recent_scans(
        &self,
        p: &Principal,
        repository: Option<String>,
        limit: i64,
    ) -> Result<Vec<Scan>, ApiError> {
        let filter = ScanFilter {
            owner: p.scope().map(str::to_owned),
            repository,
            ..ScanFilter::default()
        };
        Ok(self.store.scans(&filter, None, limit).await?)
    }

    /// The image `registry/name` the caller may see at `tag` (the digest registered last
    /// for the tag) or at `digest`, its newest scan, and where that scan's job is. The
    /// caller's own image first when several owners registered it.
    pub async fn image_scan(
        &self,
        p: &Principal,
        registry: &str,
        name: &str,
        tag: &str,
        digest: Option<&str>,
    ) -> Result<(Image, Scan, Progress), ApiError> {
        let not_found = || {
            ApiError::new(
                Code::NotFound,
                format!("image {name}:{tag} in registry {registry:?} is not registered"),
            )
        };
        let filter = ImageFilter {
            owner: p.scope().map(str::to_owned),
            registry: Some(registry.to_owned()),
            repository: Some(name.to_owned()),
        };
        let image = self
            .store
            .find_images(&filter, None, i64::MAX)
            .await?
            .into_iter()
            .filter(|i| match digest {
                Some(d) => i.digest == d,
                None => i.tags.iter().any(|t| t == tag),
            })
            .max_by_key(|i| (i.owner == p.owner, i.created_at))
            .ok_or_else(not_found)?;
        let filter = ScanFilter {
            owner: p.scope().map(str::to_owned),
            image_id: Some(image.id.clone()),
            ..ScanFilter::default()
        };
        let scan = self
            .store
            .scans(&filter, None, 1)
            .await?
            .into_iter()
            .next()
            .ok_or_else(not_found)?;
        let progress = match self.store.job(&scan.job_id).await? {
            Some(j) if j.state == JobState::Leased => Progress::Scanning,
            _ => Progress::Queued,
        };
        Ok((image, scan, progress))
    }
}
