//! gRPC statuses as the REST [`Error`]: a gateway's logic can return what an RPC returned with
//! `?`, and the HTTP client sees the matching status (`NotFound` → 404 and so on).

use tonic::{Code, Status};

use crate::error::Error;

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        let msg = status.message().to_owned();
        match status.code() {
            Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
                Error::BadRequest(msg)
            }
            Code::Unauthenticated => Error::Unauthorized(msg),
            Code::PermissionDenied => Error::Forbidden(msg),
            Code::NotFound => Error::NotFound(msg),
            Code::AlreadyExists | Code::Aborted => Error::Conflict(msg),
            Code::DeadlineExceeded => Error::Timeout,
            Code::Unavailable | Code::ResourceExhausted => Error::ServiceUnavailable(msg),
            _ => Error::Internal(format!("rpc failed: {:?}: {msg}", status.code())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_http_statuses() {
        let status = |s: Status| Error::from(s).status().as_u16();
        assert_eq!(status(Status::not_found("x")), 404);
        assert_eq!(status(Status::invalid_argument("x")), 400);
        assert_eq!(status(Status::unauthenticated("x")), 401);
        assert_eq!(status(Status::permission_denied("x")), 403);
        assert_eq!(status(Status::already_exists("x")), 409);
        assert_eq!(status(Status::unavailable("x")), 503);
        assert_eq!(status(Status::internal("x")), 500);
        assert_eq!(
            Error::from(Status::not_found("临床试验项目未找到")).to_string(),
            "临床试验项目未找到"
        );
    }
}
