//! `rpc getTrialInfo` of `trial.Trial`: the article's step 3.3. The caller's `x-caller`
//! metadata is logged, and a call whose deadline has already passed is not worked on.

use std::time::Duration;

use rustctl_runtime::Ctx;
use tonic::Status;

use trial_rpc::pb;

use crate::svc::ServiceContext;

pub async fn get_trial_info(
    svc: &ServiceContext,
    ctx: &Ctx,
    req: pb::trial::GetTrialRequest,
) -> Result<pb::trial::TrialInfo, Status> {
    let caller = ctx.header("x-caller").unwrap_or("unknown");
    let left_ms = ctx.remaining().map(|d| d.as_millis());
    tracing::info!(id = %req.id, caller, ?left_ms, "looking up trial");
    if ctx.remaining() == Some(Duration::ZERO) {
        return Err(Status::deadline_exceeded(
            "the caller's deadline has passed",
        ));
    }
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
