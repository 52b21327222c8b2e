// ctl/tls_files.h - certificate work for postilionctl: a self-signed test certificate
// (init --tls-selfsigned) and the check that a certificate and key belong together.
#pragma once

#include <string>

#include "lib/base/result.h"

namespace postilion::ctl {

// Writes a fresh EC P-256 key (mode 0600) and a self-signed X.509 certificate (0644)
// valid for a year, with hostname as CN and DNS subjectAltName.
Status write_selfsigned(const std::string& cert_path, const std::string& key_path,
                        const std::string& hostname);

// Reads both files and checks the key matches the certificate and the certificate is
// within its validity period. The error says which and how.
Status check_cert_and_key(const std::string& cert_path, const std::string& key_path);

}  // namespace postilion::ctl
