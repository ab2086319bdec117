// The bearer token the bench tools send: a senior manager (allowed every benchmarked
// RPC), signed with the development identity provider's key.
#pragma once

#include <string>

namespace kefu::bench {

// "Bearer <token>", minted once per process from `signing_key_file` (or
// $KEFU_SIGNING_KEY when empty); exits with code 2 when the key cannot be used.
const std::string& Authorization(const std::string& signing_key_file);

}  // namespace kefu::bench
