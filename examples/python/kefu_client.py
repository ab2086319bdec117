#!/usr/bin/env python3
"""An internal app in Python that works with kefu over plain gRPC.

It uses only stubs generated from kefu's .proto files (examples/python/gen.sh) and
Debian's python3-grpcio / python3-protobuf, and walks through what any internal app
does:

  1. checks the server's health (grpc.health.v1, service "" must be SERVING),
  2. creates a customer with a Chinese name, with a request_id, and retries the call
     to show the retry returns the same customer,
  3. reads the customer back,
  4. appends an entry to the customer log (客户日志) and lists the log,
  5. sends deliberately bad requests and reads the kefu.common.v1.ErrorDetail from the
     rich status in the `grpc-status-details-bin` trailer.

The channel is TLS, verified against the CA that signed the service certificates
(--ca), and every call carries a bearer token (who acts, with which roles) and an
x-request-id (correlates the call in the server's logs), as kefuctl sends them. It prints a transcript and exits non-zero on any
unexpected result, so it doubles as a test (tests/python_client_test.sh).

usage:
  examples/python/gen.sh /tmp/kefu-py-stubs
  export KEFU_TOKEN=$(build/tools/kefuctl/kefuctl token mint --signing_key .run/pki/jwt-private.pem)
  python3 examples/python/kefu_client.py --stubs /tmp/kefu-py-stubs --addr 127.0.0.1:50051 \
      --ca .run/pki/ca.pem
"""

import argparse
import importlib
import os
import secrets
import sys
import types

import grpc

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CheckFailed(Exception):
    """A response that is not what kefu documents."""


def expect(condition, what):
    if not condition:
        raise CheckFailed(what)
    print(f"    ok: {what}")


def load_stubs(stubs_dir):
    """Imports the generated modules from stubs_dir (made by gen.sh)."""
    if not stubs_dir or not os.path.isdir(stubs_dir):
        print(f"kefu_client: no stubs directory {stubs_dir!r}; run examples/python/gen.sh DIR "
              "and pass --stubs DIR (or set KEFU_PY_STUBS)", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    sys.path.insert(0, os.path.abspath(stubs_dir))
    names = {
        "common": "kefu.common.v1.common_pb2",
        "customers": "kefu.customers.v1.customers_pb2",
        "customers_grpc": "kefu.customers.v1.customers_pb2_grpc",
        "health": "health.v1.health_pb2",
        "health_grpc": "health.v1.health_pb2_grpc",
        "rpc_status": "google.rpc.status_pb2",
    }
    try:
        return types.SimpleNamespace(**{k: importlib.import_module(m) for k, m in names.items()})
    except ImportError as e:
        print(f"kefu_client: cannot import generated stubs from {stubs_dir}: {e}\n"
              "(re-run examples/python/gen.sh; python3-grpcio and python3-protobuf must be installed)",
              file=sys.stderr)
        sys.exit(EXIT_USAGE)


class Kefu:
    """One channel to a kefu service plus the caller identity sent with every call."""

    def __init__(self, addr, pb, token, ca, actor, timeout):
        self.pb = pb
        if ca:
            with open(ca, "rb") as f:
                self.channel = grpc.secure_channel(addr, grpc.ssl_channel_credentials(root_certificates=f.read()))
        else:  # a service started with --plaintext (development, loopback only)
            self.channel = grpc.insecure_channel(addr)
        self.health = pb.health_grpc.HealthStub(self.channel)
        self.customers = pb.customers_grpc.CustomerServiceStub(self.channel)
        self.token, self.actor = token, actor
        self.timeout = timeout

    @staticmethod
    def new_request_id():
        return f"pyclient-{secrets.token_hex(8)}"

    def call(self, method, request, request_id=None):
        """Calls method with a deadline and kefu's metadata. Keys must be lower case."""
        metadata = [("x-request-id", request_id or self.new_request_id()),
                    ("authorization", f"Bearer {self.token}")]
        return method(request, timeout=self.timeout, metadata=metadata)

    def rich_error(self, err):
        """The google.rpc.Status and kefu.common.v1.ErrorDetail a failed call carries.

        kefu sends a google.rpc.Status (kefu.common.v1.StatusDetails has the same wire
        layout) in the binary trailer `grpc-status-details-bin`; its `details` hold one
        google.protobuf.Any packing a kefu.common.v1.ErrorDetail.
        """
        status = detail = None
        for key, value in err.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                status = self.pb.rpc_status.Status.FromString(value)
        if status is not None:
            for packed in status.details:
                if packed.Is(self.pb.common.ErrorDetail.DESCRIPTOR):
                    detail = self.pb.common.ErrorDetail()
                    packed.Unpack(detail)
        return status, detail


def describe_error(err, detail):
    lines = [f"{err.code().name}: {err.details()}"]
    if detail is not None:
        lines.append(f"reason {detail.reason}")
        lines += [f"field {v.field}: {v.description}" for v in detail.field_violations]
        lines += [f"metadata {k} = {v}" for k, v in sorted(detail.metadata.items())]
    return "\n      ".join(lines)


def expect_error(kefu, what, method, request, code, reason, fields=(), request_id=None):
    """Makes a call that must fail with `code` and an ErrorDetail with `reason`."""
    try:
        kefu.call(method, request, request_id=request_id)
    except grpc.RpcError as err:
        status, detail = kefu.rich_error(err)
        print(f"    {describe_error(err, detail)}")
        expect(err.code() == code, f"{what}: status {code.name}")
        expect(status is not None, f"{what}: grpc-status-details-bin trailer holds a google.rpc.Status")
        expect(status.code == code.value[0] and status.message == err.details(),
               f"{what}: the rich status repeats code and message")
        expect(detail is not None, f"{what}: it packs a kefu.common.v1.ErrorDetail")
        expect(detail.reason == reason, f"{what}: reason {reason}")
        got = {v.field for v in detail.field_violations}
        for field in fields:
            expect(field in got, f"{what}: a field violation names {field}")
        return detail
    raise CheckFailed(f"{what}: the call succeeded but should have failed with {code.name}")


def run(kefu, owner):
    pb = kefu.pb.customers
    run_tag = secrets.token_hex(3)  # keeps names and phones unique across runs

    print("1. health (grpc.health.v1.Health/Check, service \"\")")
    resp = kefu.call(kefu.health.Check, kefu.pb.health.HealthCheckRequest(service=""))
    status_name = kefu.pb.health.HealthCheckResponse.ServingStatus.Name(resp.status)
    print(f"    status {status_name}")
    expect(resp.status == kefu.pb.health.HealthCheckResponse.SERVING, "server is SERVING")

    print("2. create a customer (CreateCustomer with a request_id)")
    customer = pb.Customer(
        kind=pb.CUSTOMER_KIND_ORGANIZATION,
        name=f"杭州西湖示例数据服务有限公司（{run_tag}）",
        industry="软件和信息技术服务",
        region="华东",
        owner_id=owner,
        source=pb.ACQUISITION_SOURCE_WEBSITE,
        contacts=[pb.Contact(name="王经理", title="采购部经理", primary=True,
                             phone=f"138{int(run_tag, 16) % 10**8:08d}")],
        tags=["示例", "python"],
    )
    create = pb.CreateCustomerRequest(customer=customer, request_id=f"pyclient-create-{run_tag}")
    first = kefu.call(kefu.customers.CreateCustomer, create)
    print(f"    created id {first.id}, number {first.number}, name {first.name}, "
          f"tier {pb.Tier.Name(first.tier)}, version {first.version}")
    expect(first.id > 0 and first.number.startswith("C"), "the service assigned an id and a number")
    expect(first.name == customer.name, "the Chinese name comes back unchanged")

    print("   retry the same call (same request_id, same body)")
    retry = kefu.call(kefu.customers.CreateCustomer, create)
    print(f"    retry returned id {retry.id}")
    expect(retry.id == first.id, "the retry returns the customer the first call created")

    print("3. get it back (GetCustomer)")
    got = kefu.call(kefu.customers.GetCustomer, pb.GetCustomerRequest(customer_id=first.id))
    contact = got.contacts[0] if got.contacts else pb.Contact()
    print(f"    {got.number} {got.name} · {got.region} · {got.industry} · "
          f"contact {contact.name} {contact.phone}")
    expect(got.id == first.id and got.name == customer.name, "GetCustomer returns the same customer")
    expect(got.kind == pb.CUSTOMER_KIND_ORGANIZATION and got.owner_id == owner,
           "kind and owner are as created")
    expect(len(got.contacts) == 1 and got.contacts[0].name == "王经理", "the contact is stored")

    print("4. append to the customer log (AppendLogEntry) and list it (ListLogEntries)")
    entry = kefu.call(kefu.customers.AppendLogEntry, pb.AppendLogEntryRequest(
        request_id=f"pyclient-log-{run_tag}",
        entry=pb.LogEntry(
            customer_id=first.id,
            channel=pb.CHANNEL_PHONE,
            category=pb.LOG_CATEGORY_SERVICE,
            description="客户来电：设备无法开机，要求上门检修",
            resolution="已派工程师明天上午上门",
            satisfaction=pb.SATISFACTION_SATISFIED,
        )))
    print(f"    entry {entry.id} by {entry.staff_id} at {entry.event_time.ToJsonString()}")
    expect(entry.id > 0 and entry.customer_id == first.id, "the entry belongs to the customer")
    if kefu.actor:
        expect(entry.staff_id == kefu.actor, "the token's staff id is recorded as the entry's staff id")
    log = kefu.call(kefu.customers.ListLogEntries,
                    pb.ListLogEntriesRequest(customer_id=first.id, page_size=20))
    for e in log.entries:
        print(f"    {e.event_time.ToJsonString()}  {pb.LogCategory.Name(e.category):<24} "
              f"{pb.Channel.Name(e.channel):<15} {e.staff_id:<10} {e.description}")
    expect(any(e.id == entry.id and e.description == entry.description for e in log.entries),
           "the new entry is in the log")
    expect(log.entries[0].id == entry.id, "the log lists the newest entry first")

    print("5. errors: a bad request (empty name, a two-digit phone)")
    bad = pb.CreateCustomerRequest(
        customer=pb.Customer(kind=pb.CUSTOMER_KIND_PERSON, name="",
                             contacts=[pb.Contact(name="李四", phone="12")]),
        request_id=f"pyclient-bad-{run_tag}")
    expect_error(kefu, "bad request", kefu.customers.CreateCustomer, bad,
                 grpc.StatusCode.INVALID_ARGUMENT, "FIELD_INVALID",
                 fields=("customer.name", "customer.contacts[0].phone"))

    print("   the first request_id again, with a different body")
    reused = pb.CreateCustomerRequest(customer=pb.Customer(
        kind=pb.CUSTOMER_KIND_PERSON, name="张三"), request_id=create.request_id)
    expect_error(kefu, "reused request_id", kefu.customers.CreateCustomer, reused,
                 grpc.StatusCode.FAILED_PRECONDITION, "REQUEST_ID_REUSED")


def main():
    parser = argparse.ArgumentParser(
        description="Example internal app: talks to kefu's customers service over gRPC "
                    "with stubs generated by examples/python/gen.sh.")
    parser.add_argument("--addr", default=os.environ.get("KEFU_CUSTOMERS_ADDR") or "127.0.0.1:50051",
                        help="customers service HOST:PORT (default: $KEFU_CUSTOMERS_ADDR, "
                             "else 127.0.0.1:50051)")
    parser.add_argument("--stubs", default=os.environ.get("KEFU_PY_STUBS"),
                        help="directory of stubs generated by gen.sh (default: $KEFU_PY_STUBS)")
    parser.add_argument("--token", default=os.environ.get("KEFU_TOKEN"),
                        help="bearer token (default: $KEFU_TOKEN; `kefuctl token mint` makes one)")
    parser.add_argument("--ca", default=os.environ.get("KEFU_TLS_CA_FILE"),
                        help="CA of the service certificates (default: $KEFU_TLS_CA_FILE); "
                             "without one the channel is plaintext")
    parser.add_argument("--actor", default="",
                        help="the staff id the token names, checked against the log entry it writes")
    parser.add_argument("--owner", default="E1001", help="account manager of the new customer (default E1001)")
    parser.add_argument("--timeout", type=float, default=5.0, help="deadline of each call in seconds (default 5)")
    args = parser.parse_args()

    pb = load_stubs(args.stubs)
    if not args.token:
        parser.error("a token is required: --token or $KEFU_TOKEN")
    kefu = Kefu(args.addr, pb, args.token, args.ca, args.actor, args.timeout)
    print(f"kefu Python client -> {args.addr} ({'TLS' if args.ca else 'plaintext'}, actor {args.actor or '-'})")
    try:
        run(kefu, args.owner)
    except CheckFailed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return EXIT_FAILED
    except grpc.RpcError as err:
        _, detail = kefu.rich_error(err)
        print(f"FAILED: unexpected RPC error {describe_error(err, detail)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        kefu.channel.close()
    print("all checks passed")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
