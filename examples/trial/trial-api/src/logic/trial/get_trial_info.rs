//! `get /trial/:id`: the article's `trial.api`, answered by `trial-rpc`. A gRPC `NotFound`
//! becomes a 404 with a JSON error through `?` (the runtime maps gRPC statuses). The call
//! inherits the request's deadline (`ctx.call()`) and says who is calling (`x-caller`).

use rustctl_runtime::{Ctx, Error};
use trial_rpc::pb::trial::GetTrialRequest as RpcRequest;

use crate::svc::ServiceContext;
use crate::types::{GetTrialRequest, TrialInfo};

pub async fn get_trial_info(
    svc: &ServiceContext,
    ctx: &Ctx,
    req: GetTrialRequest,
) -> Result<TrialInfo, Error> {
    let options = ctx.call().metadata("x-caller", "trial-api");
    let info = svc
        .trial
        .get_trial_info(RpcRequest { id: req.id }, options)
        .await?;
    Ok(TrialInfo {
        id: info.id,
        name: info.name,
        status: info.status,
        enrolled_count: info.enrolled_count,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use rustctl_runtime::CallOptions;
    use tonic::Status;
    use trial_rpc::client::trial::TrialApi;
    use trial_rpc::pb::trial::TrialInfo as RpcInfo;

    use super::*;

    /// Answers one trial and records the options of each call.
    #[derive(Default)]
    struct FakeTrial {
        seen: Mutex<Vec<CallOptions>>,
    }

    #[tonic::async_trait]
    impl TrialApi for FakeTrial {
        async fn get_trial_info(
            &self,
            req: RpcRequest,
            options: CallOptions,
        ) -> Result<RpcInfo, Status> {
            self.seen.lock().unwrap().push(options);
            match req.id.as_str() {
                "NCT1" => Ok(RpcInfo {
                    id: req.id,
                    name: "fake".into(),
                    status: "招募中".into(),
                    enrolled_count: 3,
                }),
                _ => Err(Status::not_found("no such trial")),
            }
        }
    }

    fn svc(fake: Arc<FakeTrial>) -> ServiceContext {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/trial-api.yaml");
        ServiceContext {
            config: rustctl_runtime::config::load_service(path).unwrap(),
            trial: fake,
        }
    }

    #[tokio::test]
    async fn maps_the_rpc_answer_and_passes_deadline_and_caller() {
        let fake = Arc::new(FakeTrial::default());
        let svc = svc(fake.clone());
        let ctx = Ctx::default().with_deadline(Instant::now() + Duration::from_secs(2));
        let req = GetTrialRequest { id: "NCT1".into() };
        let info = get_trial_info(&svc, &ctx, req).await.unwrap();
        assert_eq!((info.name.as_str(), info.enrolled_count), ("fake", 3));
        let seen = fake.seen.lock().unwrap();
        assert_eq!(seen[0].get_metadata().get("x-caller").unwrap(), "trial-api");
        assert!(seen[0].get_timeout().unwrap() <= Duration::from_secs(2));
    }

    #[tokio::test]
    async fn not_found_is_a_404() {
        let svc = svc(Arc::new(FakeTrial::default()));
        let req = GetTrialRequest { id: "NCT0".into() };
        let err = get_trial_info(&svc, &Ctx::default(), req)
            .await
            .unwrap_err();
        assert_eq!(err.status(), 404);
    }
}
