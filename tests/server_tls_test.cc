// --ssl_config_file: with TF Serving's SSLConfig both ports speak TLS only. A
// TLS client that trusts the CA is served over gRPC and REST (and the CLI with
// --ssl_ca_file); a plaintext client, or one that does not trust the server's
// CA, is refused. With client_verify (mutual TLS), a client needs a
// certificate signed by custom_ca: none, or one from another CA, fails the
// handshake on both ports. A config whose PEM fields are missing, malformed or
// do not match is a start-up error naming the field. The certificates are made
// by `openssl` at test time.
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/daemon_harness.h"
#include "tests/http_client.h"
#include "tests/test_support.h"

namespace swapserve::testing {
namespace {

namespace tfs = tensorflow::serving;

constexpr char kModel[] = "tf_serving/saved_model_half_plus_two_cpu";

// A CA, a server certificate it signed (for 127.0.0.1 and localhost), a
// client certificate it signed, and a client certificate from another CA.
class Certificates {
 public:
  Certificates() {
    Make("ca", "", "");
    Make("server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth");
    Make("client", "ca", "extendedKeyUsage=clientAuth");
    Make("rogue_ca", "", "");
    Make("rogue_client", "rogue_ca", "extendedKeyUsage=clientAuth");
  }
  std::string Path(const std::string& name, const char* ext) const {
    return dir_.Join(name + ext);
  }
  std::string Pem(const std::string& name, const char* ext) const {
    return ReadFileOrDie(Path(name, ext));
  }

 private:
  // name.key + name.pem: self-signed (a CA) when `issuer` is empty.
  void Make(const std::string& name, const std::string& issuer, const std::string& extensions) {
    const std::string key = Path(name, ".key"), pem = Path(name, ".pem");
    const std::string newkey = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
                               key + " -subj /CN=swapserve-test-" + name;
    std::string command;
    if (issuer.empty()) {
      command = "openssl req -x509 -days 2 " + newkey + " -out " + pem;
    } else {
      const std::string ext = Path(name, ".ext");
      WriteFileOrDie(ext, extensions + "\n");
      command = "openssl req " + newkey + " -out " + Path(name, ".csr") +
                " && openssl x509 -req -days 2 -in " + Path(name, ".csr") + " -CA " +
                Path(issuer, ".pem") + " -CAkey " + Path(issuer, ".key") +
                " -CAcreateserial -extfile " + ext + " -out " + pem;
    }
    const CommandResult r = RunCommand("(" + command + ")");
    ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.err;
  }

  TempDir dir_;
};

std::string TextField(const char* name, const std::string& value) {
  return absl::StrCat(name, ": \"", absl::CEscape(value), "\"\n");
}

class TlsTest : public ::testing::Test {
 protected:
  // An SSLConfig file: the server's key and certificate, plus `extra` text.
  std::string ConfigFile(const std::string& extra) {
    const std::string path = tmp_.Join("ssl.config");
    WriteFileOrDie(path, TextField("server_key", certs_.Pem("server", ".key")) +
                             TextField("server_cert", certs_.Pem("server", ".pem")) + extra);
    return path;
  }
  std::string MutualConfigFile() {
    return ConfigFile(TextField("custom_ca", certs_.Pem("ca", ".pem")) + "client_verify: true\n");
  }
  std::unique_ptr<Daemon> Start(const std::string& config_file) {
    model_ = Fixture(kModel);
    return Daemon::Start({"--model_name=half", "--model_base_path=" + model_,
                          "--ssl_config_file=" + config_file},
                         /*rest=*/true);
  }

  // Predict on a channel with `credentials`; half_plus_two of 1 is 2.5.
  grpc::Status Predict(const Daemon& d, const std::shared_ptr<grpc::ChannelCredentials>& creds) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto stub = tfs::PredictionService::NewStub(grpc::CreateCustomChannel(d.address(), creds, args));
    tfs::PredictResponse response;
    grpc::Status s = stub->Predict(ContextWithDeadline(absl::Seconds(10)).get(),
                                   FloatRequest("half", "x", {1}, {1.0f}), &response);
    if (s.ok()) {
      EXPECT_EQ(Floats(response.outputs().at("y")), std::vector<float>({2.5f}));
    }
    return s;
  }
  std::shared_ptr<grpc::ChannelCredentials> Tls(const std::string& client) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = certs_.Pem("ca", ".pem");
    if (!client.empty()) {
      o.pem_private_key = certs_.Pem(client, ".key");
      o.pem_cert_chain = certs_.Pem(client, ".pem");
    }
    return grpc::SslCredentials(o);
  }
  // curl over HTTPS to the REST port, trusting the test CA, with `client`'s
  // certificate when not empty.
  Reply HttpsPredict(const Daemon& d, const std::string& client) {
    std::string args = "--cacert " + certs_.Path("ca", ".pem");
    if (!client.empty()) {
      args += " --cert " + certs_.Path(client, ".pem") + " --key " + certs_.Path(client, ".key");
    }
    return Curl(args + " -d '{\"instances\": [1.0]}' " +
                absl::StrCat("https://127.0.0.1:", d.rest_port(), "/v1/models/half:predict"));
  }
  // swapserve's exit code and stderr when started with `config_file`.
  CommandResult StartUp(const std::string& config_file) {
    return RunCommand("timeout 30 " + BuiltProgram("server/swapserve") +
                      " --port=0 --model_base_path=" + Fixture(kModel) +
                      " --ssl_config_file=" + config_file);
  }

  TempDir tmp_;
  Certificates certs_;
  std::string model_;
};

TEST_F(TlsTest, BothPortsServeTlsAndRefusePlaintext) {
  SS_REQUIRE_FIXTURE(model, kModel);
  auto d = Start(ConfigFile(""));
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(absl::StrContains(d->Log(), "Serving REST (HTTPS)")) << d->Log();

  grpc::Status s = Predict(*d, Tls(""));
  EXPECT_TRUE(s.ok()) << s.error_message();
  // Plaintext gRPC to a TLS port gets no answer.
  s = Predict(*d, grpc::InsecureChannelCredentials());
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();

  Reply r = HttpsPredict(*d, "");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.code, 200) << r.head << r.body;
  EXPECT_EQ(r.body.find("2.5") != std::string::npos, true) << r.body;
  // Plain HTTP: the handshake fails on the HTTP bytes and the connection closes.
  r = Curl("-d '{\"instances\": [1.0]}' " + d->Url("/v1/models/half:predict"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.code, 0) << r.head;
  // A client that does not trust the server's CA refuses it (curl: exit 60).
  r = Curl(absl::StrCat("https://127.0.0.1:", d->rest_port(), "/v1/models/half"));
  EXPECT_EQ(r.exit_code, 60) << r.err;

  // The CLI speaks TLS with the CA it is given, and fails without it.
  const std::string cli = "timeout 30 " + BuiltProgram("client/swapserve-cli") +
                          " status --model half --server 127.0.0.1:" + std::to_string(d->port());
  CommandResult c = RunCommand(cli + " --ssl_ca_file " + certs_.Path("ca", ".pem"));
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  EXPECT_TRUE(absl::StrContains(c.out, "AVAILABLE")) << c.out;
  c = RunCommand(cli);
  EXPECT_NE(c.exit_code, 0) << c.out;
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromTheCa) {
  SS_REQUIRE_FIXTURE(model, kModel);
  auto d = Start(MutualConfigFile());
  ASSERT_NE(d, nullptr);

  grpc::Status s = Predict(*d, Tls("client"));
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = Predict(*d, Tls(""));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  s = Predict(*d, Tls("rogue_client"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();

  Reply r = HttpsPredict(*d, "client");
  EXPECT_EQ(r.code, 200) << r.err << r.head << r.body;
  r = HttpsPredict(*d, "");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.code, 0) << r.head;
  r = HttpsPredict(*d, "rogue_client");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.code, 0) << r.head;

  const std::string cli = "timeout 30 " + BuiltProgram("client/swapserve-cli") +
                          " status --model half --server 127.0.0.1:" + std::to_string(d->port()) +
                          " --ssl_ca_file " + certs_.Path("ca", ".pem");
  CommandResult c = RunCommand(cli + " --ssl_cert_file " + certs_.Path("client", ".pem") +
                               " --ssl_key_file " + certs_.Path("client", ".key"));
  EXPECT_EQ(c.exit_code, 0) << c.out << c.err;
  c = RunCommand(cli);
  EXPECT_NE(c.exit_code, 0) << c.out;
}

TEST_F(TlsTest, BadConfigsAreStartUpErrorsNamingTheField) {
  SS_REQUIRE_FIXTURE(model, kModel);
  struct Case {
    std::string config;
    std::string error;
  };
  const std::string key = certs_.Pem("server", ".key"), cert = certs_.Pem("server", ".pem");
  const std::vector<Case> cases = {
      {TextField("server_cert", cert), "server_key and server_cert"},
      {TextField("server_key", key) + TextField("server_cert", cert) + "client_verify: true\n",
       "client_verify needs custom_ca"},
      {TextField("server_key", "not a key") + TextField("server_cert", cert), "server_key"},
      {TextField("server_key", key) + TextField("server_cert", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
       "server_cert"},
      {TextField("server_key", certs_.Pem("client", ".key")) + TextField("server_cert", cert),
       "does not belong to server_cert"},
      {TextField("server_key", key) + TextField("server_cert", cert) +
           TextField("custom_ca", "garbage") + "client_verify: true\n",
       "custom_ca"},
      {"server_key: 7\n", "is not a text-format SSLConfig"},
  };
  for (const Case& c : cases) {
    const std::string path = tmp_.Join("bad.config");
    WriteFileOrDie(path, c.config);
    const CommandResult r = StartUp(path);
    EXPECT_NE(r.exit_code, 0) << c.error;
    EXPECT_NE(r.exit_code, 124) << "the daemon started with a bad config: " << c.error;
    EXPECT_TRUE(absl::StrContains(r.err, c.error)) << c.error << "\n" << r.err;
  }
  const CommandResult r = StartUp(tmp_.Join("absent.config"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "absent.config")) << r.err;
}

}  // namespace
}  // namespace swapserve::testing
