//! `rpc getTrialInfo` of `trial.Trial`: the article's step 3.3.

use tonic::Status;

use trial_rpc::pb;

use crate::svc::ServiceContext;

pub async fn get_trial_info(
    svc: &ServiceContext,
    req: pb::trial::GetTrialRequest,
) -> Result<pb::trial::TrialInfo, Status> {
    tracing::info!(id = %req.id, "looking up trial");
    let trial = svc.trials.find_one(&req.id).await.map_err(|e| {
        if e.is_not_found() {
            Status::not_found("临床试验项目未找到")
        } else {
            Status::from(e)
        }
    })?;
    Ok(pb::trial::TrialInfo {
        id: trial.id,
        name: trial.name,
        status: trial.status,
        enrolled_count: trial.enrolled_count,
    })
}
