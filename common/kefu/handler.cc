#include "kefu/handler.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "kefu/errors.h"
#include "kefu/log.h"
#include "kefu/paging.h"

namespace kefu {

grpc::Status RunHandler(const std::function<absl::Status()>& body) {
  try {
    absl::Status s = body();
    if (s.code() == absl::StatusCode::kInternal || s.code() == absl::StatusCode::kUnknown)
      log::Error("internal error", {{"error", s.ToString()}});
    return ToGrpcStatus(s);
  } catch (const std::exception& e) {
    log::Error("handler threw", {{"error", e.what()}});
    return ToGrpcStatus(absl::InternalError(e.what()));
  } catch (...) {
    log::Error("handler threw a non-standard exception");
    return ToGrpcStatus(absl::InternalError("unknown exception"));
  }
}

uint64_t MessageFingerprint(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream sos(&bytes);
    google::protobuf::io::CodedOutputStream cos(&sos);
    cos.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&cos);
  }
  return Fingerprint(bytes);
}

}  // namespace kefu
