#include "kefu/probe.h"

#include <algorithm>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include "absl/time/clock.h"
#include "kefu/errors.h"

namespace kefu::probe {
namespace {

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

// Field `number` with wire type length-delimited.
std::string LengthDelimited(int number, const std::string& value) {
  std::string out;
  google::protobuf::io::StringOutputStream sos(&out);
  google::protobuf::io::CodedOutputStream cos(&sos);
  cos.WriteTag((number << 3) | 2);
  cos.WriteVarint32(static_cast<uint32_t>(value.size()));
  cos.WriteString(value);
  return out;
}

bool Next(grpc::CompletionQueue& cq) {
  void* tag;
  bool ok = false;
  return cq.Next(&tag, &ok) && ok;
}

}  // namespace

const char* HealthStateName(HealthState s) {
  switch (s) {
    case HealthState::kServing: return "SERVING";
    case HealthState::kNotServing: return "NOT_SERVING";
    case HealthState::kServiceUnknown: return "SERVICE_UNKNOWN";
    default: return "UNKNOWN";
  }
}

namespace {

absl::StatusOr<HealthState> Check(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                                  absl::Duration timeout, bool wait_for_ready) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  ctx.set_wait_for_ready(wait_for_ready);
  grpc::CompletionQueue cq;
  grpc::ByteBuffer request = ToBuffer(service.empty() ? "" : LengthDelimited(1, service));
  auto call = stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  if (!status.ok()) return FromGrpcStatus(status);
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromString(FromBuffer(response)))
    return absl::DataLossError("unreadable health response");
  for (int i = 0; i < fields.field_count(); ++i) {
    const auto& f = fields.field(i);
    if (f.number() == 1 && f.type() == google::protobuf::UnknownField::TYPE_VARINT)
      return static_cast<HealthState>(f.varint());
  }
  return HealthState::kUnknown;  // proto3 default: UNKNOWN is not encoded
}

}  // namespace

absl::StatusOr<HealthState> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                        const std::string& service, absl::Duration timeout) {
  return Check(channel, service, timeout, /*wait_for_ready=*/false);
}

absl::StatusOr<HealthState> WaitForHealth(const std::shared_ptr<grpc::Channel>& channel,
                                          const std::string& service, HealthState want,
                                          absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  constexpr absl::Duration kPoll = absl::Seconds(1);
  absl::StatusOr<HealthState> last = absl::DeadlineExceededError("no health answer yet");
  while (true) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return last;
    // Waiting for ready keeps this thread polling the connection attempt.
    last = Check(channel, service, std::min(left, kPoll), /*wait_for_ready=*/true);
    if (last.ok() && *last == want) return last;
    absl::SleepFor(std::min(deadline - absl::Now(), absl::Milliseconds(50)));
  }
}

absl::StatusOr<std::vector<std::string>> ListServices(const std::shared_ptr<grpc::Channel>& channel,
                                                      absl::Duration timeout,
                                                      const std::string& authorization) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  std::vector<std::string> names;
  grpc::Status status;
  bool ok = true;
  call->StartCall(reinterpret_cast<void*>(1));
  ok = Next(cq);
  // ServerReflectionRequest { string list_services = 7; }
  if (ok) {
    call->Write(ToBuffer(LengthDelimited(7, "")), reinterpret_cast<void*>(2));
    ok = Next(cq);
  }
  grpc::ByteBuffer response;
  if (ok) {
    call->Read(&response, reinterpret_cast<void*>(3));
    ok = Next(cq);
  }
  call->WritesDone(reinterpret_cast<void*>(4));
  Next(cq);
  call->Finish(&status, reinterpret_cast<void*>(5));
  Next(cq);
  cq.Shutdown();
  void* tag;
  bool more;
  while (cq.Next(&tag, &more)) {
  }
  if (!status.ok()) return FromGrpcStatus(status);
  if (!ok) return absl::UnavailableError("reflection stream ended early");
  // ServerReflectionResponse { ListServiceResponse list_services_response = 6; }
  // ListServiceResponse { repeated ServiceResponse service = 1; } ServiceResponse { string name = 1; }
  google::protobuf::UnknownFieldSet top;
  if (!top.ParseFromString(FromBuffer(response))) return absl::DataLossError("bad reflection reply");
  for (int i = 0; i < top.field_count(); ++i) {
    if (top.field(i).number() != 6) continue;
    google::protobuf::UnknownFieldSet list;
    if (!list.ParseFromString(top.field(i).length_delimited())) continue;
    for (int j = 0; j < list.field_count(); ++j) {
      google::protobuf::UnknownFieldSet svc;
      if (list.field(j).number() != 1 || !svc.ParseFromString(list.field(j).length_delimited()))
        continue;
      for (int k = 0; k < svc.field_count(); ++k)
        if (svc.field(k).number() == 1) names.push_back(svc.field(k).length_delimited());
    }
  }
  return names;
}

}  // namespace kefu::probe
