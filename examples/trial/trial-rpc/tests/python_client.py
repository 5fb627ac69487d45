"""A gRPC client nobody here wrote: Python's grpcio, with stubs compiled from trial.proto at run
time by grpcio-tools. Called by tests/python_client.rs with the server's address."""

import os
import sys
import tempfile

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_tools import protoc


def main(addr: str, proto_dir: str) -> None:
    out = tempfile.mkdtemp()
    code = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}", "trial.proto"])
    assert code == 0, f"grpc_tools.protoc failed with {code}"
    sys.path.insert(0, out)
    import trial_pb2
    import trial_pb2_grpc

    with grpc.insecure_channel(addr) as channel:
        stub = trial_pb2_grpc.TrialStub(channel)
        info = stub.getTrialInfo(trial_pb2.GetTrialRequest(id="NCT045148"), timeout=5)
        assert info.id == "NCT045148", info
        assert info.enrolled_count == 152, info
        assert info.status == "招募中", info

        try:
            stub.getTrialInfo(trial_pb2.GetTrialRequest(id="NCT000000"), timeout=5)
            raise AssertionError("an unknown trial must fail")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e.code()

        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING, status
        status = health.Check(health_pb2.HealthCheckRequest(service="trial.Trial"), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING, status
    print("python client: ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
