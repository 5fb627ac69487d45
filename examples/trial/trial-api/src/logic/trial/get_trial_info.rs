//! `get /trial/:id`: the article's `trial.api`, answered by `trial-rpc`. A gRPC `NotFound`
//! becomes a 404 with a JSON error through `?` (the runtime maps gRPC statuses).

use rustctl_runtime::Error;
use trial_rpc::pb::trial::GetTrialRequest as RpcRequest;

use crate::svc::ServiceContext;
use crate::types::{GetTrialRequest, TrialInfo};

pub async fn get_trial_info(
    svc: &ServiceContext,
    req: GetTrialRequest,
) -> Result<TrialInfo, Error> {
    let info = svc.trial.get_trial_info(RpcRequest { id: req.id }).await?;
    Ok(TrialInfo {
        id: info.id,
        name: info.name,
        status: info.status,
        enrolled_count: info.enrolled_count,
    })
}
