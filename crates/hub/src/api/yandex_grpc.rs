//! The Yandex-compatible gRPC services: `yandex.cloud.containerregistry.v1.ScannerService`,
//! `ImageService` (List, Get) and `yandex.cloud.operation.OperationService` (Get), on the
//! messages compiled from `proto/`. Callers authenticate with the metadata
//! `authorization: Bearer <token>`.

use std::sync::Arc;

use ferret_store::{Finding, Image, Scan, ScanStatus};
use prost::Message;
use tonic::{Request, Response, Status};

use crate::Hub;
use crate::auth::Principal;
use crate::service::{ListImages, ListScans, OperationView, Paging};

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod pb {
    pub mod google {
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
    }
    pub mod yandex {
        pub mod cloud {
            pub mod operation {
                tonic::include_proto!("yandex.cloud.operation");
            }
            pub mod containerregistry {
                pub mod v1 {
                    tonic::include_proto!("yandex.cloud.containerregistry.v1");
                }
            }
        }
    }
}

use pb::yandex::cloud::containerregistry::v1 as cr;
use pb::yandex::cloud::operation as op;

const TYPE_PREFIX: &str = "type.googleapis.com/";

pub(crate) fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

fn any<M: Message>(type_name: &str, m: &M) -> prost_types::Any {
    prost_types::Any {
        type_url: format!("{TYPE_PREFIX}{type_name}"),
        value: m.encode_to_vec(),
    }
}

pub(crate) fn scan_result(s: &Scan) -> cr::ScanResult {
    let status = match s.status {
        ScanStatus::Running => cr::scan_result::Status::Running,
        ScanStatus::Ready => cr::scan_result::Status::Ready,
        ScanStatus::Error => cr::scan_result::Status::Error,
    };
    cr::ScanResult {
        id: s.id.clone(),
        image_id: s.image_id.clone().unwrap_or_default(),
        scanned_at: s.scanned_at.map(timestamp),
        status: status as i32,
        vulnerabilities: Some({
            let c = &s.counts;
            let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            cr::VulnerabilityStats {
                critical: n(c.critical),
                high: n(c.high),
                medium: n(c.medium),
                low: n(c.low),
                negligible: n(c.negligible),
                undefined: n(c.unknown),
            }
        }),
    }
}

fn vulnerability(f: Finding) -> cr::Vulnerability {
    use cr::vulnerability::Severity;
    // Findings are stored with the API's severity names already (`results.rs`).
    let severity = Severity::from_str_name(&f.severity).unwrap_or(Severity::Undefined);
    cr::Vulnerability {
        severity: severity as i32,
        vulnerability: Some(cr::vulnerability::Vulnerability::Package(
            cr::PackageVulnerability {
                name: f.vulnerability,
                link: f.link.unwrap_or_default(),
                package: f.package,
                source: f.source,
                version: f.version,
                fixed_by: f.fixed_by.unwrap_or_default(),
                origin: f.origin.unwrap_or_default(),
                r#type: f.kind.unwrap_or_default(),
            },
        )),
    }
}

fn image(i: Image) -> cr::Image {
    cr::Image {
        name: format!("{}/{}", i.registry, i.repository),
        id: i.id,
        digest: i.digest,
        compressed_size: i.size,
        config: None,
        layers: Vec::new(),
        tags: i.tags,
        created_at: Some(timestamp(i.created_at)),
    }
}

pub(crate) fn operation(v: &OperationView) -> op::Operation {
    let result = match v.scan.status {
        ScanStatus::Running => None,
        ScanStatus::Ready => Some(op::operation::Result::Response(any(
            "yandex.cloud.containerregistry.v1.ScanResult",
            &scan_result(&v.scan),
        ))),
        ScanStatus::Error => Some(op::operation::Result::Error(pb::google::rpc::Status {
            code: tonic::Code::Internal as i32,
            message: v
                .scan
                .error
                .clone()
                .unwrap_or_else(|| "scan failed".to_owned()),
            details: Vec::new(),
        })),
    };
    op::Operation {
        id: v.operation.id.clone(),
        description: v.operation.description.clone(),
        created_at: Some(timestamp(v.operation.created_at)),
        created_by: v.operation.owner.clone(),
        modified_at: Some(timestamp(v.modified_at())),
        done: v.done(),
        metadata: Some(any(
            "yandex.cloud.containerregistry.v1.ScanMetadata",
            &cr::ScanMetadata {
                scan_result_id: v.scan.id.clone(),
            },
        )),
        result,
    }
}

struct Service(Arc<Hub>);

impl Service {
    async fn principal<T>(&self, req: &Request<T>) -> Result<Principal, Status> {
        let header = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let ip = req.remote_addr().map(|a| a.ip());
        Ok(self.0.authenticate_from(ip, header).await?)
    }
}

pub(crate) fn scanner_service(
    hub: Arc<Hub>,
) -> cr::scanner_service_server::ScannerServiceServer<impl cr::scanner_service_server::ScannerService>
{
    cr::scanner_service_server::ScannerServiceServer::new(Service(hub))
}

pub(crate) fn image_service(
    hub: Arc<Hub>,
) -> cr::image_service_server::ImageServiceServer<impl cr::image_service_server::ImageService> {
    cr::image_service_server::ImageServiceServer::new(Service(hub))
}

pub(crate) fn operation_service(
    hub: Arc<Hub>,
) -> op::operation_service_server::OperationServiceServer<
    impl op::operation_service_server::OperationService,
> {
    op::operation_service_server::OperationServiceServer::new(Service(hub))
}

#[tonic::async_trait]
impl cr::scanner_service_server::ScannerService for Service {
    async fn scan(&self, req: Request<cr::ScanRequest>) -> Result<Response<op::Operation>, Status> {
        let p = self.principal(&req).await?;
        let v = self.0.yc_scan(&p, &req.get_ref().image_id).await?;
        Ok(Response::new(operation(&v)))
    }

    async fn get(
        &self,
        req: Request<cr::GetScanResultRequest>,
    ) -> Result<Response<cr::ScanResult>, Status> {
        let p = self.principal(&req).await?;
        let s = self
            .0
            .yc_get_scan(&p, &req.get_ref().scan_result_id)
            .await?;
        Ok(Response::new(scan_result(&s)))
    }

    async fn get_last(
        &self,
        req: Request<cr::GetLastScanResultRequest>,
    ) -> Result<Response<cr::ScanResult>, Status> {
        let p = self.principal(&req).await?;
        let s = self.0.yc_get_last(&p, &req.get_ref().image_id).await?;
        Ok(Response::new(scan_result(&s)))
    }

    async fn list(
        &self,
        req: Request<cr::ListScanResultsRequest>,
    ) -> Result<Response<cr::ListScanResultsResponse>, Status> {
        let p = self.principal(&req).await?;
        let r = req.into_inner();
        let mut list = ListScans {
            paging: Paging {
                page_size: r.page_size,
                page_token: r.page_token,
                filter: r.filter,
                order_by: r.order_by,
            },
            ..ListScans::default()
        };
        match r.id {
            Some(cr::list_scan_results_request::Id::ImageId(id)) => list.image_id = id,
            Some(cr::list_scan_results_request::Id::RepositoryId(id)) => list.repository_id = id,
            None => {}
        }
        let (scans, next) = self.0.yc_list_scans(&p, &list).await?;
        Ok(Response::new(cr::ListScanResultsResponse {
            scan_results: scans.iter().map(scan_result).collect(),
            next_page_token: next,
        }))
    }

    async fn list_vulnerabilities(
        &self,
        req: Request<cr::ListVulnerabilitiesRequest>,
    ) -> Result<Response<cr::ListVulnerabilitiesResponse>, Status> {
        let p = self.principal(&req).await?;
        let r = req.into_inner();
        let paging = Paging {
            page_size: r.page_size,
            page_token: r.page_token,
            filter: r.filter,
            order_by: r.order_by,
        };
        let (findings, next) = self
            .0
            .yc_list_vulnerabilities(&p, &r.scan_result_id, &paging)
            .await?;
        Ok(Response::new(cr::ListVulnerabilitiesResponse {
            vulnerabilities: findings.into_iter().map(vulnerability).collect(),
            next_page_token: next,
        }))
    }
}

#[tonic::async_trait]
impl cr::image_service_server::ImageService for Service {
    async fn list(
        &self,
        req: Request<cr::ListImagesRequest>,
    ) -> Result<Response<cr::ListImagesResponse>, Status> {
        let p = self.principal(&req).await?;
        let r = req.into_inner();
        let list = ListImages {
            registry_id: r.registry_id,
            repository_name: r.repository_name,
            folder_id: r.folder_id,
            paging: Paging {
                page_size: r.page_size,
                page_token: r.page_token,
                filter: r.filter,
                order_by: r.order_by,
            },
        };
        let (images, next) = self.0.yc_list_images(&p, &list).await?;
        Ok(Response::new(cr::ListImagesResponse {
            images: images.into_iter().map(image).collect(),
            next_page_token: next,
        }))
    }

    async fn get(&self, req: Request<cr::GetImageRequest>) -> Result<Response<cr::Image>, Status> {
        let p = self.principal(&req).await?;
        let i = self.0.yc_get_image(&p, &req.get_ref().image_id).await?;
        Ok(Response::new(image(i)))
    }
}

#[tonic::async_trait]
impl op::operation_service_server::OperationService for Service {
    async fn get(
        &self,
        req: Request<op::GetOperationRequest>,
    ) -> Result<Response<op::Operation>, Status> {
        let p = self.principal(&req).await?;
        let v = self
            .0
            .yc_get_operation(&p, &req.get_ref().operation_id)
            .await?;
        Ok(Response::new(operation(&v)))
    }
}
