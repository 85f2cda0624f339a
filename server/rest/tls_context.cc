#include "server/rest/tls_context.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace swapserve::server::rest {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;

// OpenSSL's reason for the last failure (and the error queue emptied).
std::string OpenSslError() {
  const unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "no PEM data of that kind";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

absl::Status Invalid(const char* field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("TLS: ", field, ": ", what));
}

// Every certificate in `pem`, in order (at least one).
absl::StatusOr<std::vector<Cert>> ReadCertificates(const std::string& pem, const char* field) {
  Bio bio = MemoryBio(pem);
  std::vector<Cert> certs;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(x);
  }
  // The loop ends on "no start line" once the input is used up; anything else
  // is a malformed certificate.
  const unsigned long last = ERR_peek_last_error();
  if (last != 0 && !(ERR_GET_LIB(last) == ERR_LIB_PEM &&
                     ERR_GET_REASON(last) == PEM_R_NO_START_LINE)) {
    return Invalid(field, absl::StrCat("certificate ", certs.size() + 1,
                                       " is not a valid PEM certificate: ", OpenSslError()));
  }
  ERR_clear_error();
  if (certs.empty()) return Invalid(field, "holds no PEM certificate");
  return certs;
}

}  // namespace

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContext::Create(const TlsOptions& options) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, CtxFree> ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) return absl::InternalError("TLS: SSL_CTX_new: " + OpenSslError());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);

  Bio key_bio = MemoryBio(options.key_pem);
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return Invalid("server_key", "not an unencrypted PEM private key: " + OpenSslError());
  }
  absl::StatusOr<std::vector<Cert>> chain = ReadCertificates(options.cert_pem, "server_cert");
  if (!chain.ok()) return chain.status();
  if (SSL_CTX_use_certificate(ctx.get(), (*chain)[0].get()) != 1) {
    return Invalid("server_cert", "refused by OpenSSL: " + OpenSslError());
  }
  for (size_t i = 1; i < chain->size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx.get(), (*chain)[i].get()) != 1) {
      return Invalid("server_cert", absl::StrCat("intermediate ", i, " refused: ", OpenSslError()));
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return Invalid("server_key", "does not belong to server_cert's certificate: " + OpenSslError());
  }

  if (options.client_verify) {
    absl::StatusOr<std::vector<Cert>> cas = ReadCertificates(options.ca_pem, "custom_ca");
    if (!cas.ok()) return cas.status();
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    for (const Cert& ca : *cas) {
      if (X509_STORE_add_cert(store, ca.get()) != 1) {
        return Invalid("custom_ca", "certificate refused: " + OpenSslError());
      }
      // Tells clients which CAs to pick a certificate for.
      SSL_CTX_add_client_CA(ctx.get(), ca.get());
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return std::shared_ptr<TlsContext>(new TlsContext(ctx.release()));
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace swapserve::server::rest
